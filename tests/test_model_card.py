"""Tests of the model card (riskmodel.report)."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pydantic
import pytest

import riskmodel as rm
from riskmodel.report import ModelCardInfo, build_model_card, model_card, model_card_html
from riskmodel.report._format import MISSING, markdown_table

SECTIONS = (
    "## Model details",
    "## Intended use",
    "## Data",
    "## Outcome",
    "## What the risk means",
    "## Features",
    "## Sensitive attributes",
    "## Backtest results against the baselines",
    "## Fairness audit at the programme's capacity",
    "## Benefit of support",
    "## Known limits",
    "## Versions",
)


@pytest.fixture(scope="module")
def audit_table():
    rng = np.random.default_rng(0)
    n = 3000
    lang = rng.choice(["lv", "ru", "uk", "other"], n, p=[0.6, 0.333, 0.064, 0.003])
    groups = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "home_language": lang})
    y = rng.random(n) < 0.1
    scores = 0.3 * y + rng.random(n)
    return rm.fairness.audit(y, scores, groups, top_k=300, n_boot=100)


def _info(audit=None, **kw):
    backtest = pd.DataFrame(
        {
            "model": ["riskmodel", "rule", "school", "logistic"],
            "precision_at_k": [0.4125, 0.301, 0.22, 0.35],
            "roc_auc": [0.81, 0.70, 0.64, 0.77],
        }
    )
    base = dict(
        model_name="riskmodel",
        model_version="7",
        created=dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.timezone.utc),
        data_start=pd.Timestamp("2021-09-01"),
        data_end="2025-06-30",
        as_of_dates=["2023-10-01", pd.Timestamp("2024-10-01")],
        outcome="early leaving within the horizon",
        horizon_days=365,
        features={"attendance_rate_28d": "attendance", "grade_mean_term": "grades", "gap|days": "transitions"},
        backtest=backtest,
        audit=audit,
        data_fingerprint="sha256:0123abcd",
        library_versions={"riskmodel": "0.1.0", "numpy": "2.0"},
    )
    base.update(kw)
    return ModelCardInfo(**base)


def test_sections_and_numbers(audit_table):
    md = model_card(_info(audit_table))
    positions = [md.index(s) for s in SECTIONS]
    assert positions == sorted(positions)
    assert md.startswith("# Model card: riskmodel 7\n")
    assert "sha256:0123abcd" in md and "2026-11-28 03:00 UTC" in md
    assert "Data period: 2021-09-01 to 2025-06-30" in md
    assert "2023-10-01, 2024-10-01" in md
    assert "Horizon: 365 days" in md
    assert "3 features in 3 domains (attendance: 1, grades: 1, transitions: 1)" in md
    assert "| gap\\|days | transitions |" in md  # pipes in names are escaped
    # backtest table with the baselines, floats to 3 decimals
    assert "| riskmodel | 0.412 | 0.810 |" in md and "| rule | 0.301 | 0.700 |" in md
    # intended use and its limits
    assert "Never use it for:** sanctions" in md and "tracking of pupils" in md and "grading" in md
    assert "Performative prediction" in md and "Regime changes" in md
    # not synthetic, nothing included: no warnings at the top
    assert "Trained on synthetic data" not in md and "Sensitive attributes are used" not in md
    assert "used only to audit fairness: sex, home_language, migrant_background, special_needs" in md
    assert "| numpy | 2.0 |" in md


def test_audit_rows_and_suppression(audit_table):
    md = model_card(_info(audit_table))
    wide = rm.fairness.by_group(audit_table)
    row = wide[(wide["attribute"] == "sex") & (wide["group"] == "M")].iloc[0]
    recall = f"{100 * row['recall']:.1f} % ({100 * row['recall_low']:.1f}–{100 * row['recall_high']:.1f})"
    line = next(x for x in md.splitlines() if x.startswith("| sex | M |"))
    assert f"| {int(row['n'])} |" in line and recall in line
    assert f"| {row['recall_ratio']:.2f} |" in line
    # the tiny language is shown as <10, its complement as hidden, both listed by name
    assert re.search(r"^\| home_language \| other \| <10 \| – \|", md, re.M)
    assert re.search(r"^\| home_language \| uk \| hidden \| – \|", md, re.M)
    assert "could not be audited: home_language = other." in md
    assert "cannot be worked out from totals: home_language = uk." in md
    assert "The top 300 pupils by score of 3000 are selected" in md
    # no number of a suppressed group leaks into the card
    hidden = wide[wide["suppressed"]]
    assert len(hidden) == 2
    n_other = 3000 - int(wide.loc[wide["attribute"] == "home_language", "n"].sum())
    for line in md.splitlines():
        if line.startswith("| home_language | other") or line.startswith("| home_language | uk"):
            assert not re.search(r"\d", line.split("|", 4)[4]), line  # after the n column
    assert n_other > 10  # both hidden groups together


def test_sensitive_opt_in_and_synthetic_are_prominent():
    md = model_card(_info(sensitive_attributes_included=["sex"], synthetic_data=True))
    head = md.split("## Model details")[0]
    assert "**Sensitive attributes are used as model features: sex.**" in head
    assert "**Trained on synthetic data.**" in head
    assert "Included as model features (opt-in): sex." in md
    assert "used only to audit fairness: home_language, migrant_background, special_needs" in md
    assert "- **Synthetic data.**" in md
    assert "No fairness audit was supplied." in md


def test_audit_with_test_dates_shows_the_latest(audit_table):
    two = pd.concat(
        [audit_table.assign(test_date="2023-10-01"), audit_table.assign(test_date="2024-10-01")],
        ignore_index=True,
    )
    two.loc[two["test_date"] == "2023-10-01", "n"] = pd.NA
    two.attrs = dict(audit_table.attrs)
    md = model_card(_info(two))
    assert "Test date 2024-10-01." in md
    assert sum(1 for x in md.splitlines() if x.startswith("| sex | M |")) == 1


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_standalone_and_escaped(audit_table):
    info = _info(audit_table, notes=["Scores <script>alert(1)</script> & more"])
    page = model_card_html(info)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http" not in page  # nothing external
    p = _Collector()
    p.feed(page)
    assert p.tags.count("h2") == len(SECTIONS)
    assert p.tags.count("table") == 4  # features, backtest, audit, versions
    text = "".join(p.text)
    assert "&lt;10" in page and "<10" in text
    assert "gap|days" in text
    assert "Never use it for:" in text


def test_markdown_table_formats():
    df = pd.DataFrame({"a": [1, 2], "b": [0.12345, np.nan], "c": ["x|y", None], "d": [True, False]})
    assert markdown_table(df).splitlines() == [
        "| a | b | c | d |",
        "| --- | --- | --- | --- |",
        "| 1 | 0.123 | x\\|y | yes |",
        "| 2 | – | – | no |",
    ]


def test_info_validation():
    with pytest.raises(pydantic.ValidationError, match="data_end"):
        _info(data_start="2025-01-01", data_end="2024-01-01")
    with pytest.raises(pydantic.ValidationError, match="horizon_days"):
        _info(horizon_days=0)
    with pytest.raises(pydantic.ValidationError, match="extra"):
        _info(colour="red")
    with pytest.raises(TypeError, match="'info' parameter of model_card must be a ModelCardInfo"):
        model_card({"model_name": "x"})
    info = _info(features=pd.DataFrame({"feature": ["f1", "f2"], "domain": ["grades", "context"]}))
    assert info.features == {"f1": "grades", "f2": "context"}


def test_build_model_card_from_run_objects(audit_table):
    from riskmodel.features import registry

    reg = registry()
    names = list(reg.index[~reg["sensitive"].astype(bool)][:4])
    model = SimpleNamespace(feature_names_in_=np.array(names + ["sex"], dtype=object))
    tables = SimpleNamespace(
        enrolments=pd.DataFrame(
            {"start_date": pd.to_datetime(["2021-09-01", "2022-09-01"]), "end_date": pd.to_datetime([None, "2024-05-31"])}
        ),
        attendance=pd.DataFrame({"date": pd.to_datetime(["2021-09-02", "2025-05-30"])}),
        grades=None,
        engagement=None,
        support=None,
    )
    cfg = SimpleNamespace(tracking=SimpleNamespace(registered_model_name="rm-test"), horizon_days=200, data=None)
    md, page = build_model_card(
        cfg=cfg, model=model, backtest=None, audit=audit_table, tables=tables,
        train_dates=[pd.Timestamp("2023-10-01")], k=300, fingerprint="fp1", version=None,
    )
    assert md.startswith("# Model card: rm-test unregistered")
    assert "Data period: 2021-09-01 to 2025-05-30" in md
    assert "Horizon: 200 days" in md
    assert "**Sensitive attributes are used as model features: sex.**" in md
    assert "**Trained on synthetic data.**" in md
    for f in names:
        assert f"| {f} | {reg.loc[f, 'domain']} |" in md
    assert "<!DOCTYPE html>" in page


def test_score_report_and_card_share_the_missing_sign_and_the_suppression():
    from riskmodel._suppression import MIN_CELL
    from riskmodel.report import score_report_html

    n_high = MIN_CELL - 1
    risk = np.r_[np.linspace(0.7, 0.9, n_high), np.linspace(0.01, 0.3, 200)]
    tier = pd.Categorical(["high"] * n_high + ["low"] * 200, categories=["high", "elevated", "low"],
                          ordered=True)
    scores = pd.DataFrame({"risk": risk, "tier": tier, "municipality_id": "M1"})
    page = score_report_html(scores=scores, manifest={"as_of": "2025-10-01", "model": {"uri": "<m>"}})
    assert page == score_report_html(scores=scores, manifest={"as_of": "2025-10-01",
                                                              "model": {"uri": "<m>"}})
    assert "&lt;m&gt;" in page and "<m>" not in page  # autoescaped
    p = _Collector()
    p.feed(page)
    text = p.text
    # the high tier has fewer than MIN_CELL pupils: its row shows the missing sign only
    i = text.index("high")
    assert text[i + 1:i + 5] == [MISSING] * 4
    assert "200" in text[text.index("low") + 1]
    assert markdown_table(pd.DataFrame({"x": [np.nan]})).splitlines()[-1] == f"| {MISSING} |"
