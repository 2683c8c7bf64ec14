"""Opponent samplers: which player of the league a member plays next.

Contract:
- A sampler is a pure function of a `Pool` (the candidates and what the league knows of
  them) to probabilities over its candidates; `Pool.draw` draws one with the given generator.
  The pool always holds the player itself (`own`): only `SelfPlay` chooses it, and every other
  sampler falls back to it while the league holds nobody else.
- `Uniform()`: every other candidate alike. `Latest()`: the most recently added (the newest
  frozen entry). `SelfPlay()`: the player's own latest checkpoint.
- `PFSP(weighting, p)`: AlphaStar's prioritised fictitious self-play; a candidate's weight is
  f(x) with x the player's estimated probability of beating it: "hard" (1 − x)^p, "variance"
  x(1 − x), "linear" 1 − x; uniform when every weight is 0.
- `Nash()`: the Nash equilibrium mixture of the symmetric zero-sum game whose payoffs are the
  estimated win probabilities between the other candidates, less one half (a linear program,
  `popbt.league._nash`).
- `Mixture(parts)`: the weighted sum of samplers' probabilities (AlphaStar's main agents: 35 %
  self-play, 50 % PFSP over the league, 15 % against forgotten players).
- Estimates (`estimate_win_rates`): P(a beats b) is the mean of a's results against b
  counting b's results against a as 1 − result, with the rating's expectation added as
  `prior_games` games, so a pair that never met is estimated by the ratings alone.
- A sampler is a frozen dataclass with JSON fields: it is stored in the population's settings
  and rebuilt by name.

Examples:
    >>> pool = Pool(keys=("member:0", "member:1", "entry:3"), ratings=np.full(3, 1000.0),
    ...             win_rate=np.array([0.5, 0.2, 0.9]), payoff=np.full((3, 3), 0.5),
    ...             added=np.array([0.0, 0.0, 3.0]), own=0)
    >>> PFSP().probabilities(pool).round(3).tolist()
    [0.0, 0.985, 0.015]
    >>> Latest().probabilities(pool).tolist()
    [0.0, 0.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from popbt.errors import ConfigError
from popbt.league._nash import nash_mixture


@dataclass(frozen=True, eq=False)
class Pool:
    """The candidates in one order: `keys` ("member:<id>" or "entry:<id>"), their ratings,
    the player's estimated probability of beating each (`win_rate`), the estimated
    probabilities between them (`payoff[i, j]`: i beats j), when each was added (larger is
    newer) and the index of the player itself (`own`)."""

    keys: tuple[str, ...]
    ratings: np.ndarray
    win_rate: np.ndarray
    payoff: np.ndarray
    added: np.ndarray
    own: int

    @property
    def others(self) -> np.ndarray:
        """The indices of every candidate but the player."""
        return np.array([i for i in range(len(self.keys)) if i != self.own], int)

    def draw(self, sampler: Sampler, rng: np.random.Generator) -> str:
        """The key of one candidate, drawn with `sampler`'s probabilities."""
        p = sampler.probabilities(self)
        return self.keys[int(rng.choice(len(p), p=p))]


def _on(pool: Pool, indices: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Probabilities on `indices` (uniform, or proportional to `weights`; uniform when they sum
    to 0), or all on the player when there are none."""
    p = np.zeros(len(pool.keys))
    if not len(indices):
        p[pool.own] = 1.0
        return p
    w = np.ones(len(indices)) if weights is None else np.maximum(np.asarray(weights, float), 0)
    total = float(w.sum())
    p[indices] = w / total if total > 0 and np.isfinite(total) else 1.0 / len(indices)
    return p


class Sampler:
    """Base class: `probabilities(pool)` sums to 1 over the pool's candidates."""

    def probabilities(self, pool: Pool) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class Uniform(Sampler):
    """Every other candidate alike.

    Examples:
        >>> Uniform()
        Uniform()
    """

    def probabilities(self, pool: Pool) -> np.ndarray:
        return _on(pool, pool.others)


@dataclass(frozen=True)
class Latest(Sampler):
    """The most recently added candidate other than the player (ties alike).

    Examples:
        >>> Latest()
        Latest()
    """

    def probabilities(self, pool: Pool) -> np.ndarray:
        others = pool.others
        if not len(others):
            return _on(pool, others)
        newest = pool.added[others].max()
        return _on(pool, others[pool.added[others] == newest])


@dataclass(frozen=True)
class SelfPlay(Sampler):
    """The player's own latest checkpoint.

    Examples:
        >>> SelfPlay()
        SelfPlay()
    """

    def probabilities(self, pool: Pool) -> np.ndarray:
        return _on(pool, np.array([], int))


WEIGHTINGS = ("hard", "variance", "linear")


@dataclass(frozen=True, kw_only=True)
class PFSP(Sampler):
    """Prioritised fictitious self-play (see the module contract).

    Raises:
        ConfigError: an unknown `weighting`, or `p` not a positive number.

    Examples:
        >>> PFSP(weighting="variance")
        PFSP(weighting='variance', p=2.0)
    """

    weighting: str = "hard"
    p: float = 2.0

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"PFSP(weighting={self.weighting!r}): must be one of "
                              f"{', '.join(map(repr, WEIGHTINGS))}")
        if isinstance(self.p, bool) or not isinstance(self.p, int | float) or not self.p > 0:
            raise ConfigError(f"PFSP(p={self.p!r}): must be a number > 0")
        object.__setattr__(self, "p", float(self.p))

    def probabilities(self, pool: Pool) -> np.ndarray:
        others = pool.others
        x = np.clip(pool.win_rate[others], 0.0, 1.0)
        if self.weighting == "hard":
            w = (1.0 - x) ** self.p
        elif self.weighting == "variance":
            w = x * (1.0 - x)
        else:
            w = 1.0 - x
        return _on(pool, others, w)


