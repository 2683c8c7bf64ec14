"""Pure strategies: when a member is ready, whom it copies, how it explores.

Every strategy class is registered once in `popbt.strategies.registry` (`register`), which
`from_config` reads to rebuild a stored strategy.
"""

from __future__ import annotations

from popbt.strategies.backtrack import Backtrack
from popbt.strategies.deferred import DeferredExploit, DeferredExplore
from popbt.strategies.elo_tournament import EloTournament
from popbt.strategies.exploit import Exploit, NoExploit, Tournament, Truncation, TTest
from popbt.strategies.explore import (
    CallableExplore,
    Explore,
    GaussianNoise,
    Perturb,
    Resample,
    StoredExplore,
    as_explore,
)
from popbt.strategies.genetic import GeneticSelection
from popbt.strategies.pb2 import PB2
from popbt.strategies.pb2_mix import PB2Mix
from popbt.strategies.ready import Every
from popbt.strategies.registry import from_config, register

__all__ = [
    "Backtrack", "CallableExplore", "DeferredExploit", "DeferredExplore", "EloTournament",
    "Every", "Exploit",
    "Explore",
    "GaussianNoise", "GeneticSelection", "NoExploit", "PB2", "PB2Mix", "Perturb", "Resample",
    "StoredExplore",
    "TTest", "Tournament", "Truncation", "as_explore", "from_config", "register",
]
