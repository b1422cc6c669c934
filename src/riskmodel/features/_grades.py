"""Grade features (private)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import vocab
from .._columns import category_codes
from . import _kernels as K
from ._common import Bins, event_arrays, frozen, ratio

_G = {g: i for i, g in enumerate(vocab.GRADE_VALUES)}
assert vocab.GRADE_VALUES[:10] == vocab.NUMERIC_GRADES and _G["S"] == 10 and _G["nv"] == 14
assert vocab.GRADE_KINDS.index("term") == 2 and vocab.GRADE_KINDS.index("year") == 3


def compute_all(tables, config, ctxs, lo: int, hi: int) -> list[dict] | None:
    arrays = event_arrays(tables, "grades", ["pupil_id", "date", "subject", "grade"])
    if arrays is None:
        return None
    df, pupil, ticks, per_day = arrays
    n = len(tables.pupils)
    subj = df["subject"]
    if not isinstance(subj.dtype, pd.CategoricalDtype):
        subj = subj.astype("category")
    subjects = [str(s).lower() for s in subj.cat.categories]
    n_slots = len(subjects) + 1  # the last slot: grades without a subject
    subject = subj.cat.codes.to_numpy()
    grade = category_codes(df["grade"], vocab.GRADE_VALUES, dtype=np.int8)
    if "kind" in df.columns:
        kind = category_codes(df["kind"], vocab.GRADE_KINDS, dtype=np.int8)
    else:
        kind = np.zeros(len(df), dtype=np.int8)
    # boundaries of the 90-day windows (the school-year sums use the coarser
    # ``sbins``; the 365-day look-back of the last term grade is a day limit)
    bins = Bins(lo, hi, [x for c in ctxs for x in (c.as_day - 90, c.as_day)])
    # school-year sums only need the school-year starts and the as_of dates
    sbins = Bins(lo, hi, [x for c in ctxs for x in (c.ys_day, c.as_day)])
    acc90, acc, low, subj_acc = K.grades_pass(
        frozen(pupil, np.int32), frozen(ticks, np.int64), np.int64(per_day),
        frozen(subject, np.int32), frozen(grade, np.int8), frozen(kind, np.int8),
        frozen(bins.bin_of, np.int32), np.int64(lo), np.int64(hi), np.int64(n),
        np.int64(bins.n), np.int64(n_slots), frozen(sbins.bin_of, np.int32),
        np.int64(sbins.n),
    )
    core = {s: (subjects.index(s) if s in subjects else -1) for s in vocab.CORE_SUBJECTS}
    return [_features(acc90, acc, low, subj_acc, ctx, bins, sbins, core) for ctx in ctxs]


def _features(acc90, acc, low, subj_acc, ctx, bins, sbins, core) -> dict[str, np.ndarray]:
    rows, a, ys = ctx.rows, ctx.as_day, ctx.ys_day
    i_a, i90 = bins.idx(a), bins.idx(a - 90)
    frows = frozen(rows, np.int64)
    W90 = K.window_sums(acc90, frows, frozen(np.array([i90], dtype=np.int64), np.int64),
                        frozen(np.array([i_a], dtype=np.int64), np.int64))[0]
    Wys = K.window_sums(acc, frows, frozen(np.array([sbins.idx(ys)], dtype=np.int64), np.int64),
                        frozen(np.array([sbins.idx(a)], dtype=np.int64), np.int64))[0]
    # W90, Wys: (quantities, pupils)
    out: dict[str, np.ndarray] = {}
    out["grade_mean_90d"] = ratio(W90[K.G_VAL], W90[K.G_NUM])
    mn = K.window_extreme(low, frozen(rows, np.int64), np.int64(i90), np.int64(i_a),
                          np.int64(99), False).astype(np.float64)
    mn[mn == 99] = np.nan
    out["grade_min_90d"] = mn
    n_, v_ = Wys[K.G_NUM], Wys[K.G_VAL]
    out["grade_mean_ytd"] = ratio(v_, n_)
    t_, t2_, tv_ = Wys[K.G_T], Wys[K.G_T2], Wys[K.G_TV]
    slope = ratio(n_ * tv_ - t_ * v_, n_ * t2_ - t_ * t_) * 30.0
    slope[n_ < 3] = np.nan
    out["grade_trend_ytd"] = slope
    # per subject: this school year, and the latest term/year grade within 365 days
    core_slots = np.array(list(core.values()), dtype=np.int64)
    core_num, core_val, counts = K.grades_subjects(
        subj_acc, frozen(rows, np.int64), np.int64(sbins.idx(ys)), np.int64(sbins.idx(a)),
        np.int64(a - 365 - bins.lo), frozen(core_slots, np.int64), np.int64(vocab.PASS_MARK),
        np.int64(_G["nv"]), np.int64(_G["ni"]),
    )
    for c, (subject, slot) in enumerate(core.items()):
        col = f"grade_mean_{subject}_ytd"
        out[col] = (np.full(len(rows), np.nan) if slot < 0
                    else ratio(core_val[:, c], core_num[:, c]))
    has_num = n_ > 0
    out["subjects_below_pass_ytd"] = np.where(has_num, counts[:, 0], np.nan)
    # projected year grade below 4: the subject mean rounds below 4 (mean < 3.5)
    out["grade9_subjects_below_pass_projected"] = np.where(
        (ctx.grade == 9) & has_num, counts[:, 1], np.nan
    )
    out["nv_marks_ytd"] = np.where(Wys[K.G_ANY] > 0, Wys[K.G_NV], np.nan)
    out["learning_level_s_share_ytd"] = ratio(Wys[K.G_SLVL], Wys[K.G_LVL])
    out["subjects_below_pass_last_term"] = np.where(counts[:, 2] > 0, counts[:, 3], np.nan)
    return out
