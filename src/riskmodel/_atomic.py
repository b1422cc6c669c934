"""Atomic output folders (private): write beside the target, then swap it in whole.

Every writer of riskmodel (scoring runs, ``write_tables``, watch lists) goes through
:func:`atomic_output_dir`, so a failed or killed run leaves no partial output and a
folder that is not a riskmodel output is never overwritten.

An output folder that cannot be written (a read-only parent, a path under a file)
is the user's to fix: :class:`~riskmodel.ConfigError` naming the folder, raised by
:func:`check_output_dir` before any work where it can tell, else when the folder is
made. A full disk (``ENOSPC``) is left as the ``OSError`` it is (the CLI exits 1).
Two runs writing the same folder at once swap their results in one after the
other (an advisory lock on the parent folder), so the folder always holds one
whole output: that of the run that swapped last.

:func:`pause_point` is a test-only hook (``tests/test_faults.py``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import shutil
import sys
from pathlib import Path

from .errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["MANIFEST", "TMP_MARKER", "atomic_output_dir", "check_output_dir", "check_writable",
           "pause_point"]

#: Marker in the names of temporary folders (hidden, never mistaken for output).
TMP_MARKER = ".riskmodel-tmp-"
#: The file that marks a folder as a riskmodel output.
MANIFEST = "manifest.json"
#: Test-only: the environment variable read by :func:`pause_point`.
PAUSE_ENV = "RISKMODEL_TEST_PAUSE_AT"
#: errno values of a full disk or quota: real failures, never the user's input.
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


def pause_point(name: str) -> None:
    """Test-only hook: wait here when ``RISKMODEL_TEST_PAUSE_AT`` equals ``name``.

    The run prints ``riskmodel: test pause at <name>`` to stderr and waits for a
    line on its standard input (or its end), so that a test can send a signal
    while a known stage is running, or release two runs at the same moment.
    Called when a run enters a stage (:class:`riskmodel._run_io.Stages`) and by
    :func:`atomic_output_dir` just before the swap (``name="swap"``). Without the
    variable it does nothing; never set it outside tests.

    Examples
    --------
    >>> pause_point("write")  # the variable is not set: returns at once
    """
    if os.environ.get(PAUSE_ENV) == name:
        print(f"riskmodel: test pause at {name}", file=sys.stderr, flush=True)
        sys.stdin.readline()


def _unwritable(out: Path, where: Path, reason: str, option: str = "--out") -> ConfigError:
    return ConfigError(
        f"Output folder {str(out)!r} cannot be written: {reason}. Choose another output "
        f"folder ({option}) or make {str(where)!r} writable."
    )


def check_writable(out, option: str = "--out") -> None:
    """ConfigError naming ``out`` when it (or the folder it would be made in) cannot be written.

    ``option`` is the command-line option the message tells the user to change.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "a-file"
    >>> _ = f.write_text("x")
    >>> check_writable(f / "model", "--save-model")
    Traceback (most recent call last):
    ...
    riskmodel.errors.ConfigError: Output folder '.../a-file/model' cannot be written: '.../a-file' is a file, not a folder. Choose another output folder (--save-model) or make '.../a-file' writable.
    """
    out = Path(out)
    probe = out if out.exists() else out.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise _unwritable(out, probe, f"{str(probe)!r} is a file, not a folder", option)
    # the folder that receives the new output (out is replaced by a rename in its parent)
    target = out.parent if out.exists() else probe
    if not os.access(target, os.W_OK | os.X_OK):
        why = "read-only file system" if _read_only_fs(target) else "permission denied"
        raise _unwritable(out, target, f"{str(target)!r} is not writable ({why})", option)


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:  # pragma: no cover - statvfs not supported
        return False


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
    check_writable(out)
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
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(out, exc) from None
    _remove_stale(out)
    tmp = out.parent / f".{out.name}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        # Created inside the try: a SIGTERM handled just after mkdir (Python runs signal
        # handlers between bytecodes, so it can land before any following line) must still
        # reach the cleanup below.
        try:
            tmp.mkdir()
        except OSError as exc:
            raise _os_error(out, exc) from None
        yield tmp
        pause_point("swap")
        old = None
        # never cut in half by SIGTERM/SIGINT; one swap at a time per parent folder
        with _signals_deferred(), _parent_locked(out.parent):
            try:
                if out.exists():
                    if any(out.iterdir()) and not (out / marker).is_file():
                        raise ConfigError(
                            f"Output folder {str(out)!r} was filled by something other than "
                            "riskmodel while this run was writing; it was left as it is and "
                            "nothing of this run was kept.")
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


def _os_error(out: Path, exc: OSError) -> Exception:
    """A ConfigError naming ``out`` for a folder that cannot be made; a full disk stays."""
    if exc.errno in _NO_SPACE:
        return exc
    return _unwritable(out, out.parent, exc.strerror or str(exc))


@contextlib.contextmanager
def _parent_locked(parent: Path):
    """An advisory lock (flock) on ``parent``: concurrent swaps into it take turns."""
    try:
        import fcntl

        fd = os.open(parent, os.O_RDONLY)
    except (ImportError, OSError):  # pragma: no cover - not POSIX, or no such folder
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # pragma: no cover - a file system without locks
            pass
        yield
    finally:
        os.close(fd)  # releases the lock


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
