"""The ``riskmodel`` command line: a thin layer over :mod:`riskmodel.pipeline`.

Subcommands: ``generate``, ``validate``, ``pseudonymize``, ``train``, ``score``,
``monitor``, ``evaluate``, ``allocate`` and ``demo``. Options come from a YAML config
(``--config``), validated by pydantic (unknown keys fail), and are overridden by
command-line options and by ``--set key.sub=value`` (the value is read as YAML).

Every error is one line on stderr, ``riskmodel: error: <what to fix>``; ``-v`` adds
the traceback. Exit codes (:func:`main`):

=====  =====================================================================
code   cause
=====  =====================================================================
0      success
2      the user's to fix: data that break the contract or cannot be read
       (:class:`~riskmodel.DataValidationError`), a bad config, option or
       value (:class:`~riskmodel.ConfigError`, ``InvalidParameterError``), a
       missing or broken model (:class:`~riskmodel.ModelFileError`), a
       tracking server that is down, an ``--as-of`` outside the data (on or
       before the first enrolment, or more than 365 days after the last
       record), an ``--out`` that cannot be written (read-only, under a file),
       a path that does not exist or cannot be read
1      a real failure: a bug, a full disk (``ENOSPC`` is named), an I/O error
130    interrupted (Ctrl-C)
143    terminated (SIGTERM)
=====  =====================================================================

A failed, interrupted or terminated run leaves no partial output (see
:mod:`riskmodel._atomic`): ``--out`` is absent or the earlier whole output.

Only the standard library is imported at module level, so ``--help`` is fast.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
from pathlib import Path

from ._cli_parser import _path, _read_kwargs, _read_options, build_parser  # stdlib only

__all__ = ["main", "build_parser"]

logger = logging.getLogger("riskmodel.cli")

EXIT_OK, EXIT_FAILURE, EXIT_INVALID = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives, so that cleanup code runs."""


def _on_sigterm(signum, frame):  # pragma: no cover - exercised in a subprocess test
    raise Terminated()


# ------------------------------------------------------------------- configs
def _parse_override(text: str) -> tuple[list[str], object]:
    import yaml

    from .errors import ConfigError

    if "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE, got {text!r}.")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set expects KEY=VALUE with a dotted KEY, got {text!r}.")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML: {exc}") from None
    return key.split("."), value


def _assign(d: dict, path: list[str], value) -> None:
    for part in path[:-1]:
        nxt = d.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            d[part] = nxt
        d = nxt
    d[path[-1]] = value


def _config(model, args, options: dict, default_path: Path | None = None):
    """Config file (or default) + explicit options + --set overrides, validated."""
    from .config import load_config, load_yaml
    from .errors import ConfigError

    path = getattr(args, "config", None)
    if path is None and default_path is not None and default_path.is_file():
        path = default_path
    data = load_yaml(path) if path is not None else {}
    for key, value in options.items():
        if value is not None:
            _assign(data, key.split("."), value)
    for text in getattr(args, "overrides", []):
        keys, value = _parse_override(text)
        _assign(data, keys, value)
    try:
        return load_config(model, data)
    except ConfigError as exc:
        where = f" (from {path} and the command line)" if path else " (from the command line)"
        raise ConfigError(str(exc).replace(" config:", f" config{where}:", 1)) from None


def _random_state(args) -> int | None:
    """``--random-state``, or the old ``--seed`` with a FutureWarning."""
    if getattr(args, "seed_old", None) is None:
        return args.random_state
    from ._checks import renamed_param

    return renamed_param(args.seed_old, args.random_state, old="--seed", new="--random-state",
                         func=f"riskmodel {args.command}")


def _progress(args) -> bool:
    return (not args.quiet) and sys.stderr.isatty()


# ------------------------------------------------------------------- commands
def _cmd_generate(args) -> int:
    from .datasets import make_school_system
    from .schema import write_tables

    from .errors import ConfigError

    random_state = _random_state(args)
    try:
        world = make_school_system(n_pupils=args.n_pupils, n_years=args.n_years,
                                   random_state=random_state)
    except (TypeError, ValueError) as exc:  # a bad --n-pupils, --n-years or --random-state
        raise ConfigError(str(exc).replace("The 'n_pupils' parameter", "--n-pupils")
                          .replace("The 'n_years' parameter", "--n-years")) from None
    try:
        folder = write_tables(world.tables, args.out, format=args.format,
                              overwrite=args.overwrite)
    except FileExistsError as exc:
        raise ConfigError(f"{exc} (use --overwrite)") from None
    print(f"Wrote a synthetic school system ({args.n_pupils:,} pupils, {args.n_years} years, "
          f"random_state {random_state}) to {folder}")
    dates = [str(getattr(d, "date", lambda: d)()) for d in world.as_of_dates]
    if dates:
        print(f"{len(dates)} as_of dates from {dates[0]} to {dates[-1]}")
    return EXIT_OK


