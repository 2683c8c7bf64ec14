"""Executors only start workers: in this process, in local worker processes, or as Ray tasks."""

from __future__ import annotations

import os
import socket
import uuid
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

from popbt.errors import ConfigError, TrainingError
from popbt.records import MemberState
from popbt.trainable import Trainable

if TYPE_CHECKING:
    from popbt._progress import Progress
    from popbt.population import Population

__all__ = ["EXECUTORS", "run_executor", "worker_name"]

EXECUTORS = ("inprocess", "processes", "ray")


def worker_name() -> str:
    """A name unique to this worker: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def check_executor(executor: str | None, workers: int, *, ray_address: str | None,
                   resources_per_worker: Mapping[str, float] | None) -> str:
    """The executor to use: `executor`, or by default "inprocess" for one worker and
    "processes" for more.

    Raises:
        ConfigError: an unknown executor, one worker in process asked for several, or Ray
            options given to another executor.
    """
    if executor is None:
        executor = "inprocess" if workers == 1 else "processes"
    if executor not in EXECUTORS:
        raise ConfigError(f"executor={executor!r}: expected one of {', '.join(EXECUTORS)}")
    if executor == "inprocess" and workers != 1:
        raise ConfigError(f"executor='inprocess' runs one worker, not workers={workers}; use "
                          f"executor='processes' or 'ray'")
    if executor != "ray" and (ray_address is not None or resources_per_worker is not None):
        raise ConfigError(f"ray_address and resources_per_worker apply to executor='ray', not "
                          f"{executor!r}")
    return executor


def run_executor(pop: Population, trainable: type[Trainable], *, executor: str, workers: int,
                 lease_s: float, progress: bool | None, ray_address: str | None = None,
                 resources_per_worker: Mapping[str, float] | None = None) -> None:
    """Train until no member is left, with `workers` workers of `executor` (checked by
    `check_executor`); then check how it ended.

    Raises:
        TrainingError: a fatal error was recorded, or every member failed.
    """
    from popbt._progress import Progress
    from popbt._signals import sigterm_interrupts

    display = Progress(pop, enabled=progress, workers=workers)
    try:
        with sigterm_interrupts():  # SIGTERM stops the workers, as Ctrl-C does
            _run(pop, trainable, executor=executor, workers=workers, lease_s=lease_s,
                 progress=display, ray_address=ray_address,
                 resources_per_worker=resources_per_worker)
    finally:
        display.close()
    row = pop.row
    if row.error:
        raise TrainingError(row.error)
    unfinished = pop.storage.unfinished(row)
    if unfinished:
        raise TrainingError(f"the workers stopped with {unfinished} members unfinished; see "
                            f"their output above")
    failed = [m for m in pop.members if m.state is MemberState.FAILED]
    if len(failed) == pop.settings.size:
        raise TrainingError(f"every member failed; member {failed[0].member_id}: "
                            f"{failed[0].error}")
    if failed:
        warnings.warn(f"{len(failed)} of {pop.settings.size} members failed for good "
                      f"(member {failed[0].member_id}: {failed[0].error}); "
                      f"training them again retries them", RuntimeWarning, stacklevel=3)


def _run(pop: Population, trainable: type[Trainable], *, executor: str, workers: int,
         lease_s: float, progress: Progress, ray_address: str | None,
         resources_per_worker: Mapping[str, float] | None) -> None:
    if executor == "inprocess":
        from popbt.executors.inprocess import run_inprocess

        run_inprocess(pop, trainable, lease_s=lease_s, progress=progress)
    elif executor == "processes":
        from popbt.executors.processes import run_processes

        run_processes(pop, trainable, workers=workers, lease_s=lease_s, progress=progress)
    else:
        from popbt.executors.ray import run_ray

        run_ray(pop, trainable, workers=workers, lease_s=lease_s, progress=progress,
                address=ray_address, resources=resources_per_worker)
