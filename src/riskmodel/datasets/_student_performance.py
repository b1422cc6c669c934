"""Loader of the UCI Student Performance data (Portuguese course), shipped as package data."""

from __future__ import annotations

import hashlib
from importlib import resources

import pandas as pd

from .._checks import check_bool
from ..errors import DataValidationError

__all__ = ["load_student_performance"]

_SHA256 = "a7594a11d7771c0efe1a740824e0e833da9c4cad07c39a9766a874575563fb3f"
_FILE = "student-por.csv"
_GRADES = ("G1", "G2", "G3")
_NOMINAL = ("school", "sex", "address", "famsize", "Pstatus", "Mjob", "Fjob", "reason", "guardian")
_YES_NO = ("schoolsup", "famsup", "paid", "activities", "nursery", "higher", "internet", "romantic")
_CITATION = (
    "P. Cortez and A. Silva. Using Data Mining to Predict Secondary School Student Performance. "
    "In A. Brito and J. Teixeira (eds.), Proceedings of 5th FUture BUsiness TEChnology Conference "
    "(FUBUTEC 2008), pp. 5-12, Porto, Portugal, April 2008, EUROSIS. "
    "UCI Machine Learning Repository, dataset 320, https://doi.org/10.24432/C5TG7T"
)
_LICENSE = "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"


def _folder():
    return resources.files("riskmodel").joinpath("data", "student_performance")


def load_student_performance(*, drop_grades=True, return_X_y=False):
    """UCI Student Performance (Portuguese course): 649 pupils, label ``G3 < 10``.

    Real, anonymous records of secondary-school pupils from two Portuguese schools
    (2005-2006), shipped with riskmodel under CC BY 4.0 as an example of a pupil
    table for :class:`riskmodel.RiskModel`. The file's sha256 is checked on load.

    Parameters
    ----------
    drop_grades : bool, default=True
        Drop the period grades G1, G2 and the final grade G3 from ``data`` (an early
        warning before any grade of the year is known; the paper's "setup C").
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    sklearn.utils.Bunch or (DataFrame, Series)
        ``data`` (index ``pupil_id`` "por_000".."por_648"; nominal columns as
        category, yes/no columns as bool, the rest int), ``target`` (Series ``fail``:
        1 when G3 < 10), ``frame`` (all 33 source columns plus ``fail``),
        ``feature_names``, ``sensitive_features`` (``["sex"]``: for audits, not a
        feature by riskmodel's rules; drop it before fitting), ``DESCR``,
        ``citation``, ``license``.

    Raises
    ------
    DataValidationError
        When the shipped file does not match its recorded sha256.

    Examples
    --------
    >>> import riskmodel as rm
    >>> X, y = rm.datasets.load_student_performance(return_X_y=True)
    >>> X.shape, round(float(y.mean()), 3)
    ((649, 30), 0.154)
    """
    drop_grades = check_bool(drop_grades, "drop_grades", "load_student_performance")
    return_X_y = check_bool(return_X_y, "return_X_y", "load_student_performance")
    folder = _folder()
    raw = folder.joinpath(_FILE).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != _SHA256:
        raise DataValidationError(
            f"The shipped file {_FILE} is damaged: sha256 {digest} differs from the recorded {_SHA256}. "
            "Reinstall riskmodel.",
            problems=[
                {"table": "student_performance", "column": None, "n_rows": None, "examples": [digest],
                 "message": "sha256 mismatch"}
            ],
        )
    import io

    from sklearn.utils import Bunch  # heavy: imported only when loading

    frame = pd.read_csv(io.BytesIO(raw), sep=";")
    frame.index = pd.Index([f"por_{i:03d}" for i in range(len(frame))], name="pupil_id")
    for col in _NOMINAL:
        frame[col] = frame[col].astype("category")
    for col in _YES_NO:
        frame[col] = frame[col].map({"yes": True, "no": False}).astype(bool)
    for col in _GRADES:
        frame[col] = pd.to_numeric(frame[col]).astype("int64")
    target = (frame["G3"] < 10).astype("int64").rename("fail")
    frame["fail"] = target
    data = frame.drop(columns=["fail", *(_GRADES if drop_grades else ())])
    if return_X_y:
        return data, target
    descr = folder.joinpath("README.md").read_text(encoding="utf-8") + "\n" + folder.joinpath(
        "student.txt"
    ).read_text(encoding="utf-8")
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=list(data.columns),
        target_names=["pass", "fail"],
        sensitive_features=["sex"],
        DESCR=descr,
        citation=_CITATION,
        license=_LICENSE,
    )
