"""Shared configuration helpers: strict pydantic models and safe YAML loading.

Every configuration in riskmodel is a pydantic model deriving from
:class:`StrictModel` (``extra="forbid"``), so that a misspelt key fails loudly.
YAML is read with :func:`yaml.safe_load` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

__all__ = ["StrictModel", "load_yaml", "load_config"]

M = TypeVar("M", bound="StrictModel")


class StrictModel(BaseModel):
    """Base class of all riskmodel configs: unknown keys are errors.

    Examples
    --------
    >>> class Sizes(StrictModel):
    ...     n_pupils: int = 300
    >>> Sizes(n_pupils=200).n_pupils
    200
    >>> Sizes(n_pupil=200)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Sizes
    n_pupil
      Extra inputs are not permitted ...
    """

    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True)

    @classmethod
    def from_yaml(cls: type[M], path: str | Path) -> M:
        """Load and validate this config from a YAML file (see :func:`load_config`).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from riskmodel.pipeline import SyntheticConfig
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "synthetic.yaml"
        >>> _ = path.write_text("n_pupils: 300")
        >>> SyntheticConfig.from_yaml(path).n_pupils
        300
        """
        return load_config(cls, path)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load``; an empty file gives ``{}``.

    Raises
    ------
    ConfigError
        When the file is missing, is not valid YAML or holds no mapping.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.yaml"
    >>> _ = path.write_text("{horizon_days: 365, baselines: [rule]}")
    >>> load_yaml(path)
    {'horizon_days': 365, 'baselines': ['rule']}
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {str(path)!r} does not exist.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"Config file {str(path)!r} is not valid YAML{where}: {what}.") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"Config file {str(path)!r} must contain a mapping at the top level, "
            f"got {type(data).__name__}."
        )
    return data


def load_config(model: type[M], source: str | Path | dict | M | None) -> M:
    """Validate ``source`` (a path, a mapping, an instance or None) as ``model``.

    Raises
    ------
    ConfigError
        Naming the file and every invalid or unknown key.

    Examples
    --------
    >>> from riskmodel.pipeline import TrainConfig
    >>> load_config(TrainConfig, {"horizon_days": 180}).horizon_days
    180
    >>> load_config(TrainConfig, {"horizon_day": 180})
    Traceback (most recent call last):
    ...
    riskmodel.errors.ConfigError: Invalid TrainConfig config:
      horizon_day: Extra inputs are not permitted
    """
    if source is None:
        return model()
    if isinstance(source, model):
        return source
    where = ""
    if isinstance(source, (str, Path)):
        where = f" in {str(source)!r}"
        source = load_yaml(source)
    try:
        return model.model_validate(source)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "<root>"
            lines.append(f"  {loc}: {err['msg']}")
        raise ConfigError(
            f"Invalid {model.__name__} config{where}:\n" + "\n".join(lines)
        ) from None
