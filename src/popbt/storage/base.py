"""The storage contract's data: what a worker hands a storage and what it gets back.

`SQLStorage` (popbt.storage.sql) implements the contract for SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from popbt.decisions import CopyDonor, Decision, DecisionContext, DonorView, History, Reseed
from popbt.fitness import fitness_of  # noqa: F401 - re-exported for callers that used it here
from popbt.records import Member, Peer, Peers, StoredSettings


class Decide(Protocol):
    """What makes a population's decisions (`popbt.decider.Decider`): the storage builds a
    context in its transaction, asks for a `Decision` value and applies it; it never runs
    strategy code in any other way."""

    history_window: int

    def context(self, *, member: Peer, hparams: Mapping[str, Any], ready_count: int,
                peers: Peers, donor: Callable[[int], DonorView | None],
                history: Callable[[], History] | None = None,
                elite: Callable[[], DonorView | None] | None = None) -> DecisionContext: ...

    def decide(self, context: DecisionContext) -> Decision: ...

    def reseed(self, context: DecisionContext, error: str) -> Reseed: ...


class Clone(Protocol):
    """How a member added to a growing population starts from the best member
    (`popbt.decider.Decider.clone`): the storage reads the donor in its transaction and
    applies the returned `CopyDonor` as it applies an exploit."""

    def clone(self, member_id: int, donor: DonorView) -> CopyDonor: ...


@dataclass(frozen=True)
class Resized:
    """What `Storage.resize` did: the ids of the members it added and retired, the member
    the added ones were cloned from (None: started afresh), and the size after."""

    added: tuple[int, ...]
    retired: tuple[int, ...]
    donor: int | None
    size: int


@dataclass(frozen=True)
class WarmStart:
    """Where a new member's weights come from (`Storage.create_population(starts=...)`): a
    checkpoint file already written under the population's checkpoint root (`path`,
    `checksum`, `size`, as `CheckpointStore.save` returns them), and `source`, what its
    WARM_START event records (the population, member, step and score it was copied from)."""

    path: str
    checksum: str
    size: int
    source: dict[str, Any]


@dataclass(frozen=True)
class PopulationRow:
    """A population as stored: its settings (`config`, read through `settings`), step
    target, fatal error, why it was stopped (`stopped`, see `Storage.set_stopped`), and a
    reference to the class that last trained it (`trainable`, see `Storage.set_trainable`)."""

    id: int
    name: str
    config: dict[str, Any]
    target_steps: int
    checkpoint_root: str
    error: str | None
    created: float
    stopped: str | None = None
    trainable: str | None = None

    @cached_property
    def settings(self) -> StoredSettings:
        """The stored settings, typed (built once per row)."""
        return StoredSettings(self.config)


@dataclass(frozen=True)
class Claim:
    """A member held by `worker` under `token` until its lease expires."""

    member: Member
    worker: str
    token: int
    target_steps: int


@dataclass(frozen=True)
class CheckpointRow:
    """Where a checkpoint lies (relative to the population's checkpoint root) and its sha256."""

    id: int
    member_id: int
    step: int
    path: str
    checksum: str
    size: int


@dataclass(frozen=True)
class Report:
    """What a worker publishes after training a claimed member for one interval.

    `score`: the population's metric; `fitness`: what ranks it (the population's
    `popbt.fitness.Fitness` of `metrics`, computed by the worker). `samples`: the metric's
    values `score` is the mean of, when `evaluate` returned several (else empty), and
    `sample_fitness` the fitness of each (computed by the worker, as `fitness`; recorded with
    the READY event, for decisions to test). `ready`: the member reached
    a ready point (a READY event is recorded). `decide`: a ready decision is due (past the
    burn-in); it is made before the member trains again. `league_entry`: at a ready point,
    freeze the reported checkpoint as a league entry, rated as the member is (this rating if
    it has none).
    """

    member_id: int
    worker: str
    token: int
    step: int
    score: float
    fitness: float
    metrics: dict[str, float]
    checkpoint_path: str
    checksum: str
    size: int
    ready: bool
    decide: bool
    keep_checkpoints: int
    samples: tuple[float, ...] = ()
    sample_fitness: tuple[float, ...] = ()
    league_entry: float | None = None


@dataclass(frozen=True)
class Outcome:
    """The result of a report: whether it was accepted, the member after it, files to delete."""

    accepted: bool
    member: Member | None
    obsolete_paths: tuple[str, ...]
