"""The facade users hold: create or resume a population (`create_population`,
`open_population`), open one (`load_population`), and `Population` to train and read it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from popbt._places import check_name, checkpoint_root
from popbt._population import Population
from popbt._trainers import check_trainer
from popbt._warmstart import warm_starts
from popbt.errors import ConfigError, PopulationExists
from popbt.fitness import Objective
from popbt.league import League
from popbt.records import EventKind
from popbt.settings import Settings
from popbt.space import Domain, Space
from popbt.storage import Storage, get_storage
from popbt.storage.base import PopulationRow
from popbt.strategies import Every, Exploit, Explore, Perturb, Truncation, as_explore

if TYPE_CHECKING:
    pass

__all__ = ["DEFAULT_EXPLOIT", "DEFAULT_EXPLORE", "DEFAULT_STORAGE", "Population",
           "create_population", "load_population", "open_population"]

DEFAULT_STORAGE = "sqlite:///popbt.db"
DEFAULT_EXPLOIT = Truncation(fraction=0.2)
DEFAULT_EXPLORE = Perturb()


def create_population(*, name: str, storage: str | Storage = DEFAULT_STORAGE,
                      space: Space | Mapping[str, Domain],
                      size: int, metric: str | None = None, mode: str = "max",
                      seed: int = 0, ready: Every,
                      exploit: Exploit = DEFAULT_EXPLOIT,
                      explore: Explore | Callable[..., Any] | None = DEFAULT_EXPLORE,
                      initial: Sequence[Mapping[str, Any]] = (),
                      checkpoints: str | Path | None = None, keep_checkpoints: int = 3,
                      max_failures: int = 3, load_if_exists: bool = False,
                      warm_start: Population | tuple[str, str | Storage] | None = None,
                      max_lead: int | None = None, sync: bool = False,
                      league: League | None = None,
                      objectives: Sequence[Any] = ()) -> Population:
    """Create a population in `storage`, or resume it with `load_if_exists=True`.

    `space`: a `popbt.Space`, or a dict of name → domain. `explore=None` never changes
    hyperparameters. Members 0..len(initial)-1 start from the
    given hyperparameters (keys left out are sampled); the rest are sampled from `space` with
    a generator seeded by `seed`. Checkpoints go to `checkpoints`, by default a folder beside
    the SQLite file.

    `max_lead=k` (bounded asynchrony): no member starts an interval more than k ready
    intervals ahead of the least-advanced member still training, so a fast member cannot
    run far ahead of (and be copied long after) a slow one. `sync=True` (synchronous
    generations): every member stops at each ready step; once all have reached it, that
    step's decisions are made together, against the same scores, then all go on. Workers
    still coordinate only through the storage; a worker killed mid-generation loses
    nothing (its member's lease runs out and another worker trains it).

    `league` (`popbt.League`): members play each other, and frozen snapshots of each other,
    through `Trainable.league`; every evaluation records the member's rating as the metric
    "rating", which `metric="rating"` makes the fitness (see `popbt.league`).

    `objectives=[("accuracy", "max"), ("robust_accuracy", "max", 0.0)]` instead of
    `metric`/`mode`: a multi-objective population (MO-PBT). Exploit ranks members by Pareto
    front, then by crowding distance (`popbt.fitness.ParetoFitness`); `pop.front` is the
    non-dominated members (`pop.best` is refused: there is no single best); with a reference
    value for every objective, each ready point records the hypervolume of the front. The
    strategies that compare one score (TTest, margins, Backtrack, PB2, leagues) are refused.

    `warm_start` (a `Population`, or its `(name, storage)`): member i starts from the
    weights and hyperparameters of that population's i-th best member, its checkpoint copied
    under this population's folder (see `popbt._warmstart`); it applies at creation only.

    Examples:
        >>> from popbt import Every, LogUniform, Space, create_population
        >>> pop = create_population(
        ...     name="mlp", storage="sqlite:///popbt.db",
        ...     space=Space({"lr": LogUniform(1e-4, 1e-1)}), size=8, metric="accuracy",
        ...     ready=Every(steps=100), load_if_exists=True)
        >>> len(pop.members), pop.members[0].step
        (8, 0)

    Raises:
        ConfigError: an invalid setting; the population exists and `load_if_exists` is False;
            or it exists with different settings, or was not warm-started but `warm_start` is
            given; the warm start's source has no scored member with a checkpoint, or its
            hyperparameters do not fit `space`.
        StorageError: the storage cannot be opened.
    """
    metric, mode = metric_of(metric, mode, objectives)
    settings = Settings(space=space if isinstance(space, Space) else Space(space), size=size,
                        metric=metric, mode=mode, seed=seed, ready=ready, exploit=exploit,
                        explore=as_explore(explore), keep_checkpoints=keep_checkpoints,
                        max_failures=max_failures, max_lead=max_lead, sync=sync,
                        league=league, objectives=tuple(objectives))
    source = (load_population(name=warm_start[0], storage=warm_start[1])
              if isinstance(warm_start, tuple) else warm_start)
    return open_population(settings, name=name, storage=storage, initial=initial,
                           checkpoints=checkpoints, load_if_exists=load_if_exists,
                           trainer="workers", warm_start=source)


def metric_of(metric: str | None, mode: str, objectives: Sequence[Any]) -> tuple[str, str]:
    """The population's `metric` and `mode`: as given, or the first objective's when only
    `objectives` is given.

    Raises:
        ConfigError: neither is given, or `objectives` is not a list.
    """
    if isinstance(objectives, str) or not isinstance(objectives, Sequence):
        raise ConfigError(f"objectives={objectives!r}: give a list of (metric, mode) or "
                          f"(metric, mode, reference) tuples")
    if metric is not None:
        return metric, mode
    if not objectives:
        raise ConfigError("give metric= (the key of evaluate() to optimise), or objectives= "
                          "for several")
    first = Objective.of(objectives[0])
    return first.metric, first.mode


def open_population(settings: Settings, *, name: str, storage: str | Storage,
                    initial: Sequence[Mapping[str, Any]], checkpoints: str | Path | None,
                    load_if_exists: bool, trainer: str,
                    warm_start: Population | None = None) -> Population:
    """Create a population trained by `trainer` ("workers" or "vectorized"), or resume it;
    see `create_population`."""
    check_name(name)
    if isinstance(initial, Mapping) or not isinstance(initial, Sequence):
        raise ConfigError(f"initial={initial!r}: expected a list of hyperparameter dicts")
    if len(initial) > settings.size:
        raise ConfigError(f"initial has {len(initial)} entries but size={settings.size}")
    store = get_storage(storage)
    existing = store.get_population(name)
    if existing is None:
        rng = settings.initial_rng()
        hparams = [settings.space.complete(initial[i] if i < len(initial) else {}, rng)
                   for i in range(settings.size)]
        root = checkpoint_root(store, checkpoints)
        with warm_starts(warm_start, settings, name=name, root=root, initial=initial,
                         hparams=hparams) as plan:
            try:
                row = store.create_population(
                    name=name, config={**settings.to_config(), "trainer": trainer},
                    checkpoint_root=root, initial_hparams=plan.hparams, now=time.time(),
                    starts=plan.starts)
            except PopulationExists:  # another process created it a moment ago
                existing = store.get_population(name)
                if existing is None:
                    raise
            else:
                plan.used = True
                return Population(store, row, settings)
    if warm_start is not None and not store.count_events(existing, EventKind.WARM_START):
        raise ConfigError(f"population {name!r} exists and was not warm-started; give another "
                          f"name to start a new population from {warm_start.name!r}")
    return _resume(store, existing, settings, load_if_exists=load_if_exists, trainer=trainer)


def _resume(store: Storage, existing: PopulationRow, settings: Settings, *,
            load_if_exists: bool, trainer: str) -> Population:
    """The existing population, if resuming it was asked for and `settings` match its own.

    Raises:
        ConfigError: `load_if_exists` is False, the settings differ, or another trainer
            trains it.
    """
    name = existing.name
    if not load_if_exists:
        raise PopulationExists(f"population {name!r} already exists in {store.safe_url}; pass "
                               f"load_if_exists=True to resume it, or choose another name")
    stored = Settings.from_config(existing.config, explore=settings.explore)
    diff = stored.differences(settings)
    if diff:
        resize = (f", or Population.resize({settings.size}) to change its size"
                  if any(d.startswith("size:") for d in diff) else "")
        raise ConfigError(f"population {name!r} exists with other settings ("
                          f"{'; '.join(diff)}); use another name or the same settings{resize}")
    check_trainer(existing, trainer)
    return Population(store, existing, stored)


def load_population(*, name: str, storage: str | Storage = DEFAULT_STORAGE,
                    explore: Explore | Callable[..., Any] | None = None) -> Population:
    """Open an existing population; nothing is created (no file, no table) and no user code
    runs: a stored custom explore function is imported only when an explore is applied (see
    `StoredExplore`).

    `explore` is needed only when the population explores with a function that cannot be
    imported by reference (one defined inline).

    Raises:
        ConfigError: no population has that name (the message lists those that exist).
        StorageError: the storage does not exist (a SQLite file that is missing, a database
            without popbt's tables) or cannot be opened.
    """
    store = get_storage(storage, create=False)
    row = store.find_population(name)
    return Population(store, row, Settings.from_config(row.config, explore=explore,
                                                       lazy_explore=True))
