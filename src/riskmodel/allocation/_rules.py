"""Programme 4.2.3.1 rules as a strict pydantic config."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..config import StrictModel

__all__ = ["KINDS", "KindRule", "Eligibility", "ProgrammeRules"]

#: the kinds of support the programme pays for, in the order used everywhere
KINDS = ("mentor", "literacy", "subject", "support_staff", "family")

Kind = Literal["mentor", "literacy", "subject", "support_staff", "family"]

#: planned review of a support plan: days after its start, or "term" (the end of
#: the school term, see :data:`TERM_ENDS`)
DEFAULT_REVIEW = {"mentor": "term", "literacy": 42, "subject": 42, "support_staff": 42,
                  "family": 90}


class KindRule(StrictModel):
    """Who may receive one kind of support.

    A pupil is eligible when every condition that is set holds.

    Parameters
    ----------
    min_age : float or None
        Minimum age in years (``pupils.age >= min_age``).
    grades : list of int or None
        Grades (1-12) in which the support may be given.
    requires_liecība : bool
        Only pupils who finished grade 9 with a *liecība* (``pupils.liecība``).
    requires_risk_group : bool
        Only pupils in the risk group (``pupils.risk >= ProgrammeRules.min_risk``).

    Examples
    --------
    >>> from riskmodel.allocation import KindRule
    >>> KindRule(min_age=13, requires_risk_group=True).min_age
    13.0
    >>> KindRule(grades=[0])
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for KindRule
    ...
    """

    min_age: float | None = Field(default=None, ge=0)
    grades: list[int] | None = None
    requires_liecība: bool = False
    requires_risk_group: bool = False

    @field_validator("grades")
    @classmethod
    def _check_grades(cls, value):
        if value is not None:
            bad = [g for g in value if not 1 <= g <= 12]
            if bad:
                raise ValueError(f"grades must lie in 1..12, got {bad}")
            value = sorted(set(value))
        return value


class Eligibility(StrictModel):
    """Eligibility rule of each kind of support (programme 4.2.3.1 by default).

    Examples
    --------
    >>> from riskmodel.allocation import Eligibility
    >>> rules = Eligibility()
    >>> rules.mentor.min_age, rules.literacy.grades, rules.subject.requires_liecība
    (13.0, [1, 2, 3], True)
    """

    mentor: KindRule = KindRule(min_age=13, requires_risk_group=True)
    literacy: KindRule = KindRule(grades=[1, 2, 3])
    subject: KindRule = KindRule(requires_liecība=True)
    support_staff: KindRule = KindRule(requires_risk_group=True)
    family: KindRule = KindRule(requires_risk_group=True)


class ProgrammeRules(StrictModel):
    """The rules an allocation must never break, with programme 4.2.3.1 defaults.

    Parameters
    ----------
    min_risk : float, default 0.10
        A pupil is in the *risk group* when ``risk >= min_risk``. ``risk`` is the
        model's calibrated probability of early leaving within the horizon, so
        the default reads "at least a 1-in-10 chance of leaving within a year".
        It is an absolute level on purpose, not a top share of the cohort: the
        programme's rule is "pupils at risk", and with an absolute level the
        size of the risk group is a fact about the pupils, so ``shortfall``
        measures real unmet need (with a top share, demand would be fixed by
        construction and always look the same). One in ten is several times the
        yearly base rate of early leaving and selects a group of the same order
        as the roughly 20,000 individual plans a year (about one pupil in ten)
        that PuMPuRS wrote; lower it when the model's calibration or the policy
        calls for a wider net.
    fit_weight : float in [0, 1), default 0.5
        Weight ``w`` of the specialty match in the ``"fit"`` objective,
        ``value = risk * (1 - w + w * match)`` (see :func:`allocate`). Kept below
        1 so that every risk-group pupil has a positive value for every resource.
    budget_eur : float or None, default None
        Total budget across all kinds; each assignment costs the resource's
        ``cost_per_pupil``. None: no budget constraint.
    max_pupils_per_school : dict kind -> int or None, default None
        Optional cap on how many pupils of one school may receive a kind.
    eligibility : Eligibility
        Per-kind eligibility (mentor from age 13 and in the risk group; literacy
        in grades 1-3; subject for liecība pupils; support staff and family
        education for the risk group).
    exit_risk : float or None, default None
        Hysteresis of the risk group for *ongoing* support (``current`` of
        :func:`allocate`): a pupil enters a risk-group kind at ``risk >=
        min_risk`` but keeps an ongoing one until ``risk < exit_risk``, so that a
        pupil whose risk wobbles around ``min_risk`` from one monthly run to the
        next does not lose and regain a mentor. Must be below ``min_risk``. None
        (the default) means ``min_risk / 2``: support that halved the risk has
        not yet done its work. It applies to the kinds that require the risk
        group; the others (literacy, subject) end on their own eligibility only.
    max_new_per_resource : int or None, default None
        Churn limit: at most this many *new* pupils per resource in one run
        (continuing pupils do not count). None: no limit.
    review : dict kind -> int or "term"
        When a support plan is reviewed: a number of days after its start (and
        every as many days after that), or ``"term"``, the end of the school
        term (20 December or 31 May) at least 42 days after the start. Default:
        mentors at the term's end, consultations and support staff after 6
        weeks, family education after 90 days.

    Notes
    -----
    Two further rules are fixed, not configurable: a pupil gets at most one
    resource of each kind, and support is local (same municipality, and the same
    school when the resource names a ``school_id``).

    Examples
    --------
    >>> from riskmodel.allocation import ProgrammeRules
    >>> rules = ProgrammeRules(min_risk=0.2, budget_eur=50_000)
    >>> rules.eligibility.mentor.min_age
    13.0
    """

    min_risk: float = Field(default=0.10, gt=0, le=1)
    fit_weight: float = Field(default=0.5, ge=0, lt=1)
    budget_eur: float | None = Field(default=None, ge=0)
    max_pupils_per_school: dict[Kind, int] | None = None
    eligibility: Eligibility = Eligibility()
    exit_risk: float | None = Field(default=None, ge=0)
    max_new_per_resource: int | None = Field(default=None, ge=0)
    review: dict[Kind, int | Literal["term"]] = Field(
        default_factory=lambda: dict(DEFAULT_REVIEW))

    @field_validator("review")
    @classmethod
    def _check_review(cls, value):
        bad = {k: v for k, v in value.items() if isinstance(v, int) and v < 1}
        if bad:
            raise ValueError(f"review days must be >= 1, got {bad}")
        return {**DEFAULT_REVIEW, **value}

    @model_validator(mode="after")
    def _check_exit(self):
        if self.exit_risk is not None and self.exit_risk >= self.min_risk:
            raise ValueError(f"exit_risk ({self.exit_risk}) must be below min_risk "
                             f"({self.min_risk}) so that pupils do not flap on and off")
        return self

    @property
    def exit_level(self) -> float:
        """The risk below which ongoing risk-group support ends (``exit_risk`` or
        ``min_risk / 2``).

        Examples
        --------
        >>> from riskmodel.allocation import ProgrammeRules
        >>> ProgrammeRules(min_risk=0.2).exit_level, ProgrammeRules(exit_risk=0.08).exit_level
        (0.1, 0.08)
        """
        return self.min_risk / 2 if self.exit_risk is None else self.exit_risk

    @field_validator("max_pupils_per_school")
    @classmethod
    def _check_caps(cls, value):
        if value is not None:
            bad = {k: v for k, v in value.items() if v < 0}
            if bad:
                raise ValueError(f"school caps must be >= 0, got {bad}")
        return value

    def kind_rule(self, kind: str) -> KindRule:
        """The eligibility rule of ``kind``."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}. Got {kind!r} instead.")
        return getattr(self.eligibility, kind)
