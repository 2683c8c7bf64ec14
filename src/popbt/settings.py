"""A population's settings: validated once, stored as JSON, rebuilt by every worker."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from popbt.errors import ConfigError
from popbt.fitness import Fitness, MetricFitness, Objective, ParetoFitness
from popbt.league.config import RATING_METRIC, League
from popbt.records import StoredSettings
from popbt.space import Space
from popbt.strategies import PB2, Every, Exploit, Explore, PB2Mix, as_explore, from_config

MODES = ("max", "min")


def _positive_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name}={value!r}: must be an integer >= {minimum}")
    return int(value)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything that defines a population besides its members. `space` may be given as a
    dict of name → domain; it is stored as the `Space` it makes.

    `max_lead` (bounded asynchrony): no member starts an interval more than `max_lead` ready
    intervals ahead of the least-advanced member still training (None: no bound). `sync`
    (synchronous generations): every member stops at each ready step, and the decisions of
    that step are made together, against the scores and records as they were when the last
    member reached it; then all go on (implies `max_lead=0`). `league`: members play each
    other (`popbt.League`); its rating is recorded as the metric "rating", which
    `metric="rating"` (with mode "max") makes the fitness. `objectives` (two or more
    `popbt.fitness.Objective`s, or `(metric, mode[, reference])` tuples): a multi-objective
    population, ranked by Pareto fronts (`ParetoFitness`); `metric` and `mode` are then the
    first objective's.

    Raises:
        ConfigError: on any invalid value, naming it and what would be valid.
    """

    space: Space
    size: int
    metric: str
    mode: str = "max"
    seed: int = 0
    ready: Every
    exploit: Exploit
    explore: Explore | None
    keep_checkpoints: int = 3
    max_failures: int = 3
    max_lead: int | None = None
    sync: bool = False
    league: League | None = None
    objectives: tuple[Objective, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.space, Mapping) and not isinstance(self.space, Space):
            object.__setattr__(self, "space", Space(self.space))
        if not isinstance(self.space, Space):
            raise ConfigError(f"space={self.space!r}: expected a popbt.Space, or a dict of "
                              f"name → domain")
        object.__setattr__(self, "size", _positive_int("size", self.size, 2))
        if not isinstance(self.metric, str) or not self.metric:
            raise ConfigError(f"metric={self.metric!r}: must be a non-empty string")
        if self.mode not in MODES:
            raise ConfigError(f"mode={self.mode!r}: must be 'max' or 'min'")
        object.__setattr__(self, "seed", _positive_int("seed", self.seed, 0))
        if not isinstance(self.ready, Every):
            raise ConfigError(f"ready={self.ready!r}: expected popbt.Every(steps=...)")
        if not isinstance(self.exploit, Exploit):
            raise ConfigError(f"exploit={self.exploit!r}: expected popbt.Truncation, "
                              f"Tournament, TTest or NoExploit")
        object.__setattr__(self, "explore", as_explore(self.explore))
        if self.explore is not None:
            self.explore.check(size=self.size, space=self.space)
        object.__setattr__(self, "keep_checkpoints",
                           _positive_int("keep_checkpoints", self.keep_checkpoints, 1))
        object.__setattr__(self, "max_failures",
                           _positive_int("max_failures", self.max_failures, 1))
        if self.max_lead is not None:
            object.__setattr__(self, "max_lead", _positive_int("max_lead", self.max_lead, 0))
        if not isinstance(self.sync, bool):
            raise ConfigError(f"sync={self.sync!r}: must be True or False")
        if self.sync and self.max_lead not in (None, 0):
            raise ConfigError(f"max_lead={self.max_lead!r} with sync=True: synchronous "
                              f"generations keep every member at the same step; leave "
                              f"max_lead out (or 0), or set sync=False")
        self._check_league()
        self._check_objectives()

    def _check_objectives(self) -> None:
        if isinstance(self.objectives, str) or not isinstance(self.objectives, tuple | list):
            raise ConfigError(f"objectives={self.objectives!r}: give a list of (metric, mode) "
                              f"or (metric, mode, reference) tuples")
        objectives = tuple(Objective.of(o) for o in self.objectives)
        object.__setattr__(self, "objectives", objectives)
        if not objectives:
            return
        names = [o.metric for o in objectives]
        if len(objectives) < 2 or len(set(names)) != len(names):
            raise ConfigError(f"objectives {names!r}: give two or more different metrics "
                              f"(one objective: use metric= and mode=)")
        if (self.metric, self.mode) != (names[0], objectives[0].mode):
            raise ConfigError(f"metric={self.metric!r}, mode={self.mode!r} with objectives: "
                              f"leave metric and mode out (they are the first objective's, "
                              f"{names[0]!r} {objectives[0].mode!r})")
        exploit, explore = self.exploit, self.explore
        scalar = []
        if exploit.history_window > 0 or getattr(exploit, "margin", 0) > 0:
            scalar.append(f"exploit={exploit!r} (it compares scores of one metric; use "
                          f"popbt.Truncation() or Tournament() without margins)")
        if exploit.uses_elite or exploit.needs_rating:
            scalar.append(f"exploit={exploit!r} (it needs one best score)")
        if isinstance(explore, PB2 | PB2Mix):
            scalar.append(f"explore={explore!r} (it models one score; use popbt.Perturb)")
        if self.league is not None:
            scalar.append("league= (a league rates one skill)")
        if scalar:
            raise ConfigError(f"a multi-objective population cannot use {'; '.join(scalar)}")

    def _check_league(self) -> None:
        if self.league is not None and not isinstance(self.league, League):
            raise ConfigError(f"league={self.league!r}: expected popbt.League(...)")
        if self.metric == RATING_METRIC and self.league is None:
            raise ConfigError("metric='rating' is a league's rating; give league=popbt.League"
                              "(...), or name a metric evaluate() returns")
        if self.metric == RATING_METRIC and self.mode != "max":
            raise ConfigError(f"metric='rating' with mode={self.mode!r}: a higher rating is "
                              f"better; use mode='max'")
        if self.exploit.needs_rating and self.metric != RATING_METRIC:
            raise ConfigError(f"{self.exploit!r} compares ratings: use it with "
                              f"league=popbt.League(...) and metric='rating'")

    @property
    def fitness(self) -> Fitness:
        """What exploit ranks, from what members report: the metric, in its mode, or the
        Pareto fronts of the objectives."""
        if self.objectives:
            return ParetoFitness(self.objectives)
        return MetricFitness(metric=self.metric, mode=self.mode)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready settings; `popbt.records.StoredSettings` reads them by name, and
        `Settings.from_config` rebuilds them from it."""
        return {"space": self.space.to_json(), "size": self.size, "metric": self.metric,
                "mode": self.mode, "seed": self.seed, "ready": self.ready.to_config(),
                "exploit": self.exploit.to_config(),
                "explore": None if self.explore is None else self.explore.to_config(),
                "keep_checkpoints": self.keep_checkpoints, "max_failures": self.max_failures,
                "max_lead": self.max_lead, "sync": self.sync,
                "league": None if self.league is None else self.league.to_config(),
                **({"objectives": [o.to_config() for o in self.objectives]}
                   if self.objectives else {})}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *,
                    explore: Explore | Callable[..., Any] | None = None,
                    lazy_explore: bool = False) -> Settings:
        """Rebuild stored settings; `explore` replaces a stored custom explore function.

        With `lazy_explore=True` a stored custom explore function is not imported: it becomes
        a `StoredExplore`, imported only when an explore is applied, so that reading a
        population never runs the user's code.

        Raises:
            ConfigError: the stored custom explore function cannot be imported, no `explore`
                was given and `lazy_explore` is False.
        """
        stored = StoredSettings(config)
        if explore is not None:
            chosen: Any = explore
        elif lazy_explore:
            chosen = from_config(stored.explore, lazy=True)
        else:
            try:
                chosen = from_config(stored.explore)
            except ConfigError as exc:
                raise ConfigError(f"{exc}; pass explore= with the same function") from None
        return cls(space=Space.from_json(stored.space), size=stored.size, metric=stored.metric,
                   mode=stored.mode, seed=stored.seed, ready=from_config(stored.ready),
                   exploit=from_config(stored.exploit), explore=chosen,
                   keep_checkpoints=stored.keep_checkpoints, max_failures=stored.max_failures,
                   max_lead=stored.max_lead, sync=stored.sync,
                   league=None if stored.league is None else League.from_config(stored.league),
                   objectives=tuple(Objective.of(o) for o in stored.objectives))

    def differences(self, other: Settings) -> list[str]:
        """Human-readable differences in the stored settings (custom explores compare by name)."""
        mine, theirs = self.to_config(), other.to_config()
        return [f"{key}: stored {mine[key]!r}, given {theirs[key]!r}"
                for key in mine if mine[key] != theirs[key]]

    def member_seed(self, member_id: int) -> int:
        """The seed passed to a member's `Trainable.setup`."""
        return int(np.random.SeedSequence([self.seed, member_id]).generate_state(1)[0])

    def decision_rng(self, member_id: int, ready_count: int) -> np.random.Generator:
        """The generator of one member's decision at its `ready_count`-th ready point."""
        return np.random.default_rng([self.seed, member_id, ready_count, 1])

    def initial_rng(self) -> np.random.Generator:
        """The generator that samples the initial hyperparameters."""
        return np.random.default_rng([self.seed, 2])

