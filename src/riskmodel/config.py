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
    """Base class of all riskmodel configs: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True)

    @classmethod
    def from_yaml(cls: type[M], path: str | Path) -> M:
        """Load and validate this config from a YAML file."""
        return load_config(cls, path)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load``; an empty file gives ``{}``."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {str(path)!r} does not exist.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {str(path)!r} is not valid YAML: {exc}") from exc
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
