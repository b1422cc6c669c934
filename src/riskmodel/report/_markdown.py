"""The Markdown subset of the model card, read into blocks for the HTML template (private).

The model card has one source, ``model_card.md.j2``; its HTML form is that
Markdown read by :func:`blocks` (headings, paragraphs, bullet lists, pipe
tables, block quotes, ``**bold**`` and backticks) and laid out by
``model_card.html.j2``, so both forms always say the same.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

__all__ = ["blocks", "inline"]

_NUMBER = re.compile(r"^[<−-]?\d[\d,.]*( %)?( \([\d.]+–[\d.]+\))?$")


def inline(text: str) -> Markup:
    """Escaped ``text`` with ``**bold**`` and backtick code as HTML.

    Examples
    --------
    >>> str(inline("a **b** `<c>`"))
    'a <strong>b</strong> <code>&lt;c&gt;</code>'
    """
    out = str(escape(text))
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return Markup(out)


def _cells(line: str) -> list[dict]:
    parts = re.split(r"(?<!\\)\|", line.strip()[1:-1])
    texts = [c.strip().replace("\\|", "|") for c in parts]
    return [{"html": inline(t), "numeric": bool(_NUMBER.match(t))} for t in texts]


def blocks(text: str) -> list[dict]:
    """The Markdown ``text`` as a list of blocks ``{"kind": ..., ...}``.

    Kinds: ``heading`` (``level``, ``html``), ``table`` (``head``, ``rows`` of cells
    with ``html`` and ``numeric``), ``quote``, ``list`` (``items``) and ``paragraph``
    (``html``).

    Examples
    --------
    >>> [b["kind"] for b in blocks("# T\\n\\ntext\\n\\n- a\\n- b\\n\\n| x |\\n| --- |\\n| 1 |")]
    ['heading', 'paragraph', 'list', 'table']
    """
    lines = text.splitlines()
    out: list[dict] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        m = re.match(r"(#{1,6})\s+(.*)", line)
        if m:
            out.append({"kind": "heading", "level": len(m.group(1)), "html": inline(m.group(2))})
            i += 1
        elif line.startswith("|") and i + 1 < len(lines) and re.match(r"\|\s*-", lines[i + 1]):
            head = _cells(line)
            i += 2
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            out.append({"kind": "table", "head": head, "rows": rows})
        elif line.startswith(">"):
            quote = []
            while i < len(lines) and lines[i].startswith(">"):
                quote.append(lines[i][1:].strip())
                i += 1
            out.append({"kind": "quote", "html": inline(" ".join(quote))})
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(inline(lines[i][2:]))
                i += 1
            out.append({"kind": "list", "items": items})
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"(#|\||>|- )", lines[i]):
                para.append(lines[i].strip())
                i += 1
            out.append({"kind": "paragraph", "html": inline(" ".join(para))})
    return out
