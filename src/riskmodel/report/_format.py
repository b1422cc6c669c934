"""Cell formatting and the one Jinja2 environment of the reports (private).

Both reports (the model card and the scoring run's ``report.html``) show a
missing value as :data:`MISSING`, render from the templates beside this file
and share one stylesheet (``style.css.j2``, included by ``base.html.j2``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MISSING", "figure_png", "is_missing", "markdown_cell", "markdown_table", "html_cell",
           "render"]

#: how every report shows a missing or suppressed value
MISSING = "–"


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and ``pd.NA`` (scalars only).

    Examples
    --------
    >>> is_missing(float("nan")), is_missing(None), is_missing(0.0), is_missing("x")
    (True, True, False, False)
    """
    if value is None or isinstance(value, str):
        return value is None
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like
        return False


def markdown_cell(value: Any) -> str:
    """Markdown-safe text of one model-card cell: floats with 3 decimals, booleans yes/no.

    Examples
    --------
    >>> [markdown_cell(v) for v in (1, 0.12345, None, True, "a|b")]
    ['1', '0.123', '–', 'yes', 'a\\\\|b']
    """
    if is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.3f}"
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return value.date().isoformat()
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame) -> str:
    """Render a DataFrame as a pipe table (cells by :func:`markdown_cell`).

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"a": [1], "b": [float("nan")]})))
    | a | b |
    | --- | --- |
    | 1 | – |
    """
    if not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index()
    header = "| " + " | ".join(markdown_cell(str(c)) for c in df.columns) + " |"
    sep = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(markdown_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, sep, *rows])


def html_cell(value: Any) -> str:
    """Text of one score-report cell: small floats with 3 decimals, large ones and
    integers with thousands separators (the ``cell`` filter of the templates).

    Examples
    --------
    >>> [html_cell(v) for v in (0.12345, 12345.6, 7, None, "x")]
    ['0.123', '12,346', '7', '–', 'x']
    """
    if is_missing(value):
        return MISSING
    if isinstance(value, (float, np.floating)):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return f"{int(value):,}"
    return str(value)


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # HTML pages are escaped; the Markdown card and the stylesheet are not
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
    )
    env.filters["cell"] = html_cell
    env.globals["MISSING"] = MISSING
    return env


def render(template: str, **context) -> str:
    """Render one of the report templates beside this module.

    Examples
    --------
    >>> page = render("base.html.j2", title="a < b", body="")
    >>> page.startswith("<!DOCTYPE html>") and "a &lt; b" in page
    True
    """
    return _environment().get_template(template).render(**context)


def figure_png(fig, dpi: int) -> str:
    """``fig`` as a ``data:image/png;base64`` URI, drawn once.

    ``fig.tight_layout()`` places the axes and leaves a placeholder layout engine
    behind, which makes ``savefig`` draw the whole figure once more (without
    rendering) before drawing it; the engine is removed first, so the figure is
    drawn once (issue 21), to the same pixels.  The PNG carries no software tag,
    so the same figure gives the same bytes.
    """
    import base64
    import io

    from matplotlib import rc_context

    with rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)  # None: no engine (the rc could name one)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
