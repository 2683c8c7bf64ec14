"""Local worker processes (spawned, not forked), restarted if they die mid-run."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import sys
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from popbt._refs import object_ref, resolve_ref
from popbt.errors import ConfigError, TrainingError
from popbt.strategies.explore import CallableExplore
from popbt.trainable import Trainable

if TYPE_CHECKING:
    from popbt._progress import Progress
    from popbt.population import Population

FATAL_EXIT = 3
# Set before the trainable imports torch or NumPy: several processes of a multi-threaded
# kernel on the same cores slow each other down.
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def worker_main(url: str, name: str, trainable_ref: str, explore: Any, lease_s: float) -> None:
    """The body of one worker process: open the storage and run the worker loop."""
    from popbt.executors import worker_name
    from popbt.population import load_population
    from popbt.worker import Worker, WorkerOptions

    for var in _THREAD_VARS:  # one compute thread per worker process, unless the user says
        os.environ.setdefault(var, "1")
    pop = None
    try:
        pop = load_population(name=name, storage=url, explore=explore)
        trainable = resolve_ref(trainable_ref)
        Worker(pop.storage, pop.row, pop.settings, trainable, name=worker_name(),
               options=WorkerOptions(lease_s=lease_s)).run()
    except (TrainingError, ConfigError) as exc:
        if pop is not None and isinstance(exc, ConfigError):
            pop.storage.set_error(pop.row, str(exc))  # every worker would fail the same way
        print(f"popbt worker: {exc}", file=sys.stderr)
        sys.exit(FATAL_EXIT)


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
    args = (pop.storage.url, pop.name, ref, explore, lease_s)
    ctx = mp.get_context("spawn")
    limit = 2 * workers if max_restarts is None else max_restarts
    procs = [ctx.Process(target=worker_main, args=args, daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
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
                replacement = ctx.Process(target=worker_main, args=args, daemon=True)
                replacement.start()
                procs.append(replacement)
            progress.update(workers=len(procs))
            wait([p.sentinel for p in procs], timeout=0.25)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
