"""Callbacks: code of yours that a training run calls as members report, as the population
changes, and when the run ends. Loggers (`popbt.loggers`) are callbacks.

Subclass `Callback`, override the methods you need, and pass instances as
`Population.train(..., callbacks=[...])`.

Contract:
- The process that called `train` calls them, never a worker, from the records the
  storage holds: so they see the same with every executor (in process, worker processes,
  Ray, and `popbt worker` processes elsewhere serving the same population). The records are
  read as often as the stop rules are evaluated (see `popbt.stopping`): after every report
  when training in process, about four times a second otherwise.
- `on_start` is called once, before any worker starts. Then each record committed during
  the run is delivered once, in commit order: a score to `on_report`, an event (a READY,
  EXPLOIT, EXPLORE, FAILURE, ... event; see `popbt.records.Event`) to `on_event`; a report's
  score comes before its READY event. `on_end` is called once when the run ends, whatever
  ended it, after the last records were delivered. Callbacks are called in the order given.
- Records committed before the run started are not delivered (`pop.scores()` and
  `pop.events()` hold them).
- A callback that raises stops the run: the population is stopped with the error as its
  reason, workers finish and report the intervals they are training (nothing trained is
  lost), no further record is delivered, every callback's `on_end` is called, and `train`
  raises `popbt.CallbackError` naming the callback, with its exception as the cause.
  Training again resumes.

Examples:
    >>> class Count(Callback):
    ...     def __init__(self):
    ...         self.steps = []
    ...     def on_report(self, pop, score):
    ...         self.steps.append(score.step)
    ...     def on_end(self, pop, end):
    ...         print(f"{len(self.steps)} reports at steps {sorted(set(self.steps))}: "
    ...               f"{end.status}")
    >>> from popbt.demos.toy_trainable import SPACE
    >>> toy = popbt.create_population(name="toy", storage="sqlite:///callbacks.db",
    ...                               space=SPACE, size=2, metric="Q", ready=popbt.Every(4))
    >>> _ = toy.train(ToyTrainable, steps=8, callbacks=[Count()], progress=False)
    4 reports at steps [4, 8]: finished
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from popbt.errors import ConfigError
from popbt.records import Event, Score

if TYPE_CHECKING:
    from popbt.population import Population

__all__ = ["Callback", "RunEnd", "check_callbacks"]

END_STATUSES = ("finished", "stopped", "failed", "interrupted")


@dataclass(frozen=True)
class RunEnd:
    """How a run ended.

    Attributes:
        status: "finished" (every member reached the step target, or failed for good),
            "stopped" (a stop rule fired, a callback raised, or the population was stopped
            elsewhere), "failed" (the run raised: a fatal error, workers that kept dying, a
            bad argument) or "interrupted" (Ctrl-C or SIGTERM).
        reason: the stop reason or the error's message; None when finished or interrupted.
    """

    status: str
    reason: str | None = None


class Callback:
    """Called by a training run; every method does nothing unless overridden. See the
    module contract."""

    def on_start(self, pop: Population) -> None:
        """The run starts (no worker has started yet)."""

    def on_report(self, pop: Population, score: Score) -> None:
        """A member reported `score` (its step, metric value and every metric)."""

    def on_event(self, pop: Population, event: Event) -> None:
        """An event was recorded: `event.kind` says which (an EXPLOIT's `data` names the
        donor and the new hyperparameters, an EXPLORE's the old and new ones)."""

    def on_end(self, pop: Population, end: RunEnd) -> None:
        """The run ended, as `end` says."""


def check_callbacks(callbacks: Sequence[Callback]) -> tuple[Callback, ...]:
    """`train`'s `callbacks` argument as a tuple.

    Raises:
        ConfigError: not a list of `Callback` instances.
    """
    if isinstance(callbacks, str | bytes) or not isinstance(callbacks, Sequence) \
            or not all(isinstance(c, Callback) for c in callbacks):
        raise ConfigError(f"callbacks={callbacks!r}: expected a list of popbt.Callback "
                          f"instances, such as [popbt.loggers.TensorBoardLogger('runs')]")
    return tuple(callbacks)
