"""What the process that called `Population.train` reads of a run while it goes: the
records the workers commit, delivered to the run's callbacks and weighed by its stop rules.

Contract (see `popbt.callbacks` and `popbt.stopping` for what users are promised):
- `start` reads the population's records once (the best score so far, and where new records
  will begin), then calls every callback's `on_start`; `poll` reads only the scores and
  events committed since the last read (`Storage.scores_after`, `events_after`), delivers
  them in commit order (a report's score before its READY event, which is how a score is
  placed among events), updates the `RunProgress` and evaluates the rules; `finish`
  delivers what is left and calls every `on_end`.
- Without rules or callbacks it reads nothing and costs nothing.
- The first rule that fires, or the first callback that raises, stops the population
  (`Storage.set_stopped`) unless no member is left to train (the run has ended by itself).
  A callback's error is kept as `failure` (a `CallbackError`) for the run to raise once its
  workers have ended; no record is delivered after it.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from popbt.callbacks import Callback, RunEnd
from popbt.errors import CallbackError
from popbt.records import Event, EventKind, MemberState, Score
from popbt.stopping import RunProgress, StopRule

if TYPE_CHECKING:
    from popbt.population import Population


class Watch:
    """The reader of one run's records for its stop rules and callbacks."""

    def __init__(self, pop: Population, rules: Sequence[StopRule],
                 callbacks: Sequence[Callback],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._pop = pop
        self._rules = tuple(rules)
        self._callbacks = tuple(callbacks)
        self._clock = clock
        self.active = bool(self._rules or self._callbacks)
        self.progress = RunProgress(metric=pop.settings.metric, mode=pop.settings.mode)
        self.failure: CallbackError | None = None
        self.stopped: str | None = None
        self._started = clock()
        self._score_id = self._event_id = 0
        self._size = 1
        self._readies = 0

    def start(self) -> None:
        """Note where the run's records begin and the best score so far; call every
        `on_start`."""
        if not self.active:
            return
        self._started = self._clock()
        pop, progress = self._pop, self.progress
        storage, row = pop.storage, pop.row
        self._size = max(1, sum(m.state is not MemberState.RETIRED
                                for m in storage.members(row)))
        for score in storage.scores_after(row, 0):
            self._score_id = score.score_id
            self._better(score)
        self._event_id = max((e.event_id for e in storage.events_after(row, 0)), default=0)
        progress.best_after_round.append(progress.best)
        for callback in self._callbacks:
            self._call(callback, "on_start")

    def poll(self) -> None:
        """Deliver what was committed since the last read, then evaluate the rules."""
        if not self.active:
            return
        self._read()
        self.progress.elapsed_s = self._clock() - self._started
        if self.stopped is None and self.failure is None:
            for rule in self._rules:
                reason = rule.check(self.progress)
                if reason is not None:
                    self._stop(reason)
                    break

    def finish(self, end: RunEnd) -> None:
        """Deliver what is left, then call every `on_end` with `end` (each one, also after
        another raised; the first error is kept as `failure`)."""
        if not self.active:
            return
        self._read()
        for callback in self._callbacks:
            self._call(callback, "on_end", end, always=True)

    def _read(self) -> None:
        storage, row = self._pop.storage, self._pop.row
        events = storage.events_after(row, self._event_id)
        scores = deque(storage.scores_after(row, self._score_id))  # read after: they hold
        for event in events:                                  # every READY event's score
            self._event_id = event.event_id
            if event.kind is EventKind.READY:
                self._scores(scores, until=(event.member_id, event.step))
                self._ready()
            self._deliver("on_event", event)
        self._scores(scores, until=None)

    def _scores(self, scores: deque[Score], *, until: tuple[int, int] | None) -> None:
        """Take scores off `scores` up to the one of (member, step) `until` (all of them
        when None, or when it is not among them)."""
        while scores:
            score = scores.popleft()
            self._score_id = score.score_id
            self._better(score)
            self._deliver("on_report", score)
            if (score.member_id, score.step) == until:
                return

    def _better(self, score: Score) -> None:
        progress = self.progress
        value = score.score
        if math.isfinite(value) and progress.better(value, progress.best):
            progress.best, progress.best_member = value, score.member_id
            progress.best_step = score.step

    def _ready(self) -> None:
        self._readies += 1
        if self._readies % self._size == 0:
            self.progress.rounds += 1
            self.progress.best_after_round.append(self.progress.best)

    def _deliver(self, method: str, record: Score | Event) -> None:
        if self.failure is None:
            for callback in self._callbacks:
                self._call(callback, method, record)

    def _call(self, callback: Callback, method: str, *args: Any,
              always: bool = False) -> None:
        """Call `callback.method(pop, *args)`; an error becomes the run's `failure` (the
        first one) and stops the population. Once there is a failure, only `always` calls
        are made."""
        if self.failure is not None and not always:
            return
        try:
            getattr(callback, method)(self._pop, *args)
        except Exception as exc:  # noqa: BLE001 - the user's code may raise anything
            if self.failure is None:
                what = f"{type(callback).__name__}.{method}"
                self.failure = CallbackError(f"callback {what} raised {type(exc).__name__}: "
                                             f"{exc}")
                self.failure.__cause__ = exc
                self._stop(f"error in callback {what}: {type(exc).__name__}: {exc}")

    def _stop(self, reason: str) -> None:
        """Stop the population with `reason`, unless nothing is left to train."""
        storage, row = self._pop.storage, self._pop.row
        if row.stopped is None and storage.unfinished(row) > 0:
            storage.set_stopped(row, reason)
        self.stopped = reason


def run_watched(pop: Population, *, target: int, stop: StopRule | Sequence[StopRule] | None,
                callbacks: Sequence[Callback], body: Callable[[Watch], None],
                reached: Callable[[], int], on_stop: Callable[[], None]) -> None:
    """A whole-population run to `target` steps (the vectorized trainer's, a genetic
    population's): set the target, run `body(watch)` under a `Watch` of `stop` and
    `callbacks`, and end it: `on_stop()` when a rule stopped it short of the target (at
    `reached()`), then every `on_end`; a callback's error is raised last.

    Raises:
        ConfigError: bad stop rules or callbacks.
        CallbackError: a callback raised (the run stopped first, losing nothing).
    """
    from popbt.callbacks import check_callbacks
    from popbt.stopping import stop_rules

    rules, hooks = stop_rules(stop), check_callbacks(callbacks)
    pop.storage.set_target(pop.row, target)
    watch = Watch(pop, rules, hooks)
    watch.start()
    try:
        body(watch)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # nothing replaces the error being raised
            watch.finish(RunEnd("interrupted") if isinstance(exc, KeyboardInterrupt)
                         else RunEnd("failed", str(exc)))
        raise
    stopped = watch.stopped is not None and reached() < target
    if stopped:
        on_stop()
    watch.finish(RunEnd("stopped", watch.stopped) if stopped else RunEnd("finished"))
    if watch.failure is not None:
        raise watch.failure
