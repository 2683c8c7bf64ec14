"""Local worker processes (spawned, not forked), restarted if they die mid-run."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

from popbt._execution import Executor, Running, Work
from popbt.errors import ConfigError
from popbt.executors._entry import worker_main
from popbt.executors._restart import Ended, check_count, keep_running, restart_limit

__all__ = ["Processes"]

STOP_WAIT_S = 10.0  # how long a worker told to stop may take to give its member back
# One compute thread per worker process unless the user says otherwise: several processes of
# a multi-threaded kernel on the same cores slow each other down, by 10-100× for small
# models. The variables must be in the environment the process starts with: a spawned
# process imports the parent's main script (and whatever it imports, torch included) before
# the worker's own code runs.
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@contextmanager
def _one_thread_each() -> Iterator[None]:
    """Processes started inside inherit one compute thread each (unless already set)."""
    added = [var for var in _THREAD_VARS if var not in os.environ]
    for var in added:
        os.environ[var] = "1"
    try:
        yield
    finally:
        for var in added:
            os.environ.pop(var, None)


@dataclass(frozen=True, kw_only=True)
class Processes(Executor):
    """Worker processes on this machine: the default for several workers
    (`workers=n` or `executor="processes"`).

    Contract: `workers` processes are started with `spawn` (never forked), each with one
    compute thread unless `OMP_NUM_THREADS` (or MKL's, OpenBLAS's) says otherwise; each opens
    the storage by URL and runs the worker loop. One that dies while members remain is
    replaced, at most `max_restarts` times (default 2 × workers), after which
    `TrainingError` is raised. Ctrl-C or SIGTERM stops every process, and their members are
    given back. The trainable (and an explore function) must be importable by the new
    processes: defined at module level in a file.

    Example:
        >>> import popbt
        >>> popbt.Processes(workers=4)
        Processes(workers=4, max_restarts=None)
        >>> popbt.Processes(workers=0)
        Traceback (most recent call last):
        popbt.errors.ConfigError: workers=0: must be an integer >= 1
        >>> # pop.train(MyTrainable, steps=1000, executor=popbt.Processes(workers=4))

    Raises:
        ConfigError: `workers` not an integer >= 1, or `max_restarts` not None or an
            integer >= 0.
    """

    workers: int
    max_restarts: int | None = None

    def __post_init__(self) -> None:
        check_count(self.workers, "workers", low=1)
        if self.max_restarts is not None:
            check_count(self.max_restarts, "max_restarts", low=0)

    def check(self, work: Work) -> None:
        """Refuse checkpoints in memory, a trainable the processes cannot import, and an
        explore function that cannot be sent to them.

        Raises:
            ConfigError: naming the object and how to make it importable.
        """
        super().check(work)
        work.by_reference()
        try:
            pickle.dumps(work.explore)
        except Exception as exc:  # noqa: BLE001 - whatever pickle refuses
            raise ConfigError(f"explore {work.explore!r} cannot be sent to worker processes "
                              f"({exc}); define it at module level in a file") from None

    def run(self, work: Work, running: Running) -> None:
        """Start the processes and wait for them; replace any that dies while members
        remain.

        Raises:
            ConfigError: as `check`.
            TrainingError: processes kept dying (more than `max_restarts`).
        """
        self.check(work)
        pool = _ProcessPool(mp.get_context("spawn"), work.by_reference())
        keep_running(pool, running, workers=self.workers,
                     limit=restart_limit(self.max_restarts, self.workers))


class _ProcessPool:
    what = "worker processes"

    def __init__(self, ctx: Any, work: Work) -> None:
        self._ctx = ctx
        self._work = work

    def start(self) -> BaseProcess:
        process: BaseProcess = self._ctx.Process(target=worker_main, args=(self._work,),
                                                 daemon=True)
        with _one_thread_each():
            process.start()
        return process

    def wait(self, running: Sequence[BaseProcess], timeout_s: float) -> list[Ended[BaseProcess]]:
        wait([p.sentinel for p in running], timeout=timeout_s)
        ended = [p for p in running if not p.is_alive()]
        for p in ended:
            p.join()
        return [Ended(p, p.exitcode) for p in ended]

    def stop(self, running: Sequence[BaseProcess]) -> None:
        for p in running:
            p.terminate()
        for p in running:
            p.join(STOP_WAIT_S)
            if p.is_alive():
                p.kill()
                p.join()
