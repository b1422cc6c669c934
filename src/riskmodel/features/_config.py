"""Configuration of the feature builders."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .. import vocab
from ..config import StrictModel

#: a feature domain; the values are :data:`riskmodel.vocab.DOMAINS` (the one list)
Domain = Literal[vocab.DOMAINS]


class FeatureConfig(StrictModel):
    """Options of :func:`riskmodel.build_features` (YAML keys of the same names).

    Parameters
    ----------
    min_grade, max_grade : int, default 1 and 12
        Only pupils whose current enrolment is in this grade range get a row.
    domains : list of str, default all five
        Feature domains to build (``attendance``, ``grades``, ``engagement``,
        ``transitions``, ``context``).
    include_sensitive : bool, default False
        Add the audit attributes (sex, home language, migrant background,
        special needs) as features.  They are flagged ``sensitive`` in the
        registry; off by default: they are used to audit fairness, and a config
        that opts in is named so on the model card.
    school_year_start_month : int, default 9
        School years start on the 1st of this month ("school year to date"
        windows start there).
    term_end_month : int, default 5
        Last month of teaching; the months after it until the school-year start
        are the summer break, which does not count as a gap between enrolments.
    chronic_absence_threshold : float, default 0.9
        ``chronic_absence_ytd`` is 1 when the attendance rate is below this.
    emigration_is_leaving : bool, default False
        Whether emigration counts as early leaving in the context rates (the
        same switch as in :class:`riskmodel.labels.LabelConfig`).
    reenrolment_grace_days, lieciba_grace_days : int, default 30 and 120
        A leaving (or a grade-9 liecība) followed by a new enrolment within this
        many days is not early leaving (same definition as the labels).

    Examples
    --------
    >>> from riskmodel.features import FeatureConfig
    >>> FeatureConfig(min_grade=7, max_grade=12).max_grade
    12
    """

    min_grade: int = Field(vocab.MIN_GRADE_LEVEL, ge=vocab.MIN_GRADE_LEVEL, le=vocab.MAX_GRADE_LEVEL)
    max_grade: int = Field(vocab.MAX_GRADE_LEVEL, ge=vocab.MIN_GRADE_LEVEL, le=vocab.MAX_GRADE_LEVEL)
    domains: list[Domain] = Field(default_factory=lambda: list(vocab.DOMAINS))
    include_sensitive: bool = False
    school_year_start_month: int = Field(9, ge=1, le=12)
    term_end_month: int = Field(5, ge=1, le=12)
    chronic_absence_threshold: float = Field(0.9, gt=0.0, le=1.0)
    emigration_is_leaving: bool = False
    reenrolment_grace_days: int = Field(30, ge=0, le=366)
    lieciba_grace_days: int = Field(120, ge=0, le=366)

    @model_validator(mode="after")
    def _check(self):
        if self.min_grade > self.max_grade:
            raise ValueError(
                f"min_grade ({self.min_grade}) must not exceed max_grade ({self.max_grade})"
            )
        if len(set(self.domains)) != len(self.domains):
            raise ValueError(f"domains must not repeat a domain; got {self.domains}")
        return self
