"""Atomic output folders (private): write beside the target, then swap it in whole.

Every writer of riskmodel (scoring runs, ``write_tables``, watch lists) goes through
:func:`atomic_output_dir`, so a failed or killed run leaves no partial output and a
folder that is not a riskmodel output is never overwritten.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
from pathlib import Path

from .errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["MANIFEST", "TMP_MARKER", "atomic_output_dir", "check_output_dir"]

#: Marker in the names of temporary folders (hidden, never mistaken for output).
TMP_MARKER = ".riskmodel-tmp-"
#: The file that marks a folder as a riskmodel output.
MANIFEST = "manifest.json"


def check_output_dir(out, *, marker: str = MANIFEST) -> Path:
    """``out`` as a Path if riskmodel may write it: absent, empty, or an earlier output.

    An earlier output is a folder holding ``marker``. Anything else raises
    :class:`~riskmodel.ConfigError` naming the folder; nothing is written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_dir(d / "new") == d / "new"
    True
    >>> _ = (d / "x.txt").write_text("not ours")
    >>> check_output_dir(d)
    Traceback (most recent call last):
    ...
    riskmodel.errors.ConfigError: Output folder ... exists, is not empty and is not a riskmodel output (no manifest.json); choose another folder or remove it.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"Output path {str(out)!r} exists and is a file; choose a folder.")
    if out.is_dir() and any(out.iterdir()) and not (out / marker).is_file():
        raise ConfigError(
            f"Output folder {str(out)!r} exists, is not empty and is not a riskmodel output "
            f"(no {marker}); choose another folder or remove it."
        )
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process
        return True
    return True


def _remove_stale(out: Path) -> None:
    """Remove temporary folders of ``out`` left by killed runs (their process is gone)."""
    prefix = f".{out.name}{TMP_MARKER}"
    if not out.parent.is_dir():
        return
    for p in out.parent.iterdir():
        if not p.name.startswith(prefix) or not p.is_dir():
            continue
        m = re.match(r"(\d+)-", p.name[len(prefix):])
        if m and not _pid_alive(int(m.group(1))):
            logger.warning("Removing %s left by a run that did not finish.", p)
            shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def atomic_output_dir(out: str | os.PathLike, *, marker: str = MANIFEST):
    """Write into a temporary folder beside ``out``; rename it to ``out`` on success.

    The temporary folder is named ``.<name>.riskmodel-tmp-<pid>-<random>`` (hidden,
    never mistaken for output). On any exception — including ``KeyboardInterrupt``
    and the ``SystemExit`` raised by the CLI's SIGTERM handler — it is removed and
    ``out`` is left as it was. An existing ``out`` is replaced only when it is a
    previous riskmodel output (it holds ``marker``, by default ``manifest.json``) or empty. Temporary
    folders of killed runs (SIGKILL) are removed by the next run.

    Yields
    ------
    pathlib.Path
        The temporary folder to write into.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> with atomic_output_dir(out) as tmp:
    ...     _ = (tmp / "manifest.json").write_text("{}")
    >>> sorted(p.name for p in out.iterdir())
    ['manifest.json']
    """
    out = check_output_dir(out, marker=marker)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    tmp = out.parent / f".{out.name}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        # Created inside the try: a SIGTERM handled just after mkdir (Python runs signal
        # handlers between bytecodes, so it can land before any following line) must still
        # reach the cleanup below.
        tmp.mkdir()
        yield tmp
        old = None
        with _signals_deferred():  # the swap below is never cut in half by SIGTERM/SIGINT
            try:
                if out.exists():
                    old = out.parent / (f".{out.name}{TMP_MARKER}{os.getpid()}"
                                        f"-old-{secrets.token_hex(4)}")
                    os.rename(out, old)
                os.rename(tmp, out)
            except BaseException:
                if old is not None and old.exists() and not out.exists():
                    os.rename(old, out)
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGTERM and SIGINT back (main thread, POSIX) until the block is done."""
    import signal

    held = {signal.SIGTERM, signal.SIGINT}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
