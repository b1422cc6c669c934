"""Running the real command line in a subprocess (shared by the fault tests).

Every helper runs ``python -m riskmodel`` with the ``src`` folder of the riskmodel
that the tests import first on ``PYTHONPATH`` (so a worktree tests its own code),
and without the caller's ``MLFLOW_*`` variables (a test sets the ones it needs).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import riskmodel as rm
from riskmodel._atomic import MANIFEST, TMP_MARKER

#: the folder that holds the riskmodel package under test
SRC = Path(rm.__file__).resolve().parents[1]
#: generous bound on one CLI subprocess (imports included)
TIMEOUT_S = 120


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI subprocess: ours, less MLFLOW_*, with SRC first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra or {})
    return env


def cli_command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "riskmodel", *map(str, args)]


def run_cli(args: list, *, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = TIMEOUT_S) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``riskmodel ARGS``; returns the finished process and its wall time in seconds."""
    start = time.perf_counter()
    proc = subprocess.run(cli_command(args), capture_output=True, text=True, cwd=cwd,
                          env=cli_env(env), timeout=timeout, stdin=subprocess.DEVNULL)
    return proc, time.perf_counter() - start


class Running:
    """A CLI subprocess whose stderr is read line by line in the background.

    Its standard input is a pipe, so a run paused by ``RISKMODEL_TEST_PAUSE_AT``
    (see :func:`riskmodel._atomic.pause_point`) waits until :meth:`resume`.
    """

    def __init__(self, args: list, *, cwd: Path, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(cli_command(args), cwd=cwd, env=cli_env(env), text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = TIMEOUT_S) -> None:
        """Block until a stderr line contains ``text``; AssertionError if the run ends first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} on stderr within {timeout} s: "
                                     f"{''.join(self.lines)}") from None
            if line is None:
                raise AssertionError(f"the run ended (code {self.proc.wait()}) before "
                                     f"{text!r}: {''.join(self.lines)}")
            self.lines.append(line)
            if text in line:
                return

    def resume(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = TIMEOUT_S) -> tuple[int, str]:
        """Wait for the end; returns the exit code and the whole stderr."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            stream.close()
        return code, "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish()


def assert_one_line_error(stderr: str, *words: str) -> str:
    """stderr is one ``riskmodel: error:`` line without a traceback, holding ``words``."""
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1 and lines[0].startswith("riskmodel: error: "), stderr
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    return lines[0]


def temp_leftovers(folder: Path) -> list[str]:
    """Names of riskmodel's temporary folders in ``folder`` (none after any run ends)."""
    return sorted(p.name for p in Path(folder).iterdir() if TMP_MARKER in p.name)


def snapshot(folder: Path) -> dict[str, str]:
    """``{file name: sha256}`` of the files of ``folder``."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).iterdir()) if p.is_file()}


def assert_whole_output(folder: Path) -> dict:
    """``folder`` is one whole output: its manifest's hashes are exactly its other files."""
    manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    files = snapshot(folder)
    del files[MANIFEST]
    assert manifest["files_sha256"] == files
    return manifest


def make_small_system(root: Path) -> tuple[Path, Path]:
    """A 300-pupil, two-year data folder and a 5-tree model folder fitted on it (~2 s)."""
    world = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0)
    data = Path(root) / "data"
    rm.write_tables(world.tables, data)
    X = rm.build_features(world.tables, "2023-03-01")
    y = rm.make_labels(world.tables, "2023-03-01", horizon_days=60).reindex(X.index).fillna(0)
    model = rm.RiskModel(n_estimators=5, random_state=0).fit(X, y)
    return data, Path(model.save(Path(root) / "model"))
