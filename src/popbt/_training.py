"""Training a population with an executor: the part of `Population.train` after its checks.

`describe` turns the population and the user's arguments into the `Work` executors are
given; `run_training` runs an executor on it, with the progress display, SIGTERM handled as
Ctrl-C, and then checks how the run ended. No executor is imported here: the executor object
comes in resolved (see `popbt._execution.executor_for`).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from popbt._execution import Executor, Work
from popbt._progress import Progress
from popbt._signals import sigterm_interrupts
from popbt.errors import FatalRunError, TrainingError
from popbt.records import MemberState
from popbt.strategies.explore import CallableExplore
from popbt.trainable import Trainable

if TYPE_CHECKING:
    from popbt.population import Population


def describe(pop: Population, trainable: type[Trainable], *, lease_s: float) -> Work:
    """The work of training `pop` with `trainable`: an explore function of the user's is
    shipped with it (workers elsewhere may not import it from the stored settings).

    Raises:
        ConfigError: a bad `lease_s` (checked by the worker's own rule too).
    """
    from popbt.worker import WorkerOptions

    WorkerOptions(lease_s=lease_s)  # refuse a bad lease before anything starts
    explore = pop.settings.explore
    return Work(storage_url=pop.storage.shared_url, population=pop.name, trainable=trainable,
                checkpoint_root=pop.row.checkpoint_root, lease_s=lease_s,
                explore=explore if isinstance(explore, CallableExplore) else None)


class _Running:
    """The `Running` an executor of `pop` is given."""

    def __init__(self, pop: Population, progress: Progress) -> None:
        self._pop = pop
        self._progress = progress

    def members_remain(self) -> bool:
        row = self._pop.row
        return not row.error and self._pop.storage.unfinished(row) > 0

    def show(self, *, workers: int) -> None:
        self._progress.update(workers=workers)

    def work_here(self, work: Work, *, name: str) -> None:
        from popbt.worker import Worker, WorkerOptions

        pop = self._pop
        Worker(pop.storage, pop.row, pop.settings, work.trainable_class(), name=name,
               options=WorkerOptions(lease_s=work.lease_s),
               on_report=lambda _outcome: self._progress.update()).run()


def run_training(pop: Population, executor: Executor, work: Work, *,
                 progress: bool | None) -> None:
    """Run `executor` on `work` until no member is left; then check how it ended. Meant to
    be called by `Population.train` (its warning points at train's caller).

    Raises:
        TrainingError: a fatal error was recorded, workers stopped with members unfinished,
            or every member failed.
        ConfigError: the executor refused to start.
    """
    display = Progress(pop, enabled=progress, workers=executor.workers)
    try:
        with sigterm_interrupts():  # SIGTERM stops the workers, as Ctrl-C does
            executor.run(work, _Running(pop, display))
    finally:
        display.close()
    row = pop.row
    if row.error:
        raise FatalRunError(row.error)
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
