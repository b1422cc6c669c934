"""One rule per concept: the checks that every part of riskmodel calls (private).

- :func:`resolve_capacity` turns a capacity (``top_k`` pupils or a ``top_fraction``
  of the cohort) into a number of pupils. It is the only place where a fraction
  is rounded.
- :func:`parse_as_of` turns a prediction date into a midnight ``pandas.Timestamp``.
  It is the only place where an ``as_of`` is parsed.
- :data:`N_BOOT` and :data:`CONFIDENCE` are the defaults of every bootstrap
  interval (columns ``<metric>_low`` / ``<metric>_high``).
- :func:`check_int`, :func:`check_real`, :func:`check_option` and
  :func:`check_bool` validate parameters with scikit-learn's wording and raise
  scikit-learn's :class:`~sklearn.utils._param_validation.InvalidParameterError`,
  which is both a ``ValueError`` and a ``TypeError``, so that the same wrong input
  gives the same error everywhere.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import InvalidParameterError

__all__ = [
    "CONFIDENCE",
    "InvalidParameterError",
    "N_BOOT",
    "check_bool",
    "check_instance",
    "check_int",
    "check_option",
    "check_real",
    "UNSET",
    "renamed_param",
    "parse_as_of",
    "resolve_capacity",
]


#: Default number of bootstrap draws of every interval (backtest, audit, ...).
N_BOOT = 1000
#: Default coverage of every interval; the parameter is called ``confidence`` everywhere.
CONFIDENCE = 0.95


class _Unset:
    """Sentinel default of a deprecated parameter name (distinguishes 'not given')."""

    def __repr__(self):
        return "<unset>"


#: Default of a deprecated parameter alias: ``def f(*, random_state=0, seed=UNSET)``.
UNSET = _Unset()


def renamed_param(old_value, new_value, *, old: str, new: str, func: str, stacklevel: int = 3):
    """The value of a renamed parameter; a ``FutureWarning`` when the old name was used.

    Old names keep working for one release. Use as
    ``random_state = renamed_param(seed, random_state, old="seed", new="random_state",
    func="make_school_system")`` with ``seed=UNSET`` in the signature.

    Examples
    --------
    >>> renamed_param(UNSET, 7, old="seed", new="random_state", func="f")
    7
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     renamed_param(3, 0, old="seed", new="random_state", func="f")
    3
    >>> print(w[0].message)
    The 'seed' parameter of f was renamed 'random_state' in riskmodel 0.2 and will be removed in 0.3; pass random_state= instead.
    """
    if old_value is UNSET:
        return new_value
    warnings.warn(
        f"The {old!r} parameter of {func} was renamed {new!r} in riskmodel 0.2 and will be "
        f"removed in 0.3; pass {new}= instead.",
        FutureWarning,
        stacklevel=stacklevel,
    )
    return old_value


def _where(param: str, func: str | None) -> str:
    return f"The {param!r} parameter" + (f" of {func}" if func else "")


def check_int(value, param: str, func: str | None = None, *, min_value: int | None = None,
              max_value: int | None = None, allow_none: bool = False):
    """``value`` as an ``int`` within bounds, or an :class:`InvalidParameterError`.

    Examples
    --------
    >>> check_int(3, "n_reasons", "reasons", min_value=1)
    3
    >>> check_int(0, "n_reasons", "reasons", min_value=1)
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'n_reasons' parameter of reasons must be an int >= 1. Got 0 instead.
    """
    if value is None and allow_none:
        return None
    bounds = []
    if min_value is not None:
        bounds.append(f">= {min_value}")
    if max_value is not None:
        bounds.append(f"<= {max_value}")
    want = "an int" + (" " + " and ".join(bounds) if bounds else "")
    if allow_none:
        want += " or None"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(f"{_where(param, func)} must be {want}. Got {value!r} instead.")
    if (min_value is not None and value < min_value) or (max_value is not None and value > max_value):
        raise InvalidParameterError(f"{_where(param, func)} must be {want}. Got {value!r} instead.")
    return int(value)


def check_real(value, param: str, func: str | None = None, *, low: float | None = None,
               high: float | None = None, closed: str = "both", allow_none: bool = False):
    """``value`` as a finite ``float`` in an interval, or an :class:`InvalidParameterError`.

    ``closed`` is one of ``"both"``, ``"left"``, ``"right"``, ``"neither"``.

    Examples
    --------
    >>> check_real(0.05, "top_fraction", "audit", low=0, high=1, closed="right")
    0.05
    """
    if value is None and allow_none:
        return None
    lo_br = "[" if closed in ("both", "left") else "("
    hi_br = "]" if closed in ("both", "right") else ")"
    rng = f"{lo_br}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_br}"
    want = f"a float in the range {rng}" + (" or None" if allow_none else "")
    bad = (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
           or not math.isfinite(float(value)))
    if not bad:
        v = float(value)
        if low is not None:
            bad |= v < low if closed in ("both", "left") else v <= low
        if high is not None:
            bad |= v > high if closed in ("both", "right") else v >= high
    if bad:
        raise InvalidParameterError(f"{_where(param, func)} must be {want}. Got {value!r} instead.")
    return float(value)


def check_option(value, param: str, options, func: str | None = None):
    """``value`` if it is one of ``options``, else an :class:`InvalidParameterError`.

    Examples
    --------
    >>> check_option("lv", "lang", ("lv", "en"), "reasons")
    'lv'
    """
    options = tuple(options)
    if not isinstance(value, (str, type(None))) or value not in options:
        raise InvalidParameterError(
            f"{_where(param, func)} must be a str among {{{', '.join(map(repr, options))}}}. "
            f"Got {value!r} instead."
        )
    return value


def check_bool(value, param: str, func: str | None = None) -> bool:
    """``value`` if it is a bool, else an :class:`InvalidParameterError`."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"{_where(param, func)} must be an instance of 'bool'. "
                                    f"Got {value!r} instead.")
    return bool(value)


