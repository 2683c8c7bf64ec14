"""The interface user training code implements."""

from __future__ import annotations

import abc
from typing import Any


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
       counters), as a dict of tensors, arrays, numbers, strings, lists and dicts.

    Any exception raised by these methods marks the member's interval failed; the run goes on.

    Example:
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

    @abc.abstractmethod
    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        """Build everything; `seed` is fixed per member by the population's seed."""

    @abc.abstractmethod
    def train(self, hparams: dict[str, Any], steps: int) -> None:
        """Train `steps` steps under `hparams`."""

    @abc.abstractmethod
    def evaluate(self) -> float | dict[str, float]:
        """The score, or a dict of named scores that holds the population's metric."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything an exploit must copy."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
