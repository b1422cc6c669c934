"""Family-engagement features (private)."""

from __future__ import annotations

import numpy as np

from .. import vocab
from .._columns import category_codes
from . import _kernels as K
from ._common import Bins, event_arrays, frozen, ratio

#: events that show a working contact between school and family
CONTACT_EVENTS = ("parent_login", "message_read", "meeting_attended", "consultation")
#: days_since_parent_contact is capped here (no contact within a year)
CONTACT_CAP_DAYS = 365
_E = {e: i for i, e in enumerate(vocab.ENGAGEMENT_EVENTS)}
assert vocab.ENGAGEMENT_EVENTS[:7] == (
    "parent_login", "message_read", "message_unanswered", "meeting_invited",
    "meeting_attended", "consultation", "contact_failed",
), "the engagement kernel hard-codes these event codes"


def compute_all(tables, config, ctxs, lo: int, hi: int) -> list[dict] | None:
    arrays = event_arrays(tables, "engagement", ["pupil_id", "date", "event"])
    if arrays is None:
        return None
    df, pupil, ticks, per_day = arrays
    n = len(tables.pupils)
    event = category_codes(df["event"], vocab.ENGAGEMENT_EVENTS, dtype=np.int8)
    bins = Bins(lo, hi, [x for c in ctxs for x in (c.as_day - 365, c.as_day - 90,
                                                    c.as_day - 28, c.as_day)])
    acc, last_contact = K.engagement_pass(
        frozen(pupil, np.int32), frozen(ticks, np.int64), np.int64(per_day),
        frozen(event, np.int8), frozen(bins.bin_of, np.int32), np.int64(lo), np.int64(hi),
        np.int64(n), np.int64(bins.n),
    )
    out = []
    for ctx in ctxs:
        rows, a = ctx.rows, ctx.as_day

        spans = (28, 90, 365)
        starts = np.array([bins.idx(a - d) for d in spans], dtype=np.int64)
        ends = np.full(len(spans), bins.idx(a), dtype=np.int64)
        W = K.window_sums(acc, frozen(rows, np.int64), frozen(starts, np.int64),
                          frozen(ends, np.int64)).astype(np.float64)

        def q(event, days):
            return W[spans.index(days), _E[event]]

        f = {
            "parent_logins_28d": q("parent_login", 28),
            "parent_logins_90d": q("parent_login", 90),
            "messages_read_28d": q("message_read", 28),
            "messages_read_90d": q("message_read", 90),
            "messages_unanswered_90d": q("message_unanswered", 90),
            "contacts_failed_90d": q("contact_failed", 90),
        }
        # 1 + day - lo of the latest contact, 0 = none
        last = K.window_extreme(last_contact, frozen(rows, np.int64),
                                np.int64(starts[2]), np.int64(ends[2]), np.int64(0), True)
        since = np.where(last > 0, a - (last - 1 + lo), CONTACT_CAP_DAYS)
        f["days_since_parent_contact"] = np.minimum(since, CONTACT_CAP_DAYS).astype(np.float64)
        f["meeting_attendance_share_365d"] = np.minimum(
            ratio(q("meeting_attended", 365), q("meeting_invited", 365)), 1.0
        )
        out.append(f)
    return out
