"""The argument parser of the ``riskmodel`` command line (private; see :mod:`riskmodel.cli`).

Only the standard library is imported, so ``riskmodel --help`` is fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["build_parser"]


def _common(p: argparse.ArgumentParser, *, config: bool = True) -> None:
    if config:
        p.add_argument("--config", "-c", type=Path, metavar="YAML",
                       help="YAML config (see configs/); options below override it")
        p.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE",
                       help="override any config key, e.g. --set tracking.alias=null "
                            "(repeatable; VALUE is read as YAML)")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log progress (-v) or debug details (-vv); show tracebacks")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _random_state_opt(p: argparse.ArgumentParser, *, default=None,
                      help="seed of the synthetic system") -> None:
    p.add_argument("--random-state", type=int, default=default, metavar="INT", help=help)
    # the old name, kept until 0.3 (FutureWarning; see _random_state)
    p.add_argument("--seed", dest="seed_old", type=int, help=argparse.SUPPRESS)


def _synthetic_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-pupils", type=int, help="pupils of the synthetic system (no --data)")
    p.add_argument("--n-years", type=int, help="school years of the synthetic system")
    _random_state_opt(p)


_SEP_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}


def _sep_arg(text: str) -> str:
    sep = _SEP_ALIASES.get(text, text)
    if sep not in (",", ";", "\t"):
        raise argparse.ArgumentTypeError(f"must be ',', ';' or tab ('\\t'), got {text!r}")
    return sep


def _encoding_arg(text: str) -> str:
    import codecs

    if text != "detect":
        try:
            codecs.lookup(text)
        except LookupError:
            raise argparse.ArgumentTypeError(
                f"unknown encoding {text!r} (e.g. utf-8, cp1257, iso-8859-13, detect)") from None
    return text


def _read_opts(p: argparse.ArgumentParser, *, codes: bool = True,
               format_flags: tuple[str, ...] = ("--format", "--data-format")) -> None:
    """How the files of --data are read (see riskmodel.read_tables)."""
    g = p.add_argument_group("reading --data (see riskmodel.read_tables)")
    if codes:
        g.add_argument("--codes", type=Path, help="YAML map of local codes (and column "
                                                  "names) to the contract's")
    g.add_argument(*format_flags, dest="data_format", choices=["parquet", "csv", "xlsx"],
                   help="read only table files of this format (default: whichever exists)")
    g.add_argument("--encoding", type=_encoding_arg,
                   help="encoding of CSV files: utf-8 (default), cp1257, iso-8859-13 or detect")
    g.add_argument("--sep", type=_sep_arg, metavar="SEP",
                   help="CSV separator: ',', ';' or '\\t' (tab); default: detected")
    g.add_argument("--decimal", choices=[".", ","],
                   help="CSV decimal mark (default: detected)")
    g.add_argument("--date-format", metavar="FMT",
                   help="date format such as %%d.%%m.%%Y (default: ISO or dd.mm.yyyy, detected)")


def _path(p) -> str | None:
    return None if p is None else str(p)


def _read_kwargs(args) -> dict:
    """The read_tables keywords of the command line (validate, pseudonymize)."""
    return {"format": args.data_format, "encoding": args.encoding, "sep": args.sep,
            "decimal": args.decimal, "date_format": args.date_format}


def _read_options(args) -> dict:
    """The same options as config keys (``codes`` and ``read.*``) for the run configs."""
    opts = {"codes": _path(args.codes)}
    opts.update({f"read.{k}": v for k, v in _read_kwargs(args).items()})
    return opts


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``riskmodel`` (no heavy imports).

    Examples
    --------
    >>> args = build_parser().parse_args(["score", "--as-of", "2025-10-01", "--no-allocate"])
    >>> args.command, args.as_of, args.no_allocate
    ('score', '2025-10-01', True)
    """
    parser = argparse.ArgumentParser(
        prog="riskmodel",
        description="Early-leaving risk, explanations and support allocation for schools "
                    "(programme 4.2.3.1).",
        epilog="Exit codes: 0 ok; 2 invalid input, config, model, --as-of or --out; 1 other "
               "failure (a bug, a full disk); 130 interrupted; 143 terminated.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"riskmodel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("generate", help="write a synthetic school system as Parquet/CSV")
    p.add_argument("--out", type=Path, required=True, help="folder to write the tables into")
    p.add_argument("--n-pupils", type=int, default=20_000)
    p.add_argument("--n-years", type=int, default=3)
    _random_state_opt(p, default=0, help="seed of the synthetic system (default: %(default)s)")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    p.add_argument("--overwrite", action="store_true", help="replace table files in --out")
    _common(p, config=False)

    p = sub.add_parser("validate", help="check a data folder against the data contract")
    p.add_argument("--data", type=Path, required=True,
                   help="folder of table files, or an .xlsx workbook of tables")
    _read_opts(p)
    _common(p, config=False)

    p = sub.add_parser("pseudonymize",
                       help="replace pupil ids by keyed hashes (key from an environment variable)")
    p.add_argument("--data", type=Path, required=True, help="folder of table files")
    p.add_argument("--out", type=Path, required=True, help="folder for the pseudonymised tables")
    p.add_argument("--key-env", default="RISKMODEL_PSEUDONYM_KEY",
                   help="environment variable holding the secret key (default: %(default)s)")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet",
                   help="format of the tables written into --out (default: %(default)s)")
    _read_opts(p, format_flags=("--data-format",))
    _common(p, config=False)

    p = sub.add_parser("train", help="backtest, audit, train and register a model")
    p.add_argument("--data", type=Path, help="folder of table files (default: synthetic)")
    _read_opts(p)
    _synthetic_opts(p)
    p.add_argument("--horizon-days", type=int)
    p.add_argument("--experiment", help="MLflow experiment name")
    p.add_argument("--no-register", action="store_true", help="do not register the model")
    p.add_argument("--alias", help="registry alias to move to the new version (e.g. champion)")
    p.add_argument("--no-alias", action="store_true", help="register without moving any alias")
    p.add_argument("--save-model", type=Path, help="also save the model into this folder")
    p.add_argument("--benefit", action="store_true",
                   help="also fit and register the benefit model (who benefits from support)")
    _common(p)

    p = sub.add_parser("score", help="score, explain and allocate; write outputs atomically")
    p.add_argument("--data", type=Path, help="folder of table files")
    _read_opts(p)
    p.add_argument("--as-of", help="scoring date YYYY-MM-DD (default: day after the last record)")
    p.add_argument("--model", help="models:/riskmodel@champion (default), models:/NAME/VERSION "
                                   "or a model folder")
    p.add_argument("--out", type=Path, help="output folder")
    p.add_argument("--rules", type=Path, help="programme rules YAML")
    p.add_argument("--no-allocate", action="store_true", help="skip the allocation")
    p.add_argument("--resources", type=Path,
                   help="roster file (CSV, Parquet or XLSX) to allocate (default: synthetic)")
    p.add_argument("--objective", choices=["fit", "risk", "benefit"],
                   help="allocate by fit (default), risk, or the benefit model's estimates")
    p.add_argument("--monitor", choices=["on", "off"],
                   help="check the inputs and the latest outcomes before scoring (default on)")
    p.add_argument("--history", type=Path,
                   help="score history folder (hysteresis tiers, changes; e.g. out/history)")
    p.add_argument("--watchlists", type=Path, help="also write the watch lists into this folder")
    p.add_argument("--lang", choices=("lv", "en"), default="lv", help="watch-list language")
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="run on this machine (default) or on Spark (riskmodel[spark]; "
                        "Parquet data, a registered pyfunc model; see docs/spark.md)")
    p.add_argument("--spark-master", default="local[*]",
                   help="Spark master URL for --engine spark (default local[*])")
    _common(p)

    p = sub.add_parser("watchlists", help="watch lists per school and mentor from a score run")
    p.add_argument("--run", type=Path, required=True, help="output folder of `riskmodel score`")
    p.add_argument("--out", type=Path, default=Path("out/watchlists"), help="output folder")
    p.add_argument("--lang", choices=("lv", "en"), default="lv", help="page language")
    p.add_argument("--pdf", action="store_true", help="also a PDF of each list (headless Chromium)")
    _common(p)

    p = sub.add_parser("monitor", help="has the world changed under the model? monitor.json "
                                       "and monitor.html")
    p.add_argument("--data", type=Path, help="folder of table files")
    _read_opts(p)
    p.add_argument("--as-of", help="date YYYY-MM-DD of the cohort to check")
    p.add_argument("--model", default="models:/riskmodel@champion",
                   help="models:/riskmodel@champion (default), models:/NAME/VERSION or a folder")
    p.add_argument("--out", type=Path, default=Path("out/monitor"), help="output folder")
    p.add_argument("--tracking-uri", help="MLflow tracking URI: resolves --model and, when "
                                          "given, receives a monitor run (aggregates only)")
    _common(p, config=False)

    p = sub.add_parser("evaluate", help="temporal backtest against baselines and fairness audit")
    p.add_argument("--data", type=Path, help="folder of table files (default: synthetic)")
    _read_opts(p)
    _synthetic_opts(p)
    p.add_argument("--horizon-days", type=int)
    p.add_argument("--out", type=Path, help="folder for backtest.csv and audit.csv")
    p.add_argument("--no-tracking", action="store_true", help="do not log an MLflow run")
    _common(p)

    p = sub.add_parser("allocate", help="allocate support from an existing scores.parquet")
    p.add_argument("--data", type=Path, help="folder of table files")
    _read_opts(p)
    p.add_argument("--scores", type=Path, help="scores.parquet of a score run")
    p.add_argument("--as-of", help="date of the scores (default: from their manifest.json)")
    p.add_argument("--out", type=Path, help="output folder")
    p.add_argument("--rules", type=Path, help="programme rules YAML")
    p.add_argument("--resources", type=Path,
                   help="roster file (CSV, Parquet or XLSX) to allocate (default: synthetic)")
    p.add_argument("--objective", choices=["fit", "risk", "benefit"],
                   help="allocate by fit (default), risk, or the benefit model's estimates")
    _common(p)

    p = sub.add_parser("demo", help="generate, train, register and score a synthetic system")
    p.add_argument("--out", type=Path, help="demo folder (default: out/demo)")
    _synthetic_opts(p)
    _common(p)
    return parser