def _cmd_validate(args) -> int:
    from .schema import read_tables

    tables = read_tables(args.data, codes=args.codes, **_read_kwargs(args))
    print(f"{args.data}: valid ({tables!r})")
    print(tables.summary().to_string(index=False))
    print(f"fingerprint: {tables.fingerprint()}")
    return EXIT_OK


def _cmd_pseudonymize(args) -> int:
    from .privacy import pseudonymize
    from .schema import read_tables, write_tables

    key = os.environ.get(args.key_env)
    if not key:
        from .errors import ConfigError

        raise ConfigError(f"Set the secret key in the environment variable {args.key_env} "
                          "(it is never written anywhere).")
    tables = read_tables(args.data, codes=args.codes, **_read_kwargs(args))
    out = pseudonymize(tables, env_var=args.key_env)
    try:
        folder = write_tables(out, args.out, format=args.format)
    except FileExistsError as exc:
        from .errors import ConfigError

        raise ConfigError(str(exc)) from None
    print(f"Wrote pseudonymised tables ({len(out.pupils):,} pupils) to {folder}")
    return EXIT_OK


def _train_options(args) -> dict:
    opts = {
        "data": _path(args.data),
        "synthetic.n_pupils": args.n_pupils,
        "synthetic.n_years": args.n_years,
        "synthetic.random_state": _random_state(args),
        "horizon_days": args.horizon_days,
        **_read_options(args),
    }
    return opts


def _cmd_train(args) -> int:
    from .pipeline import TrainConfig, train_run

    opts = _train_options(args)
    opts.update({"tracking.experiment": args.experiment, "tracking.alias": args.alias,
                 "save_model": _path(args.save_model)})
    if args.benefit:
        opts["benefit.enabled"] = True
    if args.no_register:
        opts["tracking.register_model"] = False
    if args.no_alias:
        opts["tracking.set_alias"] = False
    cfg = _config(TrainConfig, args, opts)
    res = train_run(cfg, progress=_progress(args))
    print(f"Trained on {len(res.train_dates)} as_of dates "
          f"({', '.join(str(d.date()) for d in res.train_dates)}); data fingerprint "
          f"{res.fingerprint[:12]}")
    _print_backtest(res.backtest)
    if res.run_id:
        from .tracking import tracking_uri

        print(f"MLflow run {res.run_id} in {tracking_uri(cfg.tracking.tracking_uri)}")
        print(f"Model card: {res.artifact_uri}/model_card.html")
    if res.model_version:
        alias = cfg.tracking.alias if cfg.tracking.set_alias and cfg.tracking.alias else None
        name = cfg.tracking.registered_model_name
        print(f"Registered models:/{name}/{res.model_version}"
              + (f" (alias {alias}: models:/{name}@{alias})" if alias else ""))
    if cfg.save_model:
        print(f"Saved the model to {cfg.save_model}")
    return EXIT_OK


def _print_backtest(bt) -> None:
    if bt is None or len(bt) == 0:
        return
    cols = [c for c in ("precision_at_k", "recall_at_k", "roc_auc", "average_precision", "brier")
            if c in bt.columns]
    if "model" in bt.columns and cols:
        print("Backtest (mean over test dates):")
        print(bt.groupby("model")[cols].mean().round(3).to_string())


def _cmd_score(args) -> int:
    from .pipeline import ScoreConfig, score_run

    opts = {"data": _path(args.data), "as_of": args.as_of, "model": args.model,
            "out": _path(args.out), "rules": _path(args.rules),
            "resources.path": _path(args.resources), "objective": args.objective,
            **_read_options(args)}
    if args.no_allocate:
        opts["allocate"] = False
    if args.monitor is not None:
        opts["monitor"] = args.monitor
    if args.history is not None:
        opts["history"] = str(args.history)
    cfg = _config(ScoreConfig, args, opts)
    if getattr(args, "engine", "local") == "spark":  # issue 20: the same run on Spark
        from .spark import score_run as spark_score_run

        if args.watchlists is not None:
            raise ConfigError("--engine spark writes no watch lists yet: leave out "
                              "--watchlists (run `riskmodel watchlists` on a local run).")

        res = spark_score_run(cfg, master=args.spark_master, progress=_progress(args))
        _print_score(res)
        return EXIT_OK
    res = score_run(cfg, progress=_progress(args))
    _print_score(res)
    if res.manifest.get("history"):  # hook: watchlists (churn of the high tier)
        h = res.manifest["history"]["high"]
        print(f"High tier since {res.manifest['history']['previous_as_of']}: {h['entered']} in, "
              f"{h['left']} out, {h['stayed']} stayed (churn {h['churn']:.2f})")
    if args.watchlists is not None:
        from .watchlists import write_watchlists

        summary = write_watchlists(res.out, args.watchlists, lang=args.lang)
        print(f"Watch lists for {summary['n_schools']} schools and {summary['n_mentors']} "
              f"mentors in {args.watchlists}/")
    return EXIT_OK


