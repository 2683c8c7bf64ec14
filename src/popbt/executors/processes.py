"""Local worker processes (spawned, not forked), restarted if they die mid-run."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from popbt._refs import object_ref, resolve_ref
from popbt._signals import sigterm_interrupts
from popbt._text import printable
from popbt.errors import ConfigError, StorageError, TrainingError
from popbt.strategies.explore import CallableExplore
from popbt.trainable import Trainable

if TYPE_CHECKING:
    from popbt._progress import Progress
    from popbt.population import Population

FATAL_EXIT = 3
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


def _start(ctx: Any, args: tuple[Any, ...]) -> Any:
    process = ctx.Process(target=worker_main, args=args, daemon=True)
    with _one_thread_each():
        process.start()
    return process


def run_worker(url: str, name: str, trainable: type[Trainable] | str, explore: Any,
               lease_s: float) -> int:
    """Open the storage and run the worker loop (in a worker process or a Ray task); the exit
    status: 0, or `FATAL_EXIT` after an error that every worker would meet (it is recorded in
    the storage, so the others stop too). `trainable` may be a reference to resolve."""
    from popbt.executors import worker_name
    from popbt.population import load_population
    from popbt.worker import Worker, WorkerOptions

    pop = None
    try:
        pop = load_population(name=name, storage=url, explore=explore)
        cls: type[Trainable] = resolve_ref(trainable) if isinstance(trainable, str) \
            else trainable
        Worker(pop.storage, pop.row, pop.settings, cls, name=worker_name(),
               options=WorkerOptions(lease_s=lease_s)).run()
    except (TrainingError, ConfigError) as exc:
        if pop is None:  # not recorded: the run cannot say it, so this process does
            print(f"popbt worker: {printable(str(exc))}", file=sys.stderr)
        elif isinstance(exc, ConfigError):
            pop.storage.set_error(pop.row, str(exc))  # every worker would fail the same way
        return FATAL_EXIT  # a recorded error is raised once, by the run that started us
    except StorageError as exc:  # the database stayed away: a later worker may succeed
        print(f"popbt worker: {printable(str(exc))}", file=sys.stderr)
        return 1
    return 0


def worker_main(url: str, name: str, trainable_ref: str, explore: Any, lease_s: float) -> None:
    """The body of one worker process. SIGTERM (sent when the run stops) gives back the member
    it holds and ends the process."""
    with sigterm_interrupts():
        try:
            code = run_worker(url, name, trainable_ref, explore, lease_s)
        except KeyboardInterrupt:
            code = 130
    sys.exit(code)


def run_processes(pop: Population, trainable: type[Trainable], *, workers: int, lease_s: float,
                  progress: Progress, max_restarts: int | None = None) -> None:
    """Start `workers` processes and wait for them; replace any that dies while members remain.

    Raises:
        ConfigError: the trainable cannot be imported by worker processes.
        TrainingError: workers kept dying (more than `max_restarts`, default 2 × workers).
    """
    ref = object_ref(trainable)
    explore = pop.settings.explore if isinstance(pop.settings.explore, CallableExplore) else None
    try:
        pickle.dumps(explore)
    except Exception as exc:  # noqa: BLE001 - whatever pickle refuses
        raise ConfigError(f"explore {explore!r} cannot be sent to worker processes ({exc}); "
                          f"define it at module level in a file") from None
    args = (pop.storage.shared_url, pop.name, ref, explore, lease_s)
    ctx = mp.get_context("spawn")
    limit = 2 * workers if max_restarts is None else max_restarts
    procs = [_start(ctx, args) for _ in range(workers)]
    restarts = 0
    try:
        while procs:
            for p in list(procs):
                if p.is_alive():
                    continue
                p.join()
                procs.remove(p)
                if p.exitcode in (0, FATAL_EXIT) or pop.row.error \
                        or pop.storage.unfinished(pop.row) == 0:
                    continue
                restarts += 1
                if restarts > limit:
                    raise TrainingError(f"worker processes died {restarts} times (last exit "
                                        f"code {p.exitcode}); see their output above")
                procs.append(_start(ctx, args))
            progress.update(workers=len(procs))
            wait([p.sentinel for p in procs], timeout=0.25)
    finally:  # also on Ctrl-C or SIGTERM of this process: stop every worker, then wait
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(STOP_WAIT_S)
            if p.is_alive():
                p.kill()
                p.join()
