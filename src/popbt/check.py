"""Exercise a trainable before a run: the mistakes that make PBT silently wrong.

PBT copies a member by its `state_dict()` and changes its hyperparameters between intervals.
Two mistakes break that without an error: state the checkpoint leaves out (a momentum
buffer, an environment's episode), so a copy trains differently from its donor; and a
hyperparameter that changes nothing (read only when the model is built, or never applied to
the optimizer), so the recorded schedule is not what trained the model. `check_trainable`
looks for both, and for names of the space the trainable never reads, in a few steps:

1. set up with hyperparameters sampled from the space, train `steps` steps, evaluate;
2. save the state (through popbt's checkpoint format) and restore it into a new object set
   up with another seed, as an exploit does;
3. train both `steps` more steps: any difference in their evaluations or states is state
   that `state_dict()` leaves out (the attributes that differed after restoring are named);
4. for each hyperparameter, train two restored copies under two values of it from the
   space: the same evaluation and state from both is a hyperparameter that changes nothing.

Each training runs with Python's, NumPy's and torch's global generators seeded alike (and
put back afterwards), so only the trainable's own state can make runs differ: the result is
the same every time for a given `seed`.

A trainable of a league (`league=popbt.League(...)`) plays frozen copies of itself through
`self.league` (`popbt.league.practice`): its reports are checked as a run would check them,
and its rating is added to what `evaluate()` returns, as the metric "rating".
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from popbt._compare import difference, same_number
from popbt._serialize import deserialize, serialize
from popbt.errors import CheckpointError, ConfigError
from popbt.hparams import Hyperparameters, find_unread
from popbt.league.config import RATING_METRIC, League
from popbt.league.practice import PracticeLeague
from popbt.space import Domain, Space
from popbt.trainable import Trainable

__all__ = ["CheckResult", "Finding", "check_trainable"]

@dataclass(frozen=True)
class Finding:
    """One problem `check_trainable` found.

    Attributes:
        kind: "unread" (a name of the space never read while training), "state"
            (`state_dict()` leaves out state that changes training), "inert" (a
            hyperparameter that changes nothing), "result" (`evaluate()` returns no usable
            score), "storage" (the state cannot be stored and read back) or "error" (the
            trainable raised; the checks after it did not run).
        message: one line that says what was found and what to do.
    """

    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class CheckResult:
    """What `check_trainable` found; `str()` gives one line per finding.

    Examples:
        >>> CheckResult(trainable="Net", steps=3, findings=()).ok
        True
    """

    trainable: str
    steps: int
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    def __str__(self) -> str:
        if self.ok:
            return (f"{self.trainable}: no problem found (state saved and restored, every "
                    f"hyperparameter read and changing training, in {self.steps} steps)")
        return "\n".join(f"{self.trainable}: {f}" for f in self.findings)


class _Stop(Exception):
    """The check cannot go on (the trainable raised, or its state cannot be stored)."""


@contextlib.contextmanager
def _global_generators(seed: int) -> Iterator[None]:
    """Python's, NumPy's and torch's global generators seeded with `seed`, then put back."""
    python, legacy = random.getstate(), np.random.get_state()
    torch = sys.modules.get("torch")
    forked = torch.random.fork_rng() if torch is not None else contextlib.nullcontext()
    try:
        with forked:
            random.seed(seed)
            np.random.seed(seed)
            if torch is not None:
                torch.manual_seed(seed)
            yield
    finally:
        random.setstate(python)
        np.random.set_state(legacy)


def _two_values(domain: Domain) -> tuple[Any, Any] | None:
    """Two different values of `domain` (at 20% and 80% of its range, else its ends)."""
    for low, high in ((0.2, 0.8), (0.0, 1.0)):
        a, b = domain.from_unit(low), domain.from_unit(high)
        if a != b:
            return a, b
    return None


def _gap(name: str, first: float, second: float) -> str:
    return f"{name!r} {first:.6g} and {second:.6g} (difference {abs(first - second):.3g})"


