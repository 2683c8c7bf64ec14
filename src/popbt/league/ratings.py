"""Ratings from matches between players (members and frozen league entries).

Contract:
- A result is the player's share of one match, in [0, 1]: 1 a win, 0.5 a draw, 0 a loss. A
  batch of games may be reported as one match whose result is their mean.
- `Elo(k, initial, scale)`: the expected result of a player rated `a` against one rated `b`
  is 1 / (1 + 10^((b - a) / scale)); after a match with result s both ratings move by
  k·(s − E), in opposite directions, so the sum of all ratings is kept. A frozen entry's
  rating moves too: it estimates the entry's strength, which the league learns from every
  match it plays.
- Pure: numbers in, numbers out; a bad argument is a `ConfigError` quoting it.

Examples:
    >>> elo = Elo()
    >>> round(elo.expected(1200.0, 1000.0), 3)
    0.76
    >>> elo.update(1000.0, 1000.0, 1.0)
    (1008.0, 992.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from popbt.errors import ConfigError


def check_result(result: object) -> float:
    """`result` as a float in [0, 1], else `ConfigError` quoting it."""
    if isinstance(result, bool) or not isinstance(result, int | float):
        raise ConfigError(f"a match result must be a number in [0, 1] (1 win, 0.5 draw, "
                          f"0 loss), got {result!r}")
    value = float(result)
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"a match result must be in [0, 1] (1 win, 0.5 draw, 0 loss), got "
                          f"{result!r}; map a payoff to [0, 1] first")
    return value


def _positive(owner: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{owner}({name}={value!r}): must be a finite number > 0")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class Elo:
    """Elo ratings (see the module contract): `k` the step per match, `initial` every new
    player's rating, `scale` the rating difference at which the stronger player is expected
    to win 10 games for every one it loses.

    Raises:
        ConfigError: `k` or `scale` not a positive number, `initial` not finite.
    """

    k: float = 16.0
    initial: float = 1000.0
    scale: float = 400.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", _positive("Elo", "k", self.k))
        object.__setattr__(self, "scale", _positive("Elo", "scale", self.scale))
        if isinstance(self.initial, bool) or not isinstance(self.initial, int | float) \
                or not math.isfinite(self.initial):
            raise ConfigError(f"Elo(initial={self.initial!r}): must be a finite number")
        object.__setattr__(self, "initial", float(self.initial))

    def expected(self, a: float, b: float) -> float:
        """The expected result of a player rated `a` against one rated `b`, in (0, 1)."""
        return 1.0 / (1.0 + 10.0 ** ((b - a) / self.scale))

    def expected_matrix(self, ratings: np.ndarray) -> np.ndarray:
        """`expected(ratings[i], ratings[j])` at [i, j] for every pair of players (0.5 on the
        diagonal)."""
        r = np.asarray(ratings, dtype=np.float64)
        return 1.0 / (1.0 + np.power(10.0, (r[None, :] - r[:, None]) / self.scale))

    def update(self, a: float, b: float, result: float) -> tuple[float, float]:
        """The two ratings after a match the player rated `a` scored `result` in.

        Raises:
            ConfigError: `result` is not a number in [0, 1].
        """
        step = self.k * (check_result(result) - self.expected(a, b))
        return a + step, b - step
