"""Executors only start workers: in this process, or in local worker processes."""

from __future__ import annotations

import os
import socket
import uuid
import warnings
from typing import TYPE_CHECKING

from popbt.errors import TrainingError
from popbt.records import MemberState
from popbt.trainable import Trainable

if TYPE_CHECKING:
    from popbt.population import Population

__all__ = ["run_executor", "worker_name"]


def worker_name() -> str:
    """A name unique to this worker: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def run_executor(pop: Population, trainable: type[Trainable], *, workers: int, lease_s: float,
                 progress: bool | None) -> None:
    """Train until no member is left, with `workers` workers; then check how it ended.

    Raises:
        TrainingError: a fatal error was recorded, or every member failed.
    """
    from popbt._progress import Progress

    display = Progress(pop, enabled=progress, workers=workers)
    try:
        if workers == 1:
            from popbt.executors.inprocess import run_inprocess

            run_inprocess(pop, trainable, lease_s=lease_s, progress=display)
        else:
            from popbt.executors.processes import run_processes

            run_processes(pop, trainable, workers=workers, lease_s=lease_s, progress=display)
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
