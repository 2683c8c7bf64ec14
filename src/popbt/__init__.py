"""popbt: Population Based Training with lineage you can see and checkpoints you can trust.

The light parts (search spaces, strategies, the Trainable interface, records, stop rules,
callbacks) import eagerly; the storage-backed parts (`create_population`, `load_population`,
`Population`, `get_storage`) import SQLAlchemy on first use, the executors (`InProcess`,
`Processes`, `Ray`) are imported from `popbt.executors` on first use, and `popbt.loggers`
when it is first named (each logger imports its package when it is made).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from popbt.callbacks import Callback, RunEnd
from popbt.check import CheckResult, Finding, check_trainable
from popbt.errors import (
    CallbackError,
    CheckpointError,
    ConfigError,
    FatalRunError,
    PopbtError,
    PopulationExists,
    PopulationNotFound,
    StorageError,
    TrainingError,
)
from popbt.hparams import UnusedHyperparameterWarning
from popbt.league import League
from popbt.records import Event, EventKind, Member, MemberState, Peer, Score
from popbt.simplex import Simplex
from popbt.space import Choice, IntUniform, LogUniform, Space, Uniform
from popbt.stopping import Plateau, StopRule, TargetScore, TimeBudget
from popbt.strategies import (
    PB2,
    Backtrack,
    EloTournament,
    Every,
    Exploit,
    Explore,
    GaussianNoise,
    NoExploit,
    PB2Mix,
    Perturb,
    Resample,
    Tournament,
    Truncation,
    TTest,
)
from popbt.trainable import Trainable

if TYPE_CHECKING:
    from popbt.executors import InProcess, Processes, Ray
    from popbt.population import Population, create_population, load_population
    from popbt.storage import get_storage

__version__ = "0.1.0"

__all__ = [
    "Backtrack", "Callback", "CallbackError", "CheckResult", "CheckpointError", "Choice",
    "ConfigError", "EloTournament",
    "Event", "EventKind", "Every",
    "Exploit", "Explore", "FatalRunError", "Finding", "GaussianNoise",
    "InProcess", "IntUniform", "League", "LogUniform", "Member", "MemberState", "NoExploit", "PB2",
    "PB2Mix", "Peer", "Perturb", "Plateau", "PopbtError", "Population", "PopulationExists",
    "PopulationNotFound",
    "Processes", "Ray", "Resample", "RunEnd",
    "Score", "Simplex", "Space", "StopRule",
    "StorageError", "TTest", "TargetScore", "TimeBudget", "Tournament", "Trainable",
    "TrainingError", "Truncation", "Uniform",
    "UnusedHyperparameterWarning", "check_trainable", "create_population", "get_storage",
    "load_population",
]

_LAZY = {"Population", "create_population", "load_population"}
_EXECUTORS = {"InProcess", "Processes", "Ray"}  # popbt.executors: multiprocessing, Ray on use


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from popbt import population

        return getattr(population, name)
    if name in _EXECUTORS:
        from popbt import executors

        return getattr(executors, name)
    if name == "loggers":  # popbt.loggers: each logger imports its package when made
        import popbt.loggers

        return popbt.loggers
    if name == "get_storage":  # popbt.storage: SQLAlchemy only once a URL is opened
        from popbt.storage import get_storage

        return get_storage
    raise AttributeError(f"module 'popbt' has no attribute {name!r}")