class _Check:
    def __init__(self, trainable: type[Trainable], space: Space, steps: int, seed: int,
                 metric: str | None, league: League | None) -> None:
        self.cls, self.space, self.steps, self.seed, self.metric = (
            trainable, space, steps, seed, metric)
        self.league = league
        self.rating: float | None = None  # the league rating a restored copy starts from
        self.findings: list[Finding] = []

    def call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - the user's code may raise anything
            from popbt.decider import describe_error

            self.findings.append(Finding("error", f"{self.cls.__name__}.{what} raised "
                                                  f"{describe_error(exc)}"))
            raise _Stop from None

    def new(self, hparams: dict[str, Any], seed: int) -> Trainable:
        trainable = self.call("__init__", self.cls)
        if self.league is not None:
            trainable.league = PracticeLeague(trainable, dict(hparams), seed, self.league.rating,
                                              start=self.rating)
        self.call("setup", trainable.setup, hparams, seed)
        return trainable

    def evaluated(self, trainable: Trainable) -> dict[str, float]:
        """What `evaluate()` returns, with the rating of a league's trainable."""
        result = self.call("evaluate", trainable.evaluate)
        if self.league is not None:
            if not isinstance(result, Mapping) or RATING_METRIC in result:
                self.stop("result", f"evaluate() of a league's trainable returns a dict "
                                    f"without 'rating' (the league adds it), not {result!r}")
            result = {**result, RATING_METRIC: trainable.league.rating}
        return self.metrics(result)

    def train(self, trainable: Trainable, hparams: dict[str, Any],
              seed: int) -> tuple[dict[str, float], dict[str, Any]]:
        """Train `steps` steps; the evaluation's values and the state afterwards."""
        with _global_generators(seed):
            self.call("train", trainable.train, hparams, self.steps)
        metrics = self.evaluated(trainable)
        return metrics, self.call("state_dict", trainable.state_dict)

    def metrics(self, result: Any) -> dict[str, float]:
        from popbt._evaluation import score_of

        name: Any = self.metric
        if name is None and isinstance(result, Mapping):
            name = next(iter(result), None)
            if name is None:
                self.stop("result", "evaluate() returned an empty dict; return a number or "
                                    "a dict of numbers holding the metric")
        try:
            return score_of(result, "score" if name is None else str(name))[1]
        except ConfigError as exc:
            self.stop("result", str(exc))

    def stop(self, kind: str, message: str) -> NoReturn:
        self.findings.append(Finding(kind, message))
        raise _Stop

    def saved(self, state: dict[str, Any]) -> tuple[bytes, str]:
        """`state` in popbt's checkpoint format, after checking that it reads back."""
        try:
            data, fmt = serialize(state)
            deserialize(data, fmt)
        except (ConfigError, CheckpointError) as exc:
            self.stop("storage", f"state_dict() cannot be stored and read back: {exc}")
        return data, fmt

    def restored(self, hparams: dict[str, Any], saved: tuple[bytes, str]) -> Trainable:
        """A new object set up with another seed, restored from `saved`, as after an
        exploit."""
        trainable = self.new(dict(hparams), self.seed + 1)
        self.call("load_state_dict", trainable.load_state_dict, deserialize(*saved))
        return trainable

    def run(self) -> None:
        hparams = self.space.sample(np.random.default_rng(self.seed))
        setup_hparams, train_hparams = Hyperparameters(hparams), Hyperparameters(hparams)
        original = self.new(setup_hparams, self.seed)
        with _global_generators(self.seed):
            self.call("train", original.train, train_hparams, self.steps)
        self.evaluated(original)
        unread = find_unread(self.cls, self.space, train_hparams.read, setup_hparams.read)
        if unread is not None:
            self.findings.append(Finding("unread", unread.message))
        saved = self.saved(self.call("state_dict", original.state_dict))
        if self.league is not None:
            self.rating = original.league.rating
        copy = self.restored(hparams, saved)
        self.compare_copy(original, copy, hparams)
        for name, domain in self.space.items():
            values = _two_values(domain)
            if values is not None:
                self.compare_values(name, values, hparams, saved)

    def compare_copy(self, original: Trainable, copy: Trainable,
                     hparams: dict[str, Any]) -> None:
        ours, theirs = (_own(vars(original)), _own(vars(copy)))
        differing = [name for name in sorted(set(ours) | set(theirs))
                     if name not in ours or name not in theirs
                     or difference(ours[name], theirs[name], name) is not None]
        first = self.train(original, dict(hparams), self.seed + 2)
        second = self.train(copy, dict(hparams), self.seed + 2)
        gaps = [_gap(k, first[0][k], v) for k, v in second[0].items()
                if k in first[0] and not same_number(first[0][k], v)]
        where = difference(first[1], second[1], "state_dict()")
        if not gaps and where is None:
            return
        after = (f"after {self.steps} more steps the original and the restored copy "
                 f"evaluate {'; '.join(gaps)}" if gaps else
                 f"after {self.steps} more steps their states differ at {where}")
        named = (f"after restoring, attribute{'s' if len(differing) > 1 else ''} "
                 f"{', '.join(differing)} differ{'' if len(differing) > 1 else 's'} from the "
                 f"original's; " if differing else "")
        self.findings.append(Finding("state", f"state_dict() leaves out state that changes "
                                              f"training: {named}{after}; put it in "
                                              f"state_dict() and load_state_dict()"))

    def compare_values(self, name: str, values: tuple[Any, Any], hparams: dict[str, Any],
                       saved: tuple[bytes, str]) -> None:
        runs = [self.train(self.restored(hparams, saved), {**hparams, name: value},
                           self.seed + 3) for value in values]
        (first, first_state), (second, second_state) = runs
        if first.keys() == second.keys() and all(same_number(v, second[k])
                                                  for k, v in first.items()) \
                and difference(first_state, second_state) is None:
            low, high = values
            self.findings.append(Finding(
                "inert", f"hyperparameter {name!r} changes nothing: trained {self.steps} "
                         f"steps from the same state with {name}={low!r} and {name}={high!r}, "
                         f"{self.cls.__name__} evaluates the same and saves the same state; "
                         f"apply it in train() (a value read only in setup() is overwritten "
                         f"by load_state_dict), or remove it from the space"))


