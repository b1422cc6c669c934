"""Parameters of the synthetic school system (private).

All coefficients of the generator live in one frozen dataclass so that the
mechanism is readable in one place and recorded in ``SchoolSystem.config``.
Latent units: each latent process is on the scale of the log-hazard it adds
(before its ``beta``), so a value of 1 multiplies the monthly hazard by about
e = 2.7 (times beta).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import vocab

__all__ = ["Params", "DOMAIN_NAMES", "SUBJECTS", "SUBJECT_RATES", "SUBJECT_OFFSET", "band_of"]

#: latent processes, in the order of the arrays: attendance disengagement,
#: academic difficulty, family disengagement, transition shocks
DOMAIN_NAMES = vocab.RECORD_DOMAINS

SUBJECTS = (
    "latvian", "mathematics", "english", "science", "social_studies", "history",
    "second_language", "literature", "biology", "physics", "chemistry", "geography",
    "computing", "design_technology", "sports", "arts", "music",
)

# formative/summative grades per month by grade band (1-3, 4-6, 7-9, 10-12)
SUBJECT_RATES: dict[str, tuple[float, float, float, float]] = {
    "latvian": (2.0, 1.6, 1.2, 1.0),
    "mathematics": (2.0, 1.8, 1.6, 1.5),
    "english": (0.8, 1.0, 1.0, 1.0),
    "science": (0.8, 1.0, 0.0, 0.0),
    "social_studies": (0.6, 0.6, 0.4, 0.5),
    "history": (0.0, 0.6, 0.7, 0.7),
    "second_language": (0.0, 0.8, 0.8, 0.7),
    "literature": (0.0, 0.0, 0.8, 0.7),
    "biology": (0.0, 0.0, 0.7, 0.6),
    "physics": (0.0, 0.0, 0.7, 0.6),
    "chemistry": (0.0, 0.0, 0.7, 0.6),
    "geography": (0.0, 0.0, 0.6, 0.0),
    "computing": (0.0, 0.5, 0.4, 0.4),
    "design_technology": (0.4, 0.4, 0.0, 0.0),
    "sports": (0.6, 0.6, 0.5, 0.5),
    "arts": (0.5, 0.4, 0.3, 0.0),
    "music": (0.5, 0.4, 0.3, 0.0),
}
# subject difficulty: added to the grade score
SUBJECT_OFFSET: dict[str, float] = {
    "latvian": -0.2, "mathematics": -0.6, "physics": -0.4, "chemistry": -0.4,
    "second_language": -0.1, "computing": 0.3, "design_technology": 0.6,
    "sports": 1.0, "arts": 0.8, "music": 0.8,
}


def band_of(grade):
    """Grade band 0 (1-3), 1 (4-6), 2 (7-9), 3 (10-12); works on arrays."""
    return (grade - 1) // 3


@dataclass(frozen=True)
class Params:
    """Coefficients of the synthetic school system.

    The latent processes (attendance disengagement ``A``, academic difficulty ``G``,
    family disengagement ``F``) are ``x = mu + u`` with a persistent pupil mean
    ``mu`` and a monthly AR(1) deviation ``u`` (``rho``, innovation sd ``sigma``).
    ``mu = base_sd * z + B * bump * activation(grade)`` where ``B`` ~ Bernoulli(p)
    marks a pupil as susceptible in that domain (p from the mechanisms below, on the
    logit scale), ``bump`` ~ Gamma(``bump_shape``, ``bump_scale``), and the
    activation is 0 before a pupil-specific onset grade (uniform in ``onset_*``), 1/2
    in it and 1 after it: difficulties develop as pupils grow up, most of all
    attendance disengagement in adolescence. The transition process ``T``
    is a sum of shocks (mid-year transfer, summer transfer, repetition, change of
    school stage) decaying by ``shock_decay`` a month, plus ``overage_weight`` per
    year a pupil is older than the grade's age.

    Monthly hazard of early leaving in a school month:
    ``h = min(cap, exp(hazard_base[grade] + month_effect[m] + school effect
    + sum(beta_d[grade] * x_d)))``, where ``beta_d[grade]`` is ``beta`` times the
    grade band's ``slope_by_band`` (see :meth:`beta_by_grade`): the weight of
    each process changes with the school stage, so risk is not additive in the
    records across stages.
    """

    rho: float = 0.85
    sigma: float = 0.30
    base_sd: float = 0.30
    bump_shape: float = 4.0
    bump_scale: float = 0.55
    # grade from which a susceptibility shows (uniform between the bounds)
    onset_A: tuple[int, int] = (4, 10)
    onset_G: tuple[int, int] = (1, 6)
    onset_F: tuple[int, int] = (1, 9)
    # susceptibility logits
    pA_intercept: float = -2.75
    pG_intercept: float = -2.75
    pF_intercept: float = -2.75
    deprivation_A: float = 0.30
    deprivation_F: float = 0.40
    deprivation_G: float = 0.15
    climate_A: float = 0.9
    climate_F: float = 0.5
    family_A: float = 0.3  # shared family factor
    family_F: float = 0.5
    sen_G: float = 1.1
    sen_A: float = 0.3
    language_mismatch_G: float = 0.6
    male_G: float = 0.25
    male_A: float = 0.1
    migrant_F: float = 0.5
    school_climate_sd: float = 0.35
    school_hazard_sd: float = 0.25
    school_grading_sd: float = 0.30
    # hazard
    beta: tuple[float, float, float, float] = (1.0, 0.9, 0.85, 1.0)
    # stage-specific slopes: multipliers of beta's A, G and F entries by grade band
    # (1-3, 4-6, 7-9, 10-12). Young pupils leave school when their family
    # disengages; in the upper grades (not compulsory) a pupil's own attendance
    # disengagement weighs most and the family's least.
    slope_by_band: tuple[tuple[float, float, float], ...] = (
        (0.6, 1.0, 1.4), (0.8, 1.0, 1.2), (1.0, 1.0, 0.95), (1.35, 0.9, 0.6),
    )
    hazard_base: tuple[float, ...] = (
        0.0, -9.83, -9.83, -9.73, -9.58, -9.48, -9.28, -7.94, -7.74, -7.64, -7.59, -7.69, -7.89,
    )
    month_effect: tuple[float, ...] = (-0.3, 0.0, 0.1, 0.15, 0.3, 0.1, 0.0, -0.1, -0.35)
    hazard_cap: float = 0.9
    # regime outcome_shift (._regimes): log-hazard shift of this school year and the next
    regime_log_hazard: tuple[float, float] = (0.0, 0.0)
    # transitions
    shock_decay: float = 0.85
    shock_transfer: float = 2.1
    shock_summer_transfer: float = 0.9
    shock_repeat: float = 1.3
    shock_stage: float = 0.3
    overage_weight: float = 0.7
    transfer_month: float = 0.0025
    transfer_summer: float = 0.035
    mobility_sd: float = 0.6
    migrant_mobility: float = 0.7
    emigration_month: float = 0.0008
    migrant_emigration: float = 1.2
    # grades
    grade_intercept: float = 7.1
    grade_gamma: float = 1.25
    pupil_subject_sd: float = 0.7
    formative_sd: float = 1.1
    term_sd: float = 0.5
    year_sd: float = 0.7
    summative_share: float = 0.35
    repeat_prob: float = 0.55
    liecība_repeat: float = 0.35
    continue_intercept: float = 0.75
    continue_slope: float = -0.8
    # attendance
    absence_intercept: float = -4.4
    absence_slope: float = 1.35
    absence_age: float = 0.05
    unexcused_share: float = 0.7
    illness_start: float = 0.0105
    illness_mean_days: float = 3.0
    # engagement (events per month for an average family)
    login_rate: float = 3.0
    read_rate: float = 1.6
    unanswered_rate: float = 0.25
    invite_rate: float = 0.15
    consultation_rate: float = 0.03
    contact_failed_rate: float = 0.025
    # population
    cohort_decline: float = 0.975
    immigration_share: float = 0.004
    # --- support (see riskmodel.datasets._support). Kinds in the order of SUPPORT_SIM_KINDS.
    # Roster: mentors per 200,000 pupils in the first year (the programme had about 117),
    # multiplied by ``mentor_growth`` for every later year (new mentors join; nobody leaves);
    # the other kinds are sized by make_resources' default coverage of the first year's demand
    # (subject consultants: of each year's pupils with a liecība, from the second year on).
    mentors_national: float = 117.0
    mentor_growth: float = 1.2
    # Referral, each school month and kind: the school sees a noisy version
    # (``referral_noise_sd``) of last month's latent state (what absences, grades and a
    # teacher's concern show) and refers with probability
    # expit(intercept + slope * signal + school effect + municipality effect); referred
    # pupils get a free place of the kind in their municipality (support staff: school)
    # in random order, while places last. Signals: mentor max(A, F); literacy and subject
    # G; support staff max(A, G, F).
    referral_intercept: tuple[float, float, float, float] = (-4.4, -4.4, -1.5, -4.6)
    referral_slope: tuple[float, float, float, float] = (1.4, 1.3, 1.0, 1.3)
    referral_noise_sd: float = 0.6
    referral_school_sd: float = 0.6
    referral_mun_sd: float = 0.4
    # Duration in school months: uniform between the bounds (cut at the end of May).
    duration_months: tuple[tuple[int, int], ...] = ((3, 6), (2, 3), (1, 2), (2, 3))
    # Effect on the latent processes while support is active: latent process d of a pupil
    # is lowered by ``effect_max[kind][d] * response(m_d)`` (A, G, F), where m_d is the
    # pupil's persistent excess ``max(mu_d, 0)`` and
    # ``response(m) = ((m / response_peak) * exp(1 - m / response_peak)) ** response_power``:
    # 0 without a difficulty in that process, 1 at ``response_peak`` latent units, and
    # falling again for entrenched difficulty (risk is not benefit). A mentor works on
    # attendance and family disengagement, not on academic difficulty; literacy and
    # subject consultations on academic difficulty; support staff (psychologist, social
    # pedagogue) a little on attendance and family disengagement.
    effect_max: tuple[tuple[float, float, float], ...] = (
        (0.7, 0.0, 0.6), (0.0, 0.6, 0.0), (0.0, 0.5, 0.0), (0.3, 0.0, 0.3),
    )
    response_peak: float = 1.5
    response_power: float = 3.0
    # "uniform" world: every eligible pupil gets ``effect_max * uniform_response[kind]``,
    # about the mean response of the pupils referred in the heterogeneous world (measured
    # at 20,000 pupils x 2 years, seed 0: mentor 0.16 on A and 0.19 on F, literacy 0.14,
    # subject 0.46, support staff 0.12 on A and F)
    uniform_response: tuple[float, float, float, float] = (0.17, 0.14, 0.46, 0.12)
    # after support ends its effect on the latent process decays by this factor a month
    support_carry: float = 0.7
    # a subject consultation during the school year adds ``subject_continue *
    # response(m_G)`` (uniform world: ``* uniform_response``) to the logit of continuing
    # after grade 9 (with the certificate: to grade 10; with a liecība: repeating grade 9);
    # the uniform world uses ``uniform_response[subject]``
    subject_continue: float = 1.0

    def beta_by_grade(self) -> np.ndarray:
        """Slopes of the log-hazard on (A, G, F, T) for grades 0-12, shape (13, 4)."""
        table = np.tile(np.asarray(self.beta, dtype=np.float64), (13, 1))
        mult = np.asarray(self.slope_by_band, dtype=np.float64)
        grades = np.arange(1, 13)
        table[1:, :3] *= mult[band_of(grades)]
        return table

    def to_dict(self) -> dict:
        """Plain dict of all coefficients (for ``SchoolSystem.config``)."""
        return asdict(self)

