"""The feature registry: ``registry.yaml`` as a DataFrame and as Markdown (private)."""

from __future__ import annotations

import functools
from importlib import resources

import pandas as pd

from .. import vocab

REGISTRY_FILE = "registry.yaml"
COLUMNS = (
    "domain",
    "unit",
    "window",
    "direction",
    "sensitive",
    "value_format",
    "description_en",
    "description_lv",
    "reason_en",
    "reason_lv",
)
_REQUIRED = ("name", "domain", "unit", "window", "direction", "description_en",
             "description_lv", "reason_en", "reason_lv")


@functools.lru_cache(maxsize=1)
def _load() -> tuple[int, tuple[dict, ...]]:
    import yaml

    text = resources.files(__package__).joinpath(REGISTRY_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    entries = data["features"]
    seen = set()
    for e in entries:
        missing = [k for k in _REQUIRED if k not in e]
        unknown = [k for k in e if k not in (*_REQUIRED, *COLUMNS)]
        if missing or unknown:  # pragma: no cover - guarded by tests of the shipped file
            raise RuntimeError(f"registry entry {e.get('name')!r}: missing {missing}, unknown {unknown}")
        if e["domain"] not in vocab.DOMAINS or e["direction"] not in (-1, 0, 1):
            raise RuntimeError(f"registry entry {e['name']!r} has a bad domain or direction")
        if e["name"] in seen:
            raise RuntimeError(f"registry entry {e['name']!r} is repeated")
        seen.add(e["name"])
    return int(data["version"]), tuple(entries)


def registry(include_sensitive: bool = True) -> pd.DataFrame:
    """The feature registry: one row per feature, indexed by feature name.

    Parameters
    ----------
    include_sensitive : bool, default True
        Keep the rows of the audit attributes (``sensitive`` True), which are
        features only with ``FeatureConfig(include_sensitive=True)``.

    Returns
    -------
    pandas.DataFrame
        Index ``name``; columns ``domain`` (attendance, grades, engagement,
        transitions, context), ``unit``, ``window``, ``direction`` (+1: a higher
        value is expected to raise risk, -1: to lower it, 0: unknown),
        ``sensitive`` (bool), ``value_format`` (format spec for the value in
        reason texts), ``description_en``, ``description_lv``, ``reason_en`` and
        ``reason_lv`` (short phrases with a ``{value}`` placeholder).  Rows are in
        the column order of :func:`build_features`.  ``df.attrs["version"]`` is
        the version of the registry file.

    Examples
    --------
    >>> from riskmodel.features import registry
    >>> reg = registry()
    >>> reg.loc["unexcused_lessons_28d", "reason_lv"].format(value=5)
    'Neattaisnoti kavējumi pēdējās 4 nedēļās: 5 stundas'
    >>> int(reg.loc["attendance_rate_28d", "direction"])
    -1
    """
    version, entries = _load()
    rows = []
    for e in entries:
        row = {"name": e["name"], **{c: e.get(c) for c in COLUMNS}}
        row["sensitive"] = bool(e.get("sensitive", False))
        row["value_format"] = e.get("value_format") or ""
        rows.append(row)
    df = pd.DataFrame(rows).set_index("name")
    df["direction"] = df["direction"].astype("int8")
    df["sensitive"] = df["sensitive"].astype(bool)
    if not include_sensitive:
        df = df[~df["sensitive"]]
    df.attrs["version"] = version
    return df


def feature_names(include_sensitive: bool = False) -> list[str]:
    """Feature column names, in the column order of :func:`build_features`.

    Parameters
    ----------
    include_sensitive : bool, default False
        Add the audit attributes, which are features only with
        ``FeatureConfig(include_sensitive=True)``.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from riskmodel.features import feature_names
    >>> names = feature_names()
    >>> names[0], "sex_female" in names, "sex_female" in feature_names(include_sensitive=True)
    ('attendance_rate_ytd', False, True)
    """
    _, entries = _load()
    return [
        e["name"] for e in entries if include_sensitive or not e.get("sensitive", False)
    ]


def registry_markdown() -> str:
    """The registry as a Markdown document (the source of ``docs/features.md``).

    Examples
    --------
    >>> from riskmodel.features import registry_markdown
    >>> registry_markdown().startswith("# Feature registry")
    True
    """
    reg = registry()
    version = reg.attrs["version"]
    out = [
        "# Feature registry",
        "",
        f"Generated from `src/riskmodel/features/registry.yaml` (version {version}) by "
        "`riskmodel.features.registry_markdown()`; do not edit by hand.",
        "",
        "Every feature is computed as of a date `as_of` from records dated strictly before it. "
        "Windows end the day before `as_of`: `28 days` is `[as_of - 28 days, as_of)`, "
        "`school year to date` starts on the latest 1 September before `as_of`. "
        "Direction: +1 a higher value is expected to raise risk, -1 to lower it, 0 unknown. "
        "A domain whose table is missing or empty is NaN throughout.",
        "",
    ]
    for domain in vocab.DOMAINS:
        sub = reg[(reg["domain"] == domain) & ~reg["sensitive"]]
        if len(sub):
            out += _md_table(f"## {domain}", sub)
    sens = reg[reg["sensitive"]]
    if len(sens):
        out += _md_table(
            "## sensitive audit attributes (features only with `include_sensitive=True`)", sens
        )
    return "\n".join(out).rstrip() + "\n"


def _md_table(title: str, sub: pd.DataFrame) -> list[str]:
    def esc(s):
        return str(s).replace("|", "\\|")

    lines = [
        title,
        "",
        "| feature | unit | window | dir. | description | description (lv) | reason (en / lv) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in sub.iterrows():
        lines.append(
            f"| `{name}` | {esc(r['unit'])} | {esc(r['window'])} | {int(r['direction']):+d} "
            f"| {esc(r['description_en'])} | {esc(r['description_lv'])} "
            f"| {esc(r['reason_en'])} / {esc(r['reason_lv'])} |"
        )
    lines.append("")
    return lines
