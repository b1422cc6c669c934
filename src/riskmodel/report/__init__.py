"""Reports about trained models and scoring runs.

- :class:`ModelCardInfo` — what a model card says about one trained model.
- :func:`model_card` — the card as Markdown (intended use, data period, outcome,
  features and sensitive attributes, backtest against the baselines, fairness
  audit at the programme's capacity, known limits, versions and fingerprint).
- :func:`model_card_html` — the same card as one standalone HTML page (for the
  MLflow run).
- :func:`build_model_card` — Markdown and HTML of a training run's card, from the
  pipeline's config, model, backtest, audit and tables (used by ``tracking``).
- :func:`score_report_html` — the scoring run's ``report.html``.

Both HTML pages come from the Jinja2 templates beside this module with one
shared stylesheet (``style.css.j2``), and show a missing or suppressed value the
same way ("–"). Groups smaller than ``riskmodel._suppression.MIN_CELL`` pupils
are never shown.
"""

from __future__ import annotations

from ._format import markdown_table  # noqa: F401  (kept importable for one release; private)
from ._model_card import ModelCardInfo, build_model_card, model_card, model_card_html
from ._score_report import score_report_html

__all__ = ["ModelCardInfo", "build_model_card", "model_card", "model_card_html", "score_report_html"]
