# Two commands are the whole set-up: `make demo` and `make test`.
# Both create .venv when it is missing and (re)install the project when
# pyproject.toml changed (tracked by a stamp file).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench clean chromium java

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,spark]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/riskmodel demo

test: $(STAMP) chromium java
	$(PY) -m pytest -n 2 --nbmake --doctest-modules tests notebooks src/riskmodel

bench: $(STAMP) java chromium
	$(PY) -m pip install --quiet -e ".[dev,spark,pdf-weasyprint]"
	$(PY) benchmarks/run_all.py

# headless Chromium for the watch lists' browser test and PDFs (Debian's chromium)
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium) \
	  || (sudo apt-get update && sudo apt-get install -y chromium)

# Java for pyspark (riskmodel.spark, tests/test_spark.py): Debian's default JRE (17)
java:
	@command -v java >/dev/null || (apt-get update && apt-get install -y default-jre-headless) \
	  || (sudo apt-get update && sudo apt-get install -y default-jre-headless)

clean:
	rm -rf $(VENV) out mlruns mlflow.db .pytest_cache
