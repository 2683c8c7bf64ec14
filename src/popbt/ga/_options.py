"""A genetic population's options, checked before anything is created or started."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from popbt.errors import ConfigError
from popbt.ga._workers import importable
from popbt.space import Choice, Domain, Space
from popbt.strategies import Explore

SIGMA = "sigma"  # the one hyperparameter: the mutation strength
CACHE_BYTES = 256 * 2 ** 20  # what a decoder's cache of weights may take


def _count(what: str, value: Any, least: int, hint: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{what}={value!r}: must be an integer >= {least}{hint}")


def check_options(*, model_fn: Callable[[], nn.Module], evaluate: Any, size: Any,
                  elites: Any, elite_candidates: Any, elite_episodes: Any, sigma: Any,
                  explore: Explore | None, crossover: Any, parents: Any, max_chain: Any,
                  workers: Any) -> Space:
    """The search space of `sigma` (a fixed value is a one-value `Choice`), after every
    option is checked (`popbt.ga.GeneticPopulation`'s arguments).

    Raises:
        ConfigError: the first bad option, quoted, with what would be valid.
    """
    if not callable(evaluate):
        raise ConfigError(f"evaluate={evaluate!r}: expected a function (policy, seed) -> "
                          f"dict of tensors, e.g. popbt.ga.Episodes('Acrobot')")
    if isinstance(elites, int) and not isinstance(elites, bool) and elites < 1:
        raise ConfigError(f"elites={elites!r}: a genetic population keeps at least one "
                          f"elite, so that its best member is the genome it scored")
    _count("max_chain", max_chain, 1)
    if isinstance(crossover, bool) or not isinstance(crossover, int | float) \
            or not 0 <= crossover <= 1:
        raise ConfigError(f"crossover={crossover!r}: the probability that a child has two "
                          f"parents must be a number in [0, 1] (0: no crossover)")
    if crossover and isinstance(parents, int) and parents < 2:
        raise ConfigError(f"crossover={crossover!r} with parents={parents!r}: a crossover "
                          f"needs two parents; set parents >= 2 or crossover=0")
    _count("elite_candidates", elite_candidates, 0)
    _count("elite_episodes", elite_episodes, 0)
    _count("workers", workers, 0, " (0: evaluate in this process)")
    if elite_episodes and isinstance(elites, int) and elite_candidates < elites:
        raise ConfigError(f"elite_candidates={elite_candidates!r}: the elites are chosen "
                          f"among the candidates, so there must be at least "
                          f"elites={elites!r} of them (or elite_episodes=0)")
    if isinstance(size, int) and not isinstance(size, bool) and size < 2:
        raise ConfigError(f"size={size!r}: a genetic population needs at least 2 members")
    if workers:
        importable("model_fn", model_fn)
        importable("evaluate", evaluate)
    if isinstance(sigma, Domain):
        return Space({SIGMA: sigma})
    if explore is not None:
        raise ConfigError(f"explore={explore!r} with a fixed sigma={sigma!r}: give sigma a "
                          f"search domain to explore it, or leave explore out")
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not sigma > 0 \
            or sigma == float("inf"):
        raise ConfigError(f"sigma={sigma!r}: the mutation strength must be a number > 0 or a "
                          f"search domain (popbt.LogUniform(1e-3, 1e-1), say) to explore it")
    return Space({SIGMA: Choice([float(sigma)])})


def cache_capacity(size: int, model_fn: Callable[[], nn.Module]) -> int:
    """How many decoded weight vectors a decoder keeps: two per member, within
    `CACHE_BYTES`."""
    weights = sum(p.numel() for p in model_fn().parameters())
    return max(8, min(2 * size, CACHE_BYTES // max(1, 4 * weights)))
