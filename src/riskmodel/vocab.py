"""The controlled vocabularies of the data contract (``docs/data_contract.md``).

These constants are the single source of truth for codes that the validation,
the synthetic school system, the features, the labels and the explanations all
share; other modules derive their lists from them rather than repeat them.
"""

from __future__ import annotations

TABLES = ("pupils", "enrolments", "attendance", "grades", "engagement", "support", "schools")
REQUIRED_TABLES = ("pupils", "enrolments")

END_REASONS = (
    "completed",
    "completed_certificate",
    "completed_liecība",
    "transferred",
    "left",
    "expelled",
    "emigrated",
    "other",
)
#: enrolment end reasons that count as early leaving (default outcome);
#: "emigrated" is configurable in the label config.
LEAVING_END_REASONS = ("left", "expelled", "other")

ATTENDANCE_STATUSES = ("present", "late", "absent_excused", "absent_unexcused")

#: 10-point scale (4 is the lowest pass), learning levels of grades 1-3
#: (S = sācis "started", T = turpina "continuing", A = apguvis "achieved",
#: P = padziļināti "advanced"), "nv" not assessed, "i"/"ni" pass/fail.
NUMERIC_GRADES = tuple(str(g) for g in range(1, 11))
LEARNING_LEVELS = ("S", "T", "A", "P")
GRADE_VALUES = NUMERIC_GRADES + LEARNING_LEVELS + ("nv", "i", "ni")
PASS_MARK = 4
GRADE_KINDS = ("formative", "summative", "term", "year", "exam")

ENGAGEMENT_EVENTS = (
    "parent_login",
    "message_read",
    "message_unanswered",
    "meeting_invited",
    "meeting_attended",
    "consultation",
    "contact_failed",
)

SUPPORT_KINDS = (
    "mentor",
    "literacy",
    "subject",
    "support_staff",
    "psychologist",
    "social_pedagogue",
    "teacher_assistant",
    "family",
    "other",
)

SEXES = ("F", "M")

#: subject codes used by the synthetic system; "latvian" and "mathematics" are
#: the core subjects that features and the rule baseline single out.
CORE_SUBJECTS = ("latvian", "mathematics")

#: feature domains, in the order of the feature registry and of explanations
DOMAINS = ("attendance", "grades", "engagement", "transitions", "context")
#: the domains that follow from a pupil's own records ("context" is the school's
#: and municipality's); the synthetic system's latent processes, in this order
RECORD_DOMAINS = tuple(d for d in DOMAINS if d != "context")
AUDIT_ATTRIBUTES = ("sex", "home_language", "migrant_background", "special_needs")

MIN_GRADE_LEVEL, MAX_GRADE_LEVEL = 1, 12
MIN_DATE, MAX_DATE = "1990-01-01", "2100-12-31"
