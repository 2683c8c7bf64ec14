"""Training a population with an executor: the part of `Population.train` after its checks.

`describe` turns the population and the user's arguments into the `Work` executors are
given; `run_training` runs an executor on it, with the progress display, SIGTERM handled as
Ctrl-C, and then checks how the run ended. No executor is imported here: the executor object
comes in resolved (see `popbt._execution.executor_for`).

Stop rules and callbacks (see `popbt.stopping`, `popbt.callbacks`) are served by a
`popbt._watch.Watch` in this process: it reads what the workers commit each time the
executor reports (`Running.show`) or a worker here reports. A run that was stopped ends
without error once its workers have ended; a callback that raised is raised then, as
`CallbackError`; every callback's `on_end` hears how the run ended, also when it raises.

Contract of an interruption (Ctrl-C, or SIGTERM): once the executor has stopped its workers,
every member a worker of this run still holds is given back (idle, resuming from its last
checkpoint), one line on stderr says so and how to resume, and the `KeyboardInterrupt`
propagates, marked as told (see `popbt._signals.told`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from popbt._execution import Executor, Work
from popbt._progress import Progress
from popbt._signals import Terminated, sigterm_interrupts, tell
from popbt._watch import Watch
from popbt.callbacks import Callback, RunEnd
from popbt.errors import ConfigError, FatalRunError, TrainingError
from popbt.hparams import Unread, warn_unread
from popbt.records import MemberState
from popbt.stopping import StopRule
from popbt.strategies.explore import CallableExplore
from popbt.trainable import Trainable

if TYPE_CHECKING:
    from popbt.population import Population


def describe(pop: Population, trainable: type[Trainable], *, lease_s: float,
             strict: bool = False) -> Work:
    """The work of training `pop` with `trainable`: an explore function of the user's is
    shipped with it (workers elsewhere may not import it from the stored settings). With
    `strict`, a hyperparameter the trainable never reads stops the run (see `Work`).

    Raises:
        ConfigError: a bad `lease_s` (checked by the worker's own rule too).
    """
    from popbt.worker import WorkerOptions

    WorkerOptions(lease_s=lease_s)  # refuse a bad lease before anything starts
    explore = pop.settings.explore
    return Work(storage_url=pop.storage.shared_url, population=pop.name, trainable=trainable,
                checkpoint_root=pop.row.checkpoint_root, lease_s=lease_s, strict=strict,
                explore=explore if isinstance(explore, CallableExplore) else None)


class _Running:
    """The `Running` an executor of `pop` is given."""

    def __init__(self, pop: Population, progress: Progress, watch: Watch, *,
                 strict: bool) -> None:
        self._pop = pop
        self._progress = progress
        self._watch = watch
        self._strict = strict
        self._warned = False
        self.names: set[str] = set()  # of the workers run in this process

    def members_remain(self) -> bool:
        row = self._pop.row
        return not row.error and row.stopped is None and self._pop.storage.unfinished(row) > 0

    def show(self, *, workers: int) -> None:
        self._progress.update(workers=workers)
        self._watch.poll()

    def reported(self) -> None:
        """A worker in this process reported."""
        self._progress.update()
        self._watch.poll()

    def work_here(self, work: Work, *, name: str) -> None:
        from popbt.worker import Worker, WorkerOptions

        pop = self._pop
        self.names.add(name)
        Worker(pop.storage, pop.row, pop.settings, work.trainable_class(), name=name,
               options=WorkerOptions(lease_s=work.lease_s),
               on_report=lambda _outcome: self.reported(), on_unread=self.unread).run()

    def unread(self, finding: Unread) -> None:
        if self._strict:
            self._pop.storage.set_error(self._pop.row, finding.message)
            raise ConfigError(finding.message)
        if not self._warned:
            self._warned = True
            warn_unread(finding)


def run_training(pop: Population, executor: Executor, work: Work, *,
                 progress: bool | None, stop: Sequence[StopRule] = (),
                 callbacks: Sequence[Callback] = ()) -> None:
    """Run `executor` on `work` until no member is left or a rule of `stop` stops the run;
    then check how it ended. Meant to be called by `Population.train` (its warning points at
    train's caller), with `stop` and `callbacks` checked by `popbt.stopping.stop_rules` and
    `popbt.callbacks.check_callbacks`.

    Raises:
        TrainingError: a fatal error was recorded, workers stopped with members unfinished,
            or every member failed.
        CallbackError: a callback raised (the run was stopped, and its workers have ended).
        ConfigError: the executor refused to start; under `work.strict`, the trainable
            never reads a hyperparameter of the space.
    """
    display = Progress(pop, enabled=progress, workers=executor.workers)
    watch = Watch(pop, stop, callbacks)
    running = _Running(pop, display, watch, strict=work.strict)
    try:
        try:
            with sigterm_interrupts():  # SIGTERM stops the workers, as Ctrl-C does
                watch.start()
                if watch.failure is None:  # an on_start that raised stopped the run
                    executor.run(work, running)
        finally:
            display.close()
    except KeyboardInterrupt as exc:
        tell(exc, _interrupted(pop, running.names, exc))
        _last_words(watch, RunEnd("interrupted"))
        raise
    except BaseException as exc:
        _last_words(watch, RunEnd("failed", str(exc)))
        raise
    end, error = _outcome(pop)
    watch.finish(end)
    if watch.failure is not None and not isinstance(error, FatalRunError):
        error = watch.failure
    if error is not None:
        raise error
    failed = [m for m in pop.members if m.state is MemberState.FAILED]
    if failed:
        warnings.warn(f"{len(failed)} of {pop.settings.size} members failed for good "
                      f"(member {failed[0].member_id}: {failed[0].error}); "
                      f"training them again retries them", RuntimeWarning, stacklevel=3)


def _outcome(pop: Population) -> tuple[RunEnd, TrainingError | None]:
    """How a run whose workers have all ended ended, and the error to raise for it."""
    row = pop.row
    if row.error:
        return RunEnd("failed", row.error), FatalRunError(row.error)
    if row.stopped is not None:
        return RunEnd("stopped", row.stopped), None
    unfinished = pop.storage.unfinished(row)
    error = None
    if unfinished:
        error = TrainingError(f"the workers stopped with {unfinished} members unfinished; "
                              f"see their output above")
    else:
        failed = [m for m in pop.members if m.state is MemberState.FAILED]
        if len(failed) == pop.settings.size:
            error = TrainingError(f"every member failed; member {failed[0].member_id}: "
                                  f"{failed[0].error}")
    return (RunEnd("finished") if error is None else RunEnd("failed", str(error))), error


def _last_words(watch: Watch, end: RunEnd) -> None:
    """Tell the callbacks how a run that raised ended; nothing that goes wrong meanwhile
    (the storage unreachable, say) replaces the error being raised."""
    with contextlib.suppress(Exception):
        watch.finish(end)


def _interrupted(pop: Population, names: Collection[str], exc: KeyboardInterrupt) -> str:
    """Give back the members the run's workers still hold, now that the executor has stopped
    them: those of the workers in this process (`names`; a claim taken just as the interrupt
    came) and those of worker processes of this host that have ended. The line that tells
    the user; storage errors are left out of it (the interruption is what they asked for)."""
    from popbt.worker import release_dead_local_holders

    what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
    line = f"popbt: {what}; train again to resume"
    with contextlib.suppress(Exception):
        row = pop.row
        release_dead_local_holders(pop.storage, row)
        for member_id, holder, token in pop.storage.holders(row):
            if holder in names:
                pop.storage.release(row, member_id, worker=holder, token=token)
        members = pop.members
        states = Counter(m.state for m in members)
        counts = [f"{states[MemberState.DONE]} of {len(members)} members done",
                  f"{states[MemberState.IDLE]} idle"]
        if states[MemberState.RUNNING]:
            counts.append(f"{states[MemberState.RUNNING]} held by other workers")
        if states[MemberState.FAILED]:
            counts.append(f"{states[MemberState.FAILED]} failed")
        line += f" ({', '.join(counts)})"
    return line
