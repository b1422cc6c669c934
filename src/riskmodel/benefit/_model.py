"""BenefitModel: who benefits from which support (private; see :mod:`riskmodel.benefit`)."""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .._checks import check_int, check_option, check_real
from ..errors import ModelFileError
from ._dr import (aipw_scores, binned, fold_ids, lgb_small, nuisance_fold_ids, overlap,
                  train_rows)
from ._trial import SIM_KINDS, target_trial

logger = logging.getLogger(__name__)

__all__ = ["BenefitModel"]

FORMAT_VERSION = 1
META_FILE = "benefit.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BenefitModel:
    """Expected reduction of P(early leaving) if support of each kind starts now.

    A cross-fitted, multi-arm doubly robust learner on target-trial rows (see
    :mod:`riskmodel.benefit`): per kind, AIPW pseudo-outcomes from LightGBM
    propensity and outcome models fitted on other schools' folds, overlap checks
    with Crump trimming, then LightGBM effect models on the negated pseudo-outcome.

    Parameters
    ----------
    kinds : sequence of str or None
        Kinds of support (default: mentor, literacy, subject, support_staff).
    window_days : int, default 30
        Support starting within this many days after ``as_of`` is treatment.
    horizon_days : int, default 365
        Outcome window (early leaving within the horizon).
    n_folds : int, default 5
        Cross-fitting folds.
    nuisance_folds : {"pupil", "school"}, default "pupil"
        What the nuisance (propensity, outcome) folds keep whole. Support staff
        and places are school and municipality resources, so who is referred
        depends on the school; with whole schools held out, the propensity of a
        held-out school cannot be learnt (measured on a 3,000-pupil "none"
        system: mean out-of-fold ``e`` 0.0002 for the support-staff treated, 0.011
        for the untreated, and an AIPW average effect of +0.036 where the truth
        is 0; with pupil folds 0.046 against 0.004 and -0.011). So by default a
        pupil's rows (all dates) stay in one fold and schools are shared; the
        effect models' folds (and so :meth:`effect_interval`) and the
        evaluation's bootstrap keep whole schools.
    alpha : "asymmetric", "crump" or float, default "asymmetric"
        Propensity trimming (:mod:`riskmodel.benefit._dr`): asymmetric (Stürmer et al.;
        ``e`` between the treated's 1st and the untreated's 99th percentile), Crump
        et al.'s optimal bound, or a fixed ``alpha`` (``e`` in ``[alpha, 1 - alpha]``).
    min_treated, min_ess : int, float
        An arm fails overlap (is not estimated) with fewer treated rows after
        trimming, or a smaller Kish effective sample size of either group's weights.
    n_estimators : int, default 150
        Boosting rounds of every nuisance and effect model.
    random_state : int, default 0
    n_jobs : int, default 1
        LightGBM threads.

    Attributes
    ----------
    arms_ : dict kind -> dict
        Per arm: ``estimated`` (bool), ``reason`` (why not), the overlap summary
        (``trim`` bounds, rows, treated, ``ess_treated``, ``ess_untreated``,
        ``e_quantiles``) and ``ate_benefit`` (mean of the trimmed -psi, the AIPW
        average benefit) with its school-clustered standard error ``ate_se``.
    feature_names_ : list of str

    Notes
    -----
    ``benefit_<kind>`` is positive when the support *lowers* P(leave) (fewer
    leavings), in probability units over the horizon. Effects are given for every
    row; eligibility (age, grade, liecība) is the allocation's to apply.

    :meth:`effect_interval` reports the spread of the ``n_folds`` effect models,
    each fitted leaving out one fold of schools: a delete-a-group jackknife of the
    effect model over schools, ``mean ± z * sqrt((K-1)/K * sum (f_k - mean)^2)``.
    It measures how much the estimate depends on which schools were in the
    sample; it holds the nuisance models fixed and is not a guaranteed-coverage
    confidence interval for the true conditional effect.

    Examples
    --------
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=1500, n_years=2, random_state=0)
    >>> model = rm.BenefitModel(kinds=["literacy"], n_folds=3, n_estimators=20, min_treated=20,
    ...                         min_ess=10)
    >>> model = model.fit(world.tables, ["2022-10-03", "2022-11-01", "2022-12-01", "2023-01-03"])
    >>> model.arms_["literacy"]["estimated"], model.arms_["literacy"]["n_treated"] >= 20
    (True, True)
    >>> X = rm.build_features(world.tables, "2023-02-01")
    >>> list(model.effect(X).columns)
    ['benefit_literacy']
    """

    def __init__(self, kinds=None, window_days=30, horizon_days=365, n_folds=5,
                 nuisance_folds="pupil", alpha="asymmetric", min_treated=50, min_ess=30.0,
                 n_estimators=150, random_state=0, n_jobs=1):
        self.kinds = kinds
        self.window_days = window_days
        self.horizon_days = horizon_days
        self.n_folds = n_folds
        self.nuisance_folds = nuisance_folds
        self.alpha = alpha
        self.min_treated = min_treated
        self.min_ess = min_ess
        self.n_estimators = n_estimators
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ params
    def _check(self):
        f = "BenefitModel"
        kinds = list(SIM_KINDS) if self.kinds is None else list(self.kinds)
        bad = [k for k in kinds if k not in SIM_KINDS]
        if bad or not kinds:
            raise ValueError(f"The 'kinds' parameter of {f} must list kinds among "
                             f"{list(SIM_KINDS)}. Got {self.kinds!r} instead.")
        check_int(self.window_days, "window_days", f, min_value=1)
        check_int(self.horizon_days, "horizon_days", f, min_value=1)
        check_int(self.n_folds, "n_folds", f, min_value=2)
        check_option(self.nuisance_folds, "nuisance_folds", ("pupil", "school"), f)
        check_int(self.min_treated, "min_treated", f, min_value=1)
        check_int(self.n_estimators, "n_estimators", f, min_value=1)
        check_int(self.n_jobs, "n_jobs", f, min_value=1)
        check_real(self.min_ess, "min_ess", f, low=0)
        if self.alpha not in ("asymmetric", "crump"):
            check_real(self.alpha, "alpha", f, low=0, high=0.5)
        return kinds

    def get_params(self):
        """The constructor's parameters (a dict, as in scikit-learn)."""
        names = ("kinds", "window_days", "horizon_days", "n_folds", "nuisance_folds", "alpha",
                 "min_treated", "min_ess", "n_estimators", "random_state", "n_jobs")
        return {k: getattr(self, k) for k in names}

    # --------------------------------------------------------------------- fit
    def fit(self, tables, as_of_dates, kinds=None):
        """Fit on the target trials at ``as_of_dates`` of ``tables``; return self.

        An arm whose overlap fails raises a ``UserWarning`` naming the arm and why,
        and is not estimated (its ``benefit_<kind>`` is NaN).
        """
        if kinds is not None:
            self.kinds = kinds
        kinds = self._check()
        trial = target_trial(tables, as_of_dates, kinds=kinds, window_days=self.window_days,
                             horizon_days=self.horizon_days)
        return self._fit_trial(trial, kinds)

    def _fit_trial(self, trial, kinds):
        seed = int(self.random_state or 0)
        self.feature_names_ = [str(c) for c in trial.X.columns]
        X = trial.X.to_numpy(dtype=np.float64)
        folds = fold_ids(trial.school, self.n_folds, seed)
        nfolds = nuisance_fold_ids(trial, self.nuisance_folds, self.n_folds, seed)
        self.arms_, self.boosters_ = {}, {}
        for k in kinds:
            rows = trial.in_arm[k].to_numpy()
            t = trial.treated[k].to_numpy(dtype=np.float64)[rows]
            y = trial.y[rows]
            Xk = X[rows]
            others = trial.ongoing.drop(columns=[f"ongoing_{k}"]).to_numpy(dtype=np.float64)[rows]
            info = {"estimated": False, "reason": None, "n_rows": int(rows.sum()),
                    "n_treated_all": int(t.sum())}
            if t.sum() < self.min_treated:
                info["reason"] = (f"too few treated rows: {int(t.sum())} < "
                                  f"min_treated={self.min_treated}")
            else:
                s = aipw_scores(np.column_stack([Xk, others]), t, y, nfolds[rows], seed=seed,
                                n_jobs=self.n_jobs, rounds=self.n_estimators)
                ov = overlap(s["e"], t, alpha=self.alpha, min_treated=self.min_treated,
                             min_ess=self.min_ess)
                keep = ov.pop("keep")
                info.update(ov)
                info["estimated"] = ov["ok"]
                info.pop("ok")
                if ov["ok"]:
                    benefit = -s["psi"][keep]
                    info.update(_clustered_mean(benefit, trial.school[rows][keep]))
                    self.boosters_[k] = self._effect_models(Xk[keep], benefit,
                                                            folds[rows][keep], seed)
            if not info["estimated"]:
                warnings.warn(f"BenefitModel: the {k!r} arm is not estimated, overlap fails "
                              f"({info['reason']}); benefit_{k} is NaN.", UserWarning,
                              stacklevel=3)
            self.arms_[k] = info
        self.kinds_ = list(kinds)
        return self

    def _effect_models(self, X, target, folds, seed):
        """One effect model per left-out fold of schools (the jackknife of the interval)."""
        out, data = [], None
        for f in np.unique(folds):
            train = folds != f
            params = lgb_small("regression", int(train.sum()), seed + 100 + int(f), self.n_jobs,
                               num_leaves=7, learning_rate=0.03,
                               min_child_samples=int(max(50, train.sum() // 50)))
            data = binned(X, target, params) if data is None else data
            out.append(train_rows(params, data, np.flatnonzero(train), self.n_estimators))
        return out

    # ----------------------------------------------------------------- predict
    def _matrix(self, X):
        if not hasattr(self, "arms_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This BenefitModel is not fitted yet; call fit first.")
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a DataFrame of features (build_features).")
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks {len(missing)} feature column(s) the model was fitted "
                             f"on, e.g. {missing[:5]}; build X with riskmodel.build_features.")
        return X[self.feature_names_].to_numpy(dtype=np.float64)

    def _per_fold(self, X):
        M = self._matrix(X)
        return {k: np.stack([b.predict(M) for b in self.boosters_[k]])
                for k in self.kinds_ if k in self.boosters_}, M

    def effect(self, X):
        """Estimated benefit ``benefit_<kind>`` (pupil x kind; NaN for an arm not estimated).

        Positive: the support lowers the pupil's probability of early leaving
        within the horizon by that much.
        """
        preds, _ = self._per_fold(X)
        return pd.DataFrame({f"benefit_{k}": preds[k].mean(axis=0) if k in preds
                             else np.full(len(X), np.nan) for k in self.kinds_}, index=X.index)

    def effect_interval(self, X, alpha=0.1):
        """Lower and upper ``1 - alpha`` bounds of the benefit (see the class Notes).

        Returns
        -------
        (lower, upper) : two DataFrames shaped like :meth:`effect`.
        """
        from scipy.stats import norm

        alpha = check_real(alpha, "alpha", "BenefitModel.effect_interval", low=0, high=1,
                           closed="neither")
        z = norm.ppf(1 - alpha / 2)
        preds, _ = self._per_fold(X)
        lo, hi = {}, {}
        for k in self.kinds_:
            if k not in preds:
                lo[f"benefit_{k}"] = hi[f"benefit_{k}"] = np.full(len(X), np.nan)
                continue
            p = preds[k]
            K = p.shape[0]
            se = np.sqrt((K - 1) / K * ((p - p.mean(axis=0)) ** 2).sum(axis=0))
            lo[f"benefit_{k}"] = p.mean(axis=0) - z * se
            hi[f"benefit_{k}"] = p.mean(axis=0) + z * se
        return pd.DataFrame(lo, index=X.index), pd.DataFrame(hi, index=X.index)

    def explain(self, X):
        """Exact TreeSHAP of each arm's effect (mean of its fold models), by feature.

        Returns
        -------
        dict kind -> riskmodel.explain.Explanation
            Values in benefit units (probability); ``.by_domain()`` sums them by the
            features' domains (the registry's, as for the risk explanations);
            values plus ``base_value`` equal :meth:`effect`.
        """
        from ..explain import Explanation, tree_shap
        from ..features import registry

        M = self._matrix(X)
        domains = {str(k): str(v) for k, v in registry()["domain"].items()}
        fdom = {f: domains.get(f, "other") for f in self.feature_names_}
        out = {}
        for k in self.kinds_:
            if k not in self.boosters_:
                continue
            vals, base = 0.0, 0.0
            for b in self.boosters_[k]:
                v, b0 = tree_shap(b, M, n_threads=self.n_jobs)
                vals, base = vals + v, base + b0
            n = len(self.boosters_[k])
            out[k] = Explanation(pd.DataFrame(vals / n, index=X.index, columns=self.feature_names_),
                                 base / n, X[self.feature_names_], fdom)
        return out

    # ------------------------------------------------------------- persistence
    def save(self, path):
        """Save to a folder: ``benefit.json`` plus one LightGBM text per effect model."""
        if not hasattr(self, "arms_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This BenefitModel is not fitted yet; call fit first.")
        from .._model_io import write_model_folder
        from .._util import jsonable, library_versions

        files, models = {}, {}
        for k, boosters in self.boosters_.items():
            models[k] = []
            for i, b in enumerate(boosters):
                name = f"effect_{k}_{i}.txt"
                files[name] = b.model_to_string().encode("utf-8")
                models[k].append(name)
        meta = {"format_version": FORMAT_VERSION, "estimator": "BenefitModel",
                "params": jsonable(self.get_params()), "kinds": self.kinds_,
                "feature_names": self.feature_names_, "arms": jsonable(self.arms_),
                "models": models, "versions": library_versions(),
                "files_sha256": {n: _sha(d) for n, d in files.items()}}
        return write_model_folder(path, files, META_FILE, meta)

    @classmethod
    def load(cls, path):
        """Load a model saved by :meth:`save`; a broken folder is a ModelFileError."""
        import lightgbm as lgb

        from .._model_io import check_model_text

        path = Path(path)
        meta_file = path / META_FILE
        if not meta_file.is_file():
            raise ModelFileError(f"{meta_file} is missing: not a saved BenefitModel folder.",
                                 str(meta_file))
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            ok = isinstance(meta, dict) and meta.get("estimator") == "BenefitModel"
        except (UnicodeDecodeError, ValueError):
            ok = False
        keys = ("format_version", "params", "kinds", "feature_names", "arms", "models",
                "files_sha256")
        if not ok or any(k not in meta for k in keys):
            raise ModelFileError(f"{meta_file} is not a BenefitModel's JSON (unreadable, or keys "
                                 "missing). Save the model again.", str(meta_file))
        if meta["format_version"] != FORMAT_VERSION:
            raise ModelFileError(f"{meta_file} has format {meta['format_version']!r}; this "
                                 f"riskmodel reads format {FORMAT_VERSION}.", str(meta_file))
        model = cls(**meta["params"])
        model.kinds_ = list(meta["kinds"])
        model.feature_names_ = list(meta["feature_names"])
        model.arms_ = meta["arms"]
        model.boosters_ = {}
        for k, names in meta["models"].items():
            model.boosters_[k] = []
            for name in names:
                file = path / name
                if not file.is_file():
                    raise ModelFileError(f"{file} is missing from the saved BenefitModel.",
                                         str(file))
                data = file.read_bytes()
                if _sha(data) != meta["files_sha256"].get(name):
                    raise ModelFileError(f"{file} does not match the sha256 written at saving "
                                         "(edited or corrupted). Save the model again.",
                                         str(file))
                text = data.decode("utf-8")
                check_model_text(text, file)
                model.boosters_[k].append(lgb.Booster(model_str=text))
        return model


def _clustered_mean(v, clusters):
    """Mean of ``v`` and its standard error clustered by ``clusters``."""
    codes, inv = np.unique(clusters, return_inverse=True)
    n, g = len(v), len(codes)
    m = float(v.mean())
    sums = np.bincount(inv, weights=v - m, minlength=g)
    se = float(np.sqrt(g / max(g - 1, 1) * (sums ** 2).sum()) / n)
    return {"ate_benefit": m, "ate_se": se}