@dataclass(frozen=True)
class Nash(Sampler):
    """The Nash mixture over the other candidates (see the module contract; needs scipy).

    Examples:
        >>> Nash()
        Nash()
    """

    def probabilities(self, pool: Pool) -> np.ndarray:
        others = pool.others
        if len(others) < 2:
            return _on(pool, others)
        game = pool.payoff[np.ix_(others, others)] - 0.5
        return _on(pool, others, nash_mixture(game))


SAMPLERS: dict[str, type[Sampler]] = {
    cls.__name__: cls for cls in (Uniform, Latest, SelfPlay, PFSP, Nash)}


def sampler_config(sampler: Sampler) -> dict[str, Any]:
    """What `sampler` is stored as: `{"type": name, **fields}`."""
    if isinstance(sampler, Mixture):
        return {"type": "Mixture",
                "parts": [[w, sampler_config(s)] for w, s in sampler.parts]}
    if SAMPLERS.get(type(sampler).__name__) is not type(sampler):
        raise ConfigError(f"cannot store opponent sampler {sampler!r}: use one of "
                          f"{', '.join(SAMPLERS)} or Mixture")
    return {"type": type(sampler).__name__, **vars(sampler)}


def sampler_from_config(config: dict[str, Any]) -> Sampler:
    """The sampler `sampler_config` stored.

    Raises:
        ConfigError: an unknown type, listing the known ones.
    """
    config = dict(config)
    name = config.pop("type", None)
    if name == "Mixture":
        return Mixture(parts=[(w, sampler_from_config(s)) for w, s in config["parts"]])
    if name not in SAMPLERS:
        raise ConfigError(f"unknown opponent sampler {name!r}; known: "
                          f"{', '.join([*SAMPLERS, 'Mixture'])}")
    return SAMPLERS[name](**config)


@dataclass(frozen=True)
class Mixture(Sampler):
    """A weighted mixture of samplers: `parts` is a sequence of (weight, sampler).

    Raises:
        ConfigError: no parts, a weight that is not a number >= 0, weights summing to 0, or a
            part that is not a sampler.

    Examples:
        >>> Mixture([(0.35, SelfPlay()), (0.65, PFSP())]).parts[0]
        (0.35, SelfPlay())
    """

    parts: Sequence[tuple[float, Sampler]] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        parts = tuple((w, s) for w, s in self.parts)
        if not parts:
            raise ConfigError("Mixture(parts=()): give at least one (weight, sampler)")
        for w, s in parts:
            if isinstance(w, bool) or not isinstance(w, int | float) or not w >= 0:
                raise ConfigError(f"Mixture: weight {w!r} must be a number >= 0")
            if not isinstance(s, Sampler):
                raise ConfigError(f"Mixture: {s!r} is not an opponent sampler (Uniform, "
                                  f"Latest, SelfPlay, PFSP, Nash)")
        if sum(w for w, _ in parts) <= 0:
            raise ConfigError("Mixture: the weights sum to 0")
        object.__setattr__(self, "parts", tuple((float(w), s) for w, s in parts))

    def probabilities(self, pool: Pool) -> np.ndarray:
        total = sum(w for w, _ in self.parts)
        return sum((w / total * s.probabilities(pool) for w, s in self.parts),
                   np.zeros(len(pool.keys)))


def estimate_win_rates(results: np.ndarray, games: np.ndarray, expected: np.ndarray,
                       prior_games: float = 1.0) -> np.ndarray:
    """Estimated P(i beats j) for every pair: `results[i, j]` is the sum of i's results against
    j over `games[i, j]` matches, `expected[i, j]` the rating's expectation (see the module
    contract). The diagonal is 0.5."""
    won = results + (games.T - results.T)
    played = games + games.T
    estimate = (won + prior_games * expected) / (played + prior_games)
    np.fill_diagonal(estimate, 0.5)
    return estimate