def _own(attributes: dict[str, Any]) -> dict[str, Any]:
    """The trainable's own attributes: without `league`, which popbt sets."""
    return {k: v for k, v in attributes.items() if k != "league"}


def check_trainable(trainable: type[Trainable], space: Space | Mapping[str, Domain], *,
                    steps: int = 3, seed: int = 0, metric: str | None = None,
                    league: League | None = None) -> CheckResult:
    """Exercise `trainable` on `space` for a few steps and report what would make PBT
    silently wrong (see the module's help): state `state_dict()` leaves out, hyperparameters
    that change nothing, names of the space it never reads. Deterministic for a `seed`.

    `metric`: the key of `evaluate()` to compare (and require); by default every value
    `evaluate()` returns is compared, so leave out values that vary by themselves (a time).
    `league`: the population's league, for a trainable that plays through `self.league`
    (it then plays frozen copies of itself; see the module's help). The trainable's own
    errors are findings, not exceptions.

    Examples:
        >>> import popbt
        >>> from popbt.demos.toy_trainable import SPACE, ToyTrainable
        >>> popbt.check_trainable(ToyTrainable, SPACE).ok
        True

    Raises:
        ConfigError: `trainable` is not a `Trainable` subclass, `space` not a `Space` or a
            dict of domains,
            `steps` not an integer >= 1, `seed` not an integer >= 0, or a bad `metric`.
    """
    if not (isinstance(trainable, type) and issubclass(trainable, Trainable)):
        raise ConfigError(f"trainable={trainable!r}: expected a subclass of popbt.Trainable")
    if isinstance(space, Mapping) and not isinstance(space, Space):
        space = Space(space)
    if not isinstance(space, Space):
        raise ConfigError(f"space={space!r}: expected a popbt.Space, or a dict of name → "
                          f"domain")
    for name, value, low in (("steps", steps, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name}={value!r}: must be an integer >= {low}")
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise ConfigError(f"metric={metric!r}: expected the name of a value evaluate() "
                          f"returns, or None")
    if league is not None and not isinstance(league, League):
        raise ConfigError(f"league={league!r}: expected popbt.League(...) or None")
    check = _Check(trainable, space, steps, seed, metric, league)
    with contextlib.suppress(_Stop):
        check.run()
    return CheckResult(trainable=trainable.__name__, steps=steps,
                       findings=tuple(check.findings))
