"""Output files written in threads while the caller goes on (private).

Parquet encoding and compression run in Arrow's C++ code without the GIL, so
writing the score files in worker threads overlaps with the report, which is
Python and matplotlib work. :class:`ParallelWrites` waits for every write when
its block ends and re-raises the first error, so a failed write fails the run
as before (inside :func:`riskmodel._atomic.atomic_output_dir` nothing
half-written is left behind).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["ParallelWrites"]


class ParallelWrites:
    """Run writes in a small thread pool; wait for all of them on leaving the block.

    Parameters
    ----------
    max_workers : int, default 2
        Threads (the machine's cores are shared with the report drawn meanwhile).

    Examples
    --------
    >>> out = []
    >>> with ParallelWrites() as writes:
    ...     writes.submit(out.append, 1)
    ...     writes.submit(out.append, 2)
    >>> sorted(out)
    [1, 2]
    >>> with ParallelWrites() as writes:  # doctest: +IGNORE_EXCEPTION_DETAIL
    ...     writes.submit(int, "x")
    Traceback (most recent call last):
    ValueError: invalid literal for int() with base 10: 'x'
    """

    def __init__(self, max_workers: int = 2):
        self._pool = ThreadPoolExecutor(max_workers=max_workers,
                                        thread_name_prefix="riskmodel-write")
        self._futures: list[Future] = []

    def submit(self, fn, *args, **kwargs) -> None:
        """Start ``fn(*args, **kwargs)`` in a worker thread."""
        self._futures.append(self._pool.submit(fn, *args, **kwargs))

    def __enter__(self) -> ParallelWrites:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # the workers write into the caller's temporary folder: wait for them even when a
        # signal (SIGTERM's Terminated, KeyboardInterrupt) interrupts the wait, so that
        # the folder is not removed under a write still running; then re-raise it
        interrupted = None
        while True:
            try:
                self._pool.shutdown(wait=True)
                break
            except BaseException as stop:  # noqa: BLE001 - re-raised below
                interrupted = interrupted or stop
        if interrupted is not None:
            raise interrupted
        if exc_type is None:
            for f in self._futures:
                f.result()  # the first write's error, as if written in order
