"""Stop rules: when a training run ends before every member reaches its step target.

`Population.train(..., stop=...)` takes one rule or a list of them; the run stops at the
first that fires:
- `TargetScore(score)`: a member reported `score` or better;
- `TimeBudget(seconds)`: the run has lasted `seconds`;
- `Plateau(rounds, min_delta=0.0)`: the best score has not improved by more than
  `min_delta` in `rounds` ready rounds.

Contract:
- A rule is a frozen value: `check(progress)` returns why the run should stop (one line of
  text), or None. It reads only the `RunProgress` it is given, so one rule serves any
  number of runs, and a rule of your own subclasses `StopRule`.
- The process that called `train` evaluates the rules (see `popbt._watch`) each time it
  reads what the workers committed: after every report when training in process, about four
  times a second with worker processes or Ray. A rule that fires stops the population
  (`Storage.set_stopped`, its reason recorded and shown by `Population.status()`): no member
  is claimed again, members in the middle of an interval finish it and report, so nothing
  trained is lost. Training again clears the reason and continues where it stopped.
- Scores are compared in the population's mode: reaching a target means >= for
  mode="max" and <= for mode="min", and an improvement is a move in that direction. Scores
  that are not finite never count.
- A ready round is as many READY events as the population has members (every member
  reaching its next ready point, when members take turns).

Examples:
    >>> progress = RunProgress(metric="accuracy", mode="max", best=0.97, best_member=3,
    ...                        best_step=400, rounds=5, best_after_round=[0.9, 0.95, 0.97,
    ...                                                                   0.97, 0.97, 0.97])
    >>> TargetScore(0.98).check(progress) is None
    True
    >>> Plateau(rounds=3).check(progress)
    'plateau: best 0.97 not improved in 3 ready rounds'
    >>> TargetScore(0.95).check(progress)
    'target: accuracy 0.97 reached 0.95 (member 3 at step 400)'
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from popbt.errors import ConfigError

__all__ = ["Plateau", "RunProgress", "StopRule", "TargetScore", "TimeBudget", "from_options",
           "stop_rules"]


@dataclass
class RunProgress:
    """What the stop rules of a run see.

    Attributes:
        metric: the population's metric; `mode`: "max" or "min".
        elapsed_s: seconds since the run started.
        best: the best finite score reported so far (the best member's when the run
            started, then every score reported during it), None before any;
            `best_member` and `best_step`: who reported it, at which step.
        rounds: ready rounds completed since the run started.
        best_after_round: `best` at the end of each ready round of the run; the first
            entry is `best` when the run started.
    """

    metric: str
    mode: str
    elapsed_s: float = 0.0
    best: float | None = None
    best_member: int | None = None
    best_step: int | None = None
    rounds: int = 0
    best_after_round: list[float | None] = field(default_factory=list)

    def better(self, new: float | None, old: float | None, *, by: float = 0.0) -> bool:
        """Whether `new` beats `old` by more than `by` in the population's mode (anything
        beats None; None beats nothing)."""
        if new is None:
            return False
        if old is None:
            return True
        return (new - old if self.mode == "max" else old - new) > by


class StopRule(ABC):
    """A condition that ends a run early; see the module contract."""

    @abstractmethod
    def check(self, progress: RunProgress) -> str | None:
        """Why the run should stop now (one line), or None to go on."""


def _number(value: Any, name: str, *, low: float | None = None,
            above: float | None = None) -> float:
    """`value` as a finite float, at least `low` or above `above`.

    Raises:
        ConfigError: naming `name` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        raise ConfigError(f"{name}={value!r}: expected a finite number")
    if low is not None and value < low:
        raise ConfigError(f"{name}={value!r}: must be >= {low:g}")
    if above is not None and value <= above:
        raise ConfigError(f"{name}={value!r}: must be above {above:g}")
    return float(value)


@dataclass(frozen=True)
class TargetScore(StopRule):
    """Stop once a member reports `score` or better (>= for mode="max", <= for "min").

    Raises:
        ConfigError: `score` is not a finite number.
    """

    score: float

    def __post_init__(self) -> None:
        _number(self.score, "score")

    def check(self, progress: RunProgress) -> str | None:
        best = progress.best
        if best is None or progress.better(self.score, best):
            return None
        return (f"target: {progress.metric} {best:.6g} reached {self.score:g} (member "
                f"{progress.best_member} at step {progress.best_step})")


@dataclass(frozen=True)
class TimeBudget(StopRule):
    """Stop once the run has lasted `seconds` (wall time since `train` was called).

    Raises:
        ConfigError: `seconds` is not a finite number above 0.
    """

    seconds: float

    def __post_init__(self) -> None:
        _number(self.seconds, "seconds", above=0.0)

    def check(self, progress: RunProgress) -> str | None:
        if progress.elapsed_s < self.seconds:
            return None
        return f"time budget: {progress.elapsed_s:.0f} s of {self.seconds:g} s spent"


@dataclass(frozen=True)
class Plateau(StopRule):
    """Stop once the best score has not improved by more than `min_delta` in `rounds`
    ready rounds of the run.

    Raises:
        ConfigError: `rounds` is not an integer >= 1, or `min_delta` not a finite number
            >= 0.
    """

    rounds: int
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) \
                or self.rounds < 1:
            raise ConfigError(f"rounds={self.rounds!r}: must be an integer >= 1")
        _number(self.min_delta, "min_delta", low=0.0)

    def check(self, progress: RunProgress) -> str | None:
        if progress.rounds < self.rounds:
            return None
        before = progress.best_after_round[progress.rounds - self.rounds]
        if progress.better(progress.best, before, by=self.min_delta):
            return None
        by = f" by more than {self.min_delta:g}" if self.min_delta else ""
        best = "no finite score" if progress.best is None else f"best {progress.best:.6g}"
        return f"plateau: {best} not improved{by} in {self.rounds} ready rounds"


def stop_rules(stop: StopRule | Sequence[StopRule] | None) -> tuple[StopRule, ...]:
    """`train`'s `stop` argument as a tuple of rules.

    Raises:
        ConfigError: neither None, a `StopRule`, nor a list of them.
    """
    if stop is None:
        return ()
    rules = (stop,) if isinstance(stop, StopRule) else stop
    if isinstance(rules, str | bytes) or not isinstance(rules, Sequence) \
            or not all(isinstance(r, StopRule) for r in rules):
        raise ConfigError(f"stop={stop!r}: expected a stop rule such as "
                          f"popbt.TargetScore(0.98), popbt.TimeBudget(3600) or "
                          f"popbt.Plateau(rounds=5), or a list of them")
    return tuple(rules)


def from_options(*, score: float | None = None, seconds: float | None = None,
                 plateau: int | None = None, min_delta: float = 0.0) -> list[StopRule]:
    """The rules that options given (not None) ask for, as `popbt run`'s `--stop-score`,
    `--time-budget`, `--plateau` and `--plateau-delta` give them.

    Examples:
        >>> from_options(score=0.98, plateau=5)
        [TargetScore(score=0.98), Plateau(rounds=5, min_delta=0.0)]

    Raises:
        ConfigError: a bad value, as the rule's own check says.
    """
    rules: list[StopRule] = []
    if score is not None:
        rules.append(TargetScore(score))
    if seconds is not None:
        rules.append(TimeBudget(seconds))
    if plateau is not None:
        rules.append(Plateau(plateau, min_delta))
    return rules