def check_instance(value, param: str, types, func: str | None = None):
    """``value`` if it is an instance of ``types``, else an :class:`InvalidParameterError`.

    ``types`` is a class or a tuple of classes; the message names them the way
    scikit-learn does.

    Examples
    --------
    >>> import pandas as pd
    >>> check_instance([1, 2], "groups", pd.DataFrame, "audit")
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'groups' parameter of audit must be an instance of 'pandas.DataFrame'. Got [1, 2] of type 'list' instead.
    """
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, types):
        names = [f"'{t.__module__.split('.')[0] + '.' if t.__module__ != 'builtins' else ''}"
                 f"{t.__qualname__}'" for t in types]
        want = names[0] if len(names) == 1 else "one of " + ", ".join(names)
        shown = repr(value)
        got = (f"a {type(value).__name__}" if "\n" in shown or len(shown) > 60
               else f"{shown} of type {type(value).__name__!r}")
        raise InvalidParameterError(
            f"{_where(param, func)} must be an instance of {want}. Got {got} instead."
        )
    return value


def resolve_capacity(n: int, *, top_k: int | None = None, top_fraction: float | None = None,
                     func: str | None = None) -> int:
    """Number of pupils served at a capacity, in a cohort of ``n`` pupils.

    The one rule, used by metrics, backtests, audits, model cards, score reports
    and allocation alike:

    - ``top_k`` (an int >= 1) is a number of pupils; it is capped at ``n``.
    - ``top_fraction`` (a float in (0, 1]) is a share of the cohort:
      ``ceil(top_fraction * n)`` pupils, at least 1. Float noise is rounded away
      first, so ``0.07 * 100`` is 7, not 8.
    - Exactly one of the two is given.

    Parameters
    ----------
    n : int
        Cohort size (>= 1).
    top_k : int, optional
    top_fraction : float, optional
    func : str, optional
        The public function on whose behalf the check runs (named in errors).

    Returns
    -------
    int

    Examples
    --------
    >>> resolve_capacity(1010, top_fraction=0.05)
    51
    >>> resolve_capacity(100, top_fraction=0.07), resolve_capacity(1000, top_k=30)
    (7, 30)
    >>> resolve_capacity(20, top_k=50), resolve_capacity(20, top_fraction=1.0)
    (20, 20)
    """
    n = check_int(n, "n", func, min_value=1)
    if (top_k is None) == (top_fraction is None):
        raise InvalidParameterError(
            f"Capacity{' of ' + func if func else ''} needs exactly one of 'top_k' (a number of "
            f"pupils) or 'top_fraction' (a share of the cohort). Got top_k={top_k!r} and "
            f"top_fraction={top_fraction!r}."
        )
    if top_k is not None:
        return min(check_int(top_k, "top_k", func, min_value=1), n)
    f = check_real(top_fraction, "top_fraction", func, low=0, high=1, closed="right")
    return min(n, max(1, int(math.ceil(round(f * n, 9)))))


def parse_as_of(as_of, func: str | None = None, param: str = "as_of") -> pd.Timestamp:
    """``as_of`` as a tz-naive midnight :class:`pandas.Timestamp` (nanosecond unit).

    Accepts ``'YYYY-MM-DD'`` strings, :class:`datetime.date`, :class:`datetime.datetime`,
    :class:`numpy.datetime64` and :class:`pandas.Timestamp`. A time of day other
    than midnight, a time zone, ``NaT`` or anything else is an
    :class:`InvalidParameterError`: records are dated by day, and a silent
    truncation would move the cut-off.

    Examples
    --------
    >>> parse_as_of("2025-10-01")
    Timestamp('2025-10-01 00:00:00')
    >>> parse_as_of("2025-10-01 13:00", "build_features")
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'as_of' parameter of build_features must be a date without a time of day (records are dated by day). Got 2025-10-01 13:00:00 instead.
    """
    where = _where(param, func)
    if isinstance(as_of, (bool, np.bool_)) or not isinstance(
        as_of, (str, _dt.date, np.datetime64, pd.Timestamp)
    ):
        raise InvalidParameterError(
            f"{where} must be a date (str 'YYYY-MM-DD', datetime.date, numpy.datetime64 or "
            f"pandas.Timestamp). Got {as_of!r} of type {type(as_of).__name__} instead."
        )
    try:
        ts = pd.Timestamp(as_of)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidParameterError(f"{where} must be a valid date. Got {as_of!r} instead.") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise InvalidParameterError(f"{where} must be a valid date. Got NaT instead.")
    if ts.tzinfo is not None:
        raise InvalidParameterError(f"{where} must be a tz-naive date. Got {ts} instead.")
    if ts != ts.normalize():
        raise InvalidParameterError(
            f"{where} must be a date without a time of day (records are dated by day). "
            f"Got {ts} instead."
        )
    return ts.as_unit("ns")
