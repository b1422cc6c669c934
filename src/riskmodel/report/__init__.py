"""Reports about trained models.

- :class:`ModelCardInfo` — what a model card says about one trained model.
- :func:`model_card` — the card as Markdown (intended use, data period, outcome,
  features and sensitive attributes, backtest against the baselines, fairness
  audit at the programme's capacity, known limits, versions and fingerprint).
- :func:`model_card_html` — the same card as one standalone HTML page (for the
  MLflow run).
- :func:`build_model_card` — Markdown and HTML of a training run's card, from the
  pipeline's config, model, backtest, audit and tables (used by ``tracking``).
- :func:`markdown_table` — a DataFrame as a Markdown pipe table.
"""

from __future__ import annotations

from ._model_card import (
    ModelCardInfo,
    build_model_card,
    markdown_table,
    model_card,
    model_card_html,
)

__all__ = ["ModelCardInfo", "build_model_card", "markdown_table", "model_card", "model_card_html"]
