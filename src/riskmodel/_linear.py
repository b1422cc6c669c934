"""The linear part a RiskModel can start its boosting from.

An L2-penalised logistic regression whose coefficients may be bounded in sign (the
registry's directions), fitted on the float matrix the booster sees and kept as an
additive scorecard: one function of one column each, plus an intercept. That form is
saved as JSON (never pickle), predicts with a few numpy operations and explains itself
exactly: each column's contribution is its score minus its mean score in training.

scikit-learn's ``LogisticRegression`` cannot bound the sign of a coefficient, so the
optimisation is scipy's L-BFGS-B on the same objective (``tests/test_linear.py`` checks
that without bounds it finds scikit-learn's coefficients).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from threadpoolctl import threadpool_limits

__all__ = ["LinearScorecard"]


class LinearScorecard:
    """Penalised logistic regression on a float matrix, kept as one score function per column.

    Numeric columns: missing values imputed with the training median, plus a missing-value
    indicator unless the column has a direction; values clipped to the training range (no
    extrapolation), standardised. A column with a direction gets no indicator so that its
    score is monotone in the value with missing at the median: an indicator would move
    the training mean, and a pupil with no failing subjects could then be explained as
    "failing subjects: 0 - raises risk" merely for not being missing. (The trees boosted
    on top still see missing values as such.)
    Categorical columns (integer level codes, NaN for missing or unseen): one indicator per
    level seen at least ``min_frequency`` times, one for all rarer levels together, one for
    missing; a level not seen at fit scores like a missing value. Then
    ``min sum_i w_i logloss_i + ||beta||^2 / (2 C)`` with the intercept unpenalised, the
    coefficient of a numeric column bounded to the sign of its direction (+1: >= 0,
    -1: <= 0, 0: free).

    Parameters
    ----------
    C : float, default=1.0
        Inverse L2 strength (as in scikit-learn's ``LogisticRegression``).
    min_frequency : int, default=10
        Levels seen fewer times share one coefficient.

    Attributes
    ----------
    intercept_ : float
    columns_ : list of dict
        One score function per column (``kind`` numeric: ``slope``, ``lo``, ``hi``,
        ``missing``; ``kind`` categorical: ``values`` per level code, ``missing``).
    center_ : list of float
        Each column's mean score in training (the base of :meth:`contributions`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> matrix = np.column_stack([rng.normal(size=200), rng.integers(0, 3, 200)])
    >>> y = (matrix[:, 0] + rng.normal(size=200) > 0).astype(float)
    >>> card = LinearScorecard().fit(matrix, [False, True], y, np.ones(200), directions=[1, 0])
    >>> card.columns_[0]["slope"] > 0, card.columns_[1]["kind"]
    (True, 'categorical')
    """

    def __init__(self, C=1.0, min_frequency=10):
        self.C = float(C)
        self.min_frequency = int(min_frequency)

    # ------------------------------------------------------------------ design
    def _design(self, matrix, categorical, weight, directions):
        """The design: a dense standardised numeric block, a sparse 0/1 category block.

        Returns the two blocks, the per-column specs (where each input column's
        coefficients sit), the numeric block's shift and scale and which of its
        columns are constant.
        """
        from scipy import sparse

        n, p = matrix.shape
        num_cols, rows, cat_index, specs = [], [], [], []
        n_cat = 0
        for j in range(p):
            x = matrix[:, j]
            missing = np.isnan(x)
            if categorical[j]:
                codes = np.where(missing, -1, x).astype(np.int64)
                counts = np.bincount(codes[~missing], minlength=1)
                frequent = np.flatnonzero(counts >= self.min_frequency)
                rare = np.flatnonzero((counts > 0) & (counts < self.min_frequency))
                # design column of each code: frequent levels their own, rare ones shared, missing its own
                column = np.full(len(counts), -1, dtype=np.int64)
                column[frequent] = n_cat + np.arange(len(frequent))
                k = n_cat + len(frequent)
                if rare.size:
                    column[rare] = k
                    k += 1
                target = np.where(missing, k, column[np.maximum(codes, 0)])
                if missing.any():
                    k += 1
                rows.append(np.flatnonzero(target >= 0))
                cat_index.append(target[target >= 0])
                specs.append({"kind": "categorical", "start": n_cat, "stop": k, "frequent": frequent.tolist(),
                              "rare": rare.tolist(), "missing": bool(missing.any())})
                n_cat = k
            else:
                present = x[~missing]
                median = float(np.median(present)) if present.size else 0.0
                specs.append({"kind": "numeric", "start": len(num_cols), "median": median,
                              "lo": float(present.min()) if present.size else 0.0,
                              "hi": float(present.max()) if present.size else 0.0,
                              # a column with a direction gets no indicator (see the class notes)
                              "missing": bool(missing.any()) and directions[j] == 0})
                num_cols.append(np.where(missing, median, x))
                if specs[-1]["missing"]:
                    num_cols.append(missing.astype(np.float64))
                specs[-1]["stop"] = len(num_cols)
        dense = np.column_stack(num_cols) if num_cols else np.empty((n, 0))
        wsum = weight.sum()
        constant = (dense.max(axis=0) == dense.min(axis=0)) if n else np.ones(dense.shape[1], dtype=bool)
        shift = weight @ dense / wsum
        sd = np.sqrt(weight @ (dense - shift) ** 2 / wsum)
        scale = np.where(constant, 1.0, sd)
        dense = (dense - shift) / scale
        dense[:, constant] = 0.0  # a constant column carries nothing
        r = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
        c = np.concatenate(cat_index) if cat_index else np.empty(0, dtype=np.int64)
        onehot = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, n_cat))
        return dense, onehot, specs, shift, scale, constant

    # ------------------------------------------------------------------ fit
    def fit(self, matrix, categorical, y01, weight, directions=None):
        """Fit on ``matrix`` (float64, n x p) with 0/1 target and row weights.

        Parameters
        ----------
        matrix : ndarray of shape (n, p)
        categorical : sequence of bool, length p
            Columns holding integer level codes.
        y01 : ndarray of shape (n,)
        weight : ndarray of shape (n,)
        directions : sequence of int or None
            Per column +1, -1 or 0: the sign a numeric column's coefficient may take.

        Returns
        -------
        self

        Examples
        --------
        See :class:`LinearScorecard`.
        """
        matrix = np.asarray(matrix, dtype=np.float64)
        y = np.asarray(y01, dtype=np.float64)
        w = np.asarray(weight, dtype=np.float64)
        directions = [0] * matrix.shape[1] if directions is None else [int(d) for d in directions]
        dense, onehot, specs, shift, scale, constant = self._design(matrix, categorical, w, directions)
        d_num, d_cat = dense.shape[1], onehot.shape[1]
        bounds = [(None, None)] * (d_num + d_cat + 1)
        for spec, direction in zip(specs, directions):
            if spec["kind"] == "numeric" and direction != 0:
                bounds[spec["start"]] = (0.0, None) if direction > 0 else (None, 0.0)
        for k in np.flatnonzero(constant):
            bounds[k] = (0.0, 0.0)
        penalty = 1.0 / self.C
        onehot_t = onehot.T.tocsr()

        def loss(theta):
            beta = theta[:-1]
            z = dense @ beta[:d_num] + onehot @ beta[d_num:] + theta[-1]
            value = float(w @ (np.logaddexp(0.0, z) - y * z)) + 0.5 * penalty * float(beta @ beta)
            r = w * (expit(z) - y)
            grad = np.empty_like(theta)
            grad[:d_num] = dense.T @ r
            grad[d_num:-1] = onehot_t @ r
            grad[:-1] += penalty * beta
            grad[-1] = r.sum()
            return value, grad

        prior = float(np.clip((w @ y) / w.sum(), 1e-6, 1 - 1e-6))
        theta0 = np.zeros(d_num + d_cat + 1)
        theta0[-1] = np.log(prior / (1 - prior))
        # one BLAS thread: thousands of small products, where threads only wait on each
        # other (and, beside LightGBM or a second process, on the cores)
        with threadpool_limits(1, user_api="blas"):
            res = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                           options={"maxiter": 5000, "gtol": 1e-7, "ftol": 1e-13})
        self.n_iter_ = int(res.nit)
        self.converged_ = bool(res.success)

        # back to one score function per input column; constants folded into the intercept
        coef_num = res.x[:d_num] / scale
        coef_cat = res.x[d_num:-1]
        self.intercept_ = float(res.x[-1] - coef_num @ shift)
        self.columns_ = []
        for spec in specs:
            if spec["kind"] == "numeric":
                c = coef_num[spec["start"]:spec["stop"]]
                slope = float(c[0])
                missing_value = slope * spec["median"] + (float(c[1]) if spec["missing"] else 0.0)
                self.columns_.append({"kind": "numeric", "slope": slope, "lo": spec["lo"], "hi": spec["hi"],
                                      "missing": missing_value})
            else:
                c = coef_cat[spec["start"]:spec["stop"]]
                levels = spec["frequent"] + spec["rare"]
                values = np.zeros(max(levels) + 1 if levels else 0)
                values[spec["frequent"]] = c[: len(spec["frequent"])]
                k = len(spec["frequent"])
                if spec["rare"]:
                    values[spec["rare"]] = c[k]
                    k += 1
                missing_value = float(c[k]) if spec["missing"] else 0.0
                self.columns_.append({"kind": "categorical", "values": values.tolist(), "missing": missing_value})
        scores = self._column_scores(matrix)
        self.center_ = (w @ scores / w.sum()).tolist()
        return self

    # ------------------------------------------------------------------ predict
    def _column_scores(self, matrix):
        n = matrix.shape[0]
        out = np.empty((n, len(self.columns_)))
        for j, col in enumerate(self.columns_):
            x = matrix[:, j]
            missing = np.isnan(x)
            if col["kind"] == "numeric":
                out[:, j] = np.where(missing, col["missing"],
                                     col["slope"] * np.clip(np.nan_to_num(x), col["lo"], col["hi"]))
            else:
                values = np.asarray(col["values"], dtype=np.float64)
                codes = np.where(missing, -1, x).astype(np.int64)
                known = (codes >= 0) & (codes < len(values))
                out[:, j] = np.where(known, values[np.where(known, codes, 0)] if len(values) else 0.0,
                                     col["missing"])
        return out

    def decision_function(self, matrix):
        """Log-odds of the linear part for each row of ``matrix``.

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> matrix, y = make_classification(n_samples=200, n_features=3, n_redundant=0, random_state=0)
        >>> card = LinearScorecard().fit(matrix, [False] * 3, y, weight=[1.0] * 200)
        >>> card.decision_function(matrix).shape
        (200,)
        """
        return self.intercept_ + self._column_scores(np.asarray(matrix, dtype=np.float64)).sum(axis=1)

    def contributions(self, matrix):
        """Exact per-column contributions (log-odds) and the expected value they add to.

        ``contributions.sum(axis=1) + expected_value == decision_function(matrix)``.

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> matrix, y = make_classification(n_samples=200, n_features=3, n_redundant=0, random_state=0)
        >>> card = LinearScorecard().fit(matrix, [False] * 3, y, weight=[1.0] * 200)
        >>> values, base = card.contributions(matrix)
        >>> float(abs(values.sum(axis=1) + base - card.decision_function(matrix)).max()) < 1e-12
        True
        """
        scores = self._column_scores(np.asarray(matrix, dtype=np.float64))
        center = np.asarray(self.center_, dtype=np.float64)
        return scores - center, float(self.intercept_ + center.sum())

    # ------------------------------------------------------------------ JSON
    def to_dict(self):
        """The fitted scorecard as a JSON-safe dict (read back by :meth:`from_dict`).

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> matrix, y = make_classification(n_samples=200, n_features=3, n_redundant=0, random_state=0)
        >>> card = LinearScorecard().fit(matrix, [False] * 3, y, weight=[1.0] * 200)
        >>> again = LinearScorecard.from_dict(card.to_dict())
        >>> bool((again.decision_function(matrix) == card.decision_function(matrix)).all())
        True
        """
        return {"C": self.C, "min_frequency": self.min_frequency, "intercept": self.intercept_,
                "columns": self.columns_, "center": self.center_}

    @classmethod
    def from_dict(cls, data):
        """The scorecard written by :meth:`to_dict`.

        Examples
        --------
        See :meth:`to_dict`.
        """
        out = cls(C=data["C"], min_frequency=data["min_frequency"])
        out.intercept_ = float(data["intercept"])
        out.columns_ = [dict(c) for c in data["columns"]]
        out.center_ = [float(v) for v in data["center"]]
        return out
