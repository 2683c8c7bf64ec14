"""The interface user training code implements."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from popbt.errors import ConfigError
from popbt.league.member import NO_LEAGUE, MemberLeague

_LOGGED = "_popbt_logged"  # the instance attribute `Trainable.log` collects values in


class Trainable(abc.ABC):
    """One member's training code. popbt creates one per member and calls, in order:

    1. `setup(hparams, seed)` once per live object: build the model, optimizer and data.
    2. `load_state_dict(state)` when the member resumes from a checkpoint (its own, or a
       donor's after an exploit).
    3. `train(hparams, steps)` for one interval; `hparams` may differ from the last call
       (explore changed them), so apply them every time (e.g. set the optimizer's lr).
    4. `evaluate()`: the score, a float, or a dict of floats that holds the population's
       metric (the other keys are recorded too).
    5. `state_dict()`: everything an exploit must copy (weights, optimizer state, RNG state,
       counters), as a dict of tensors, arrays, numbers, strings, lists and dicts. A state
       of plain values alone (records: lists of dicts of strings and numbers, such as an
       example database) is stored as JSON, never pickled, and comes back exactly; its JSON
       may take at most 32 MiB (`popbt.datastate`: the limit, and `records_diff`, what a
       list of records gained and lost, which the HTML report shows per member).

    Any exception raised by these methods marks the member's interval failed; the run goes on.

    What popbt sets on the object (names a subclass should not use for anything else):
    - `member_id`: the id of the member it trains, set before `setup`; None outside a
      population (`popbt.replay`, `popbt.check_trainable`).
    - `member_step`: the member's step, set before `setup`, before `train` (the steps
      trained before this interval, a donor's after an exploit) and before `evaluate` (the
      step evaluated); 0 outside a population.
    - `log(**values)`: numbers logged during `train` or `evaluate` are recorded with the
      interval's evaluation, beside what `evaluate` returns (which wins on a name both give):
      they are the score's `metrics`, shown by the report and passed to loggers.
    - `league`: in a population with a league (`popbt.League`), the member's view of it:
      `self.league.sample()` draws an opponent, `self.league.report(opponent, result)`
      records a match (see `popbt.league.member`); without a league, using it says so.

    Examples:
        >>> class Quadratic(Trainable):
        ...     def setup(self, hparams, seed):
        ...         self.x = 1.0
        ...     def train(self, hparams, steps):
        ...         for _ in range(steps):
        ...             self.x -= hparams["lr"] * 2 * self.x
        ...     def evaluate(self):
        ...         return -self.x ** 2
        ...     def state_dict(self):
        ...         return {"x": self.x}
        ...     def load_state_dict(self, state):
        ...         self.x = state["x"]
    """

    member_id: int | None = None
    member_step: int = 0
    league: MemberLeague = NO_LEAGUE
    # How to put a hyperparameter this class never reads to use: the end of popbt's
    # unused-hyperparameter warning ("{them}" is "it" or "them"); None for the default,
    # "read {them} in train()". Base classes that apply hyperparameters themselves say how.
    unread_hint: ClassVar[str | None] = None

    def log(self, **values: float) -> None:
        """Record `values` (name=number) with this interval's evaluation; a name logged
        again in the interval keeps its last value.

        Examples:
            >>> model = ToyTrainable()  # any Trainable
            >>> model.log(grad_norm=0.5, loss=2)
            >>> take_logged(model), take_logged(model)
            ({'grad_norm': 0.5, 'loss': 2.0}, {})

        Raises:
            ConfigError: a value that is not a number (every member would log it alike, so
                it stops the run).
        """
        logged: dict[str, float] = self.__dict__.setdefault(_LOGGED, {})
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float) and not hasattr(
                    value, "__float__"):
                raise ConfigError(f"log({name}={value!r}): expected a number")
            logged[name] = float(value)

    @abc.abstractmethod
    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        """Build everything; `seed` is fixed per member by the population's seed."""

    @abc.abstractmethod
    def train(self, hparams: dict[str, Any], steps: int) -> None:
        """Train `steps` steps under `hparams`."""

    @abc.abstractmethod
    def evaluate(self) -> float | Sequence[float] | Mapping[str, float | Sequence[float]]:
        """The score, or a dict of named scores that holds the population's metric. The
        metric may be a list of values (samples, e.g. episode returns): its score is their
        mean, and `TTest` (or a `margin_se`) tests the samples."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything an exploit must copy."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


def take_logged(trainable: Trainable) -> dict[str, float]:
    """The values `trainable.log` collected since the last call, which forgets them."""
    logged: dict[str, float] = trainable.__dict__.pop(_LOGGED, {})
    return logged