def _cmd_watchlists(args) -> int:
    from .watchlists import write_watchlists

    summary = write_watchlists(args.run, args.out, lang=args.lang, pdf=args.pdf)
    print(f"Watch lists for {summary['n_schools']} schools and {summary['n_mentors']} "
          f"mentors in {args.out}/")
    return EXIT_OK


def _print_score(res) -> None:
    m = res.manifest
    model = m.get("model", {})
    print(f"Scored {m.get('n_pupils', 0):,} pupils as of {m.get('as_of')} with "
          f"{model.get('uri')}" + (f" (version {model['version']})" if model.get("version")
                                   else ""))
    print(f"Outputs in {res.out}/:")
    for name, path in res.paths.items():
        print(f"  {path}")
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in res.timings.items())
    print(f"Stage times: {timing}")


def _cmd_evaluate(args) -> int:
    from .pipeline import EvaluateConfig, evaluate_run

    opts = _train_options(args)
    opts["out"] = _path(args.out)
    if args.no_tracking:
        opts["tracking.enabled"] = False
    cfg = _config(EvaluateConfig, args, opts)
    res = evaluate_run(cfg, progress=_progress(args))
    _print_backtest(res.backtest)
    if res.audit is not None:
        print(f"Audit: {len(res.audit)} group rows"
              + (f" (written to {cfg.out}/audit.csv)" if cfg.out else ""))
    if res.run_id:
        print(f"MLflow run {res.run_id}")
    return EXIT_OK


def _cmd_allocate(args) -> int:
    from .pipeline import AllocateConfig, allocate_run

    opts = {"data": _path(args.data), "scores": _path(args.scores), "as_of": args.as_of,
            "out": _path(args.out), "rules": _path(args.rules),
            "resources.path": _path(args.resources), "objective": args.objective,
            **_read_options(args)}
    cfg = _config(AllocateConfig, args, opts)
    res = allocate_run(cfg, progress=_progress(args))
    print(f"Allocation written to {res.out}/:")
    for path in res.paths.values():
        print(f"  {path}")
    return EXIT_OK


def _cmd_demo(args) -> int:
    import time

    from .pipeline import DemoConfig, demo_run

    opts = {"out": _path(args.out), "synthetic.n_pupils": args.n_pupils,
            "synthetic.n_years": args.n_years, "synthetic.random_state": _random_state(args)}
    cfg = _config(DemoConfig, args, opts, default_path=Path("configs/demo.yaml"))
    syn = cfg.synthetic
    print(f"riskmodel demo: a synthetic school system of {syn.n_pupils:,} pupils over "
          f"{syn.n_years} years (random_state {syn.random_state}) -> {cfg.out}/", flush=True)
    start = time.perf_counter()
    res = demo_run(cfg, progress=_progress(args))
    tr, sc = res.train, res.score
    print(f"\n1. Data (Parquet, one file per table): {res.data}")
    print(f"2. Trained on as_of dates {', '.join(str(d.date()) for d in tr.train_dates)}")
    _print_backtest(tr.backtest)
    print(f"   MLflow run {tr.run_id} in {res.tracking_uri}")
    if tr.artifact_uri:
        print(f"   Model card: {tr.artifact_uri}/model_card.html")
    if tr.model_version:
        print(f"   Registered model version {tr.model_version} = {res.model_uri}")
    print(f"3. Scored the latest as_of {sc.manifest.get('as_of')}: "
          f"{sc.manifest.get('n_pupils', 0):,} "
          f"pupils -> {sc.out}/")
    for path in sc.paths.values():
        print(f"     {path}")
    print(f"   Open the report: {sc.paths.get('report', sc.out / 'report.html')}")
    print(f"4. Browse runs and the registry: mlflow ui --backend-store-uri {res.tracking_uri}")
    print(f"Done in {time.perf_counter() - start:.0f} s.")
    return EXIT_OK


def _cmd_monitor(args) -> int:
    from ._run_monitor import monitor_run

    read = {k: v for k, v in _read_kwargs(args).items() if v is not None}
    _, doc = monitor_run(data=_path(args.data), as_of=args.as_of, model=args.model,
                         out=_path(args.out), read=read, codes=_path(args.codes),
                         tracking_uri=args.tracking_uri,
                         log_mlflow=args.tracking_uri is not None)
    print(f"Monitor as of {doc['as_of']} (reference {doc['reference_date']}): decision "
          f"{doc['decision']}")
    for reason in doc["reasons"][:10]:
        print(f"  {reason}")
    print(f"Outputs in {args.out}/: monitor.json, monitor.html")
    return EXIT_OK


