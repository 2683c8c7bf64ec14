"""One worker in this process: deterministic for a given population seed."""

from __future__ import annotations

from dataclasses import dataclass, field

from popbt._execution import Executor, Running, Work
from popbt.executors._entry import worker_name

__all__ = ["InProcess"]


@dataclass(frozen=True)
class InProcess(Executor):
    """One worker in this process: the default for one worker (`executor="inprocess"`).

    Contract: the worker loop runs in the calling thread, on the storage the population has
    open, so members take turns in a fixed order and a run is reproducible for a given seed;
    the trainable, and an explore function, need not be importable elsewhere, and
    checkpoints may live in memory (`checkpoints="memory://..."`).

    Examples:
        >>> import popbt
        >>> popbt.InProcess()
        InProcess()
        >>> # pop.train(MyTrainable, steps=1000, executor=popbt.InProcess())
    """

    workers: int = field(default=1, init=False, repr=False)

    @classmethod
    def from_shorthand(cls, **_: object) -> InProcess:
        return cls()

    def check(self, work: Work) -> None:
        """Nothing to refuse: this process reads whatever the population's storage holds."""

    def run(self, work: Work, running: Running) -> None:
        """Run the worker loop here until no member is left."""
        running.work_here(work, name=worker_name())
