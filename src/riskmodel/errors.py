"""Typed errors raised by riskmodel."""

from __future__ import annotations

__all__ = ["DataValidationError", "ConfigError", "ModelFileError"]


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

    Examples
    --------
    >>> import pandas as pd
    >>> import riskmodel as rm
    >>> pupils = pd.DataFrame({"pupil_id": ["p1"], "sex": ["F"]})  # no birth_date
    >>> try:
    ...     rm.SchoolTables(pupils=pupils, enrolments=pd.DataFrame())
    ... except rm.DataValidationError as err:
    ...     print(err.problems[0]["table"], isinstance(err, ValueError))
    pupils True
    """

    def __init__(self, message: str, problems: list[dict] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class ConfigError(ValueError):
    """A configuration file or value is invalid (unknown key, wrong type, bad value).

    A subclass of :class:`ValueError`; the command line exits with code 2 on it.

    Examples
    --------
    >>> import riskmodel as rm
    >>> from riskmodel.pipeline import ScoreConfig
    >>> try:
    ...     rm.config.load_config(ScoreConfig, {"as_of": "2025-10-01", "tiers": {"hihg": 0.1}})
    ... except rm.ConfigError as err:
    ...     print("hihg" in str(err))
    True
    """


class ModelFileError(ValueError):
    """A saved model folder or one of its files is broken or cannot be read here.

    A subclass of :class:`ValueError`; the command line exits with code 2 on it.
    Raised by :meth:`RiskModel.load <riskmodel.RiskModel.load>` (and so by every
    registry load) before anything reaches LightGBM: a missing folder or file,
    a JSON file that does not parse or lacks keys, a format written by a newer
    riskmodel, a file whose sha256 differs from the one written at saving, or a
    truncated LightGBM text. The message names the file and what is wrong.

    Attributes
    ----------
    path : str
        The file (or folder) that is broken.

    Examples
    --------
    >>> import tempfile
    >>> import riskmodel as rm
    >>> try:
    ...     rm.RiskModel.load(tempfile.mkdtemp())
    ... except rm.ModelFileError as err:
    ...     print(err.path.endswith("riskmodel.json"), isinstance(err, ValueError))
    True True
    """

    def __init__(self, message: str, path=None):
        super().__init__(message)
        self.path = None if path is None else str(path)