_COMMANDS = {
    "generate": _cmd_generate,
    "validate": _cmd_validate,
    "pseudonymize": _cmd_pseudonymize,
    "train": _cmd_train,
    "score": _cmd_score,
    "monitor": _cmd_monitor,
    "evaluate": _cmd_evaluate,
    "allocate": _cmd_allocate,
    "demo": _cmd_demo,
    "watchlists": _cmd_watchlists,
}


# ----------------------------------------------------------------------- main
def _setup_logging(verbose: int):
    """Send riskmodel's log records to stderr; returns a function that undoes it."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("riskmodel")
    saved = (list(root.handlers), root.level, root.propagate)
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False

    def restore():
        root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]

    return restore


#: warnings MLflow raises about its own code (import-time schema inference, sqlalchemy and
#: pandas deprecations); they say nothing a riskmodel user can act on.
_MLFLOW_NOISE = (
    (r".*Any type hint is inferred as AnyType", UserWarning),
    (r"The ``noload`` loader strategy is deprecated", DeprecationWarning),
    (r"Operation with range is deprecated", DeprecationWarning),
)


def _quiet_third_party() -> None:
    import warnings

    for message, category in _MLFLOW_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)


def _error(message: str) -> None:
    print(f"riskmodel: error: {_one_line(message)}", file=sys.stderr)


def _one_line(text: str) -> str:
    """``text`` on one line: lines joined by a space, list items ("- x") by "; ".

    Examples
    --------
    >>> _one_line("2 problems in table pupils.\\n- pupils.sex: 6 rows.\\n- pupils.x: 1 row.")
    '2 problems in table pupils: pupils.sex: 6 rows; pupils.x: 1 row.'
    """
    out, in_list = "", False
    for line in str(text).splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("- ") and out:
            out = out.rstrip(".;")
            out += ("; " if in_list else ("" if out.endswith(":") else ":") + " ") + line[2:]
            in_list = True
        else:
            out += (" " if out else "") + line
            in_list = False
    return out


#: OSError numbers of a path the user gave that cannot be used as given (exit 2);
#: any other OSError (a full disk, an I/O error) is a real failure (exit 1).
_PATH_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES,
                          errno.EPERM, errno.EEXIST, errno.EROFS, errno.ENAMETOOLONG,
                          errno.ELOOP})


def _exit_code(exc: Exception, command: str) -> tuple[int, str]:
    """The exit code of an error and its one message (what to fix)."""
    from .errors import ConfigError, DataValidationError, ModelFileError

    if isinstance(exc, DataValidationError):
        return EXIT_INVALID, str(exc) + ("" if command == "validate" else " Nothing was written.")
    if isinstance(exc, (ConfigError, ModelFileError)) or _is_invalid_parameter(exc):
        return EXIT_INVALID, str(exc)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return EXIT_FAILURE, (f"{command} failed: no space left on the device (ENOSPC){where}. "
                              "Free some space and run again; no partial output was kept.")
    if isinstance(exc, OSError) and exc.errno in _PATH_ERRNOS:
        name = f": {exc.filename!r}" if exc.filename else ""
        return EXIT_INVALID, f"{exc.strerror or exc}{name}. Check the path."
    return EXIT_FAILURE, f"{command} failed: {type(exc).__name__}: {exc}"


def _is_invalid_parameter(exc: Exception) -> bool:
    """A bad option value caught by riskmodel's parameter checks (scikit-learn's error)."""
    module = sys.modules.get("sklearn.utils._param_validation")  # loaded if it was raised
    return module is not None and isinstance(exc, module.InvalidParameterError)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from riskmodel.cli import main
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "data"
    >>> main(["generate", "--out", str(out), "--n-pupils", "200", "--n-years", "2"])
    Wrote a synthetic school system (200 pupils, 2 years, random_state 0) to ...
    0
    >>> main(["score", "--as-of", "2025-10-01 13:00", "--data", str(out)])
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse exits 2)
        return int(exc.code or 0)
    restore_logging = _setup_logging(args.verbose)
    if args.verbose < 2:
        _quiet_third_party()
    if args.quiet or not sys.stderr.isatty():
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        previous = None
    try:
        return _COMMANDS[args.command](args)
    except Terminated:
        _error("terminated (SIGTERM); no partial output was left.")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        _error("interrupted; no partial output was left.")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the CLI turns every error into an exit code
        if args.verbose:
            logger.exception("%s failed", args.command)
        code, message = _exit_code(exc, args.command)
        _error(message + ("" if code != EXIT_FAILURE or args.verbose
                          else " (run with -v for the traceback)"))
        return code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        restore_logging()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
