"""Typed errors raised by riskmodel."""

from __future__ import annotations

__all__ = ["DataValidationError", "ConfigError"]


class DataValidationError(ValueError):
    """Input data break the data contract.

    A subclass of :class:`ValueError`, so ``except ValueError`` catches it too.
    The message names the table, the column, how many rows are affected and a few
    example values; all problems found in one table are reported together.

    Attributes
    ----------
    problems : list of dict
        One entry per problem with the keys ``table``, ``column``, ``n_rows``,
        ``examples`` and ``message``.
    """

    def __init__(self, message: str, problems: list[dict] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class ConfigError(ValueError):
    """A configuration file or value is invalid (unknown key, wrong type, bad value)."""
