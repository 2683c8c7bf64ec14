"""popbt: Population Based Training with lineage you can see and checkpoints you can trust.

The light parts (search spaces, strategies, the Trainable interface, records) import
eagerly; the storage-backed parts (`create_population`, `load_population`, `Population`,
`get_storage`) import SQLAlchemy on first use, and the executors (`InProcess`, `Processes`,
`Ray`) are imported from `popbt.executors` on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from popbt.errors import (
    CheckpointError,
    ConfigError,
    PopbtError,
    PopulationExists,
    StorageError,
    TrainingError,
)
from popbt.records import Event, EventKind, Member, MemberState, Peer, Score
from popbt.space import Choice, IntUniform, LogUniform, Space, Uniform
from popbt.strategies import (
    Every,
    GaussianNoise,
    NoExploit,
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
    "CheckpointError", "Choice", "ConfigError", "Event", "EventKind", "Every", "GaussianNoise",
    "InProcess", "IntUniform", "LogUniform", "Member", "MemberState", "NoExploit", "Peer",
    "Perturb", "PopbtError", "Population", "PopulationExists", "Processes", "Ray", "Resample",
    "Score", "Space",
    "StorageError", "TTest", "Tournament", "Trainable", "TrainingError", "Truncation", "Uniform",
    "create_population", "get_storage", "load_population",
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
    if name == "get_storage":  # popbt.storage: SQLAlchemy only once a URL is opened
        from popbt.storage import get_storage

        return get_storage
    raise AttributeError(f"module 'popbt' has no attribute {name!r}")
