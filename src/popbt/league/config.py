"""`League`: how a population's members play each other, as stored with its settings.

Contract:
- `League(opponents=..., rating=..., snapshot_every=..., window=..., prior_games=...,
  cache=...)` is validated when made and stored as JSON with the population; a worker
  rebuilds it with `League.from_config`.
- Snapshots: with `snapshot_every=n`, a member's checkpoint at its first ready point at or
  past every multiple of n steps becomes a frozen league entry (in the report's
  transaction); without it, the league is the members alone.
- The rating is recorded with every evaluation as the metric "rating" (so `metric="rating"`
  makes it the fitness that exploit ranks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from popbt.errors import ConfigError
from popbt.league.opponents import PFSP, Sampler, sampler_config, sampler_from_config
from popbt.league.ratings import Elo

RATING_METRIC = "rating"


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"League({name}={value!r}): must be an integer >= {minimum}")
    return int(value)


@dataclass(frozen=True, kw_only=True)
class League:
    """Members play each other and frozen snapshots of each other; see the module contract.

    Args:
        opponents: which player a member faces next (`PFSP()`, AlphaStar's "hard"
            weighting, by default; `Uniform`, `Latest`, `SelfPlay`, `Nash`, `Mixture`).
        rating: how results move ratings (`Elo()`).
        snapshot_every: steps between frozen entries of each member (None: no entries).
        window: each pair's most recent matches that estimate its win probability
            (AlphaStar estimates from recent games).
        prior_games: how many games the rating's expectation counts for in that estimate.
        cache: frozen opponents a worker keeps loaded.

    Raises:
        ConfigError: a value of the wrong type or out of range, naming it.

    Examples:
        >>> from popbt.league import Uniform
        >>> League(opponents=Uniform(), snapshot_every=100).snapshot_every
        100
    """

    opponents: Sampler = field(default_factory=PFSP)
    rating: Elo = field(default_factory=Elo)
    snapshot_every: int | None = None
    window: int = 100
    prior_games: float = 1.0
    cache: int = 8

    def __post_init__(self) -> None:
        if not isinstance(self.opponents, Sampler):
            raise ConfigError(f"League(opponents={self.opponents!r}): expected an opponent "
                              f"sampler: popbt.league.PFSP(), Uniform(), Latest(), SelfPlay(), "
                              f"Nash() or Mixture(...)")
        if not isinstance(self.rating, Elo):
            raise ConfigError(f"League(rating={self.rating!r}): expected popbt.league.Elo(...)")
        if self.snapshot_every is not None:
            object.__setattr__(self, "snapshot_every",
                               _count("snapshot_every", self.snapshot_every, 1))
        object.__setattr__(self, "window", _count("window", self.window, 1))
        object.__setattr__(self, "cache", _count("cache", self.cache, 0))
        prior = self.prior_games
        if isinstance(prior, bool) or not isinstance(prior, int | float) or not prior >= 0:
            raise ConfigError(f"League(prior_games={prior!r}): must be a number >= 0")
        object.__setattr__(self, "prior_games", float(prior))

    def snapshot_due(self, *, last_ready_step: int, step: int) -> bool:
        """Whether a ready point at `step`, after one at `last_ready_step`, freezes an entry."""
        every = self.snapshot_every
        return every is not None and step // every > last_ready_step // every

    def to_config(self) -> dict[str, Any]:
        """What the population stores."""
        return {"opponents": sampler_config(self.opponents),
                "rating": {"type": "Elo", "k": self.rating.k, "initial": self.rating.initial,
                           "scale": self.rating.scale},
                "snapshot_every": self.snapshot_every, "window": self.window,
                "prior_games": self.prior_games, "cache": self.cache}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> League:
        """The league `to_config` stored."""
        rating = {k: v for k, v in config["rating"].items() if k != "type"}
        return cls(opponents=sampler_from_config(config["opponents"]), rating=Elo(**rating),
                   snapshot_every=config["snapshot_every"], window=config["window"],
                   prior_games=config["prior_games"], cache=config["cache"])
