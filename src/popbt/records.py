"""Frozen records of members, events and scores, and the enums of their states.

These are plain data read from a storage; changing one changes nothing stored.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


class MemberState(str, enum.Enum):
    """Where a member stands: waiting for a worker, trained by one, finished, or given up."""

    IDLE = "idle"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class EventKind(str, enum.Enum):
    """What an event records.

    `CREATED`: the member's initial hyperparameters. `READY`: the member reached a ready point
    with a score. `EXPLOIT`: it copied a donor's checkpoint, step and hyperparameters.
    `EXPLORE`: its hyperparameters changed (old → new, and how). `FAILURE`: its trainable
    raised; the error is recorded. `RESEED`: after repeated failures it was re-seeded.
    """

    CREATED = "created"
    READY = "ready"
    EXPLOIT = "exploit"
    EXPLORE = "explore"
    FAILURE = "failure"
    RESEED = "reseed"


@dataclass(frozen=True)
class Member:
    """A member's current record.

    Attributes:
        member_id: the stable slot, 0..size-1.
        hparams: the hyperparameters it trains under now.
        step: training steps its current weights have had (copied from a donor on exploit).
        score: the population's metric at the member's last evaluation; None before the first.
            An exploit leaves it alone (the member is ranked by what it scored itself until
            it reports again), so after an exploit it may describe the weights it had before;
            a member that copied a donor at the step target (it reports no more) takes the
            donor's score.
        metrics: every value `evaluate` returned at that evaluation.
        state: see `MemberState`.
        checkpoint_id: the checkpoint its weights are in; None before the first report.
        last_ready_step: the step of its last ready point (the ready cooldown counts from it).
        ready_count: how many ready points it has passed (seeds its decisions' generators).
        failures: consecutive failures of its trainable.
        error: the last error its trainable raised, if any.
    """

    member_id: int
    hparams: dict[str, Any]
    step: int
    score: float | None
    metrics: dict[str, float]
    state: MemberState
    checkpoint_id: int | None
    last_ready_step: int
    ready_count: int
    failures: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Event:
    """An append-only record of something that happened to a member.

    `data` by kind: READY {"score"}; EXPLOIT {"donor", "donor_step", "checkpoint_id", "score",
    "old", "new"}; EXPLORE {"old", "new", "ops"}; FAILURE {"error"}; CREATED {"hparams"};
    RESEED {"donor" or None, "error"}. `event_id` increases in commit order across the
    population.
    """

    event_id: int
    member_id: int
    step: int
    kind: EventKind
    time: float
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    """One evaluation of a member: the metric's value and every other value returned."""

    member_id: int
    step: int
    score: float
    metrics: dict[str, float]
    time: float


class Peer(NamedTuple):
    """What an exploit strategy sees of one member (a named tuple: thousands are built per
    decision).

    `fitness` is oriented so that higher is better (the score, negated for mode "min"); it is
    -inf for a non-finite score. `history` holds the member's recent fitness values since its
    last exploit, oldest first, when the strategy asked for them (`history_window` > 0).
    """

    member_id: int
    step: int
    fitness: float
    history: tuple[float, ...] = ()


class Peers(Sequence[Peer]):
    """A population snapshot held as columns (NumPy arrays), read as a sequence of `Peer`.

    Strategies that rank the whole population read `fitness` and `member_ids` directly; a
    `Peer` object is built only for the entries asked for.

    Example:
        >>> peers = Peers.of([Peer(0, 4, 1.0), Peer(1, 4, 2.0)])
        >>> peers.find(1).fitness
        2.0
    """

    def __init__(self, member_ids: np.ndarray, steps: np.ndarray, fitness: np.ndarray,
                 history: Mapping[int, tuple[float, ...]] | None = None) -> None:
        self.member_ids = np.asarray(member_ids, dtype=np.int64)
        self.steps = np.asarray(steps, dtype=np.int64)
        self.fitness = np.asarray(fitness, dtype=float)
        self.history = dict(history or {})

    @classmethod
    def of(cls, peers: Sequence[Peer]) -> Peers:
        """`peers` itself if it is a `Peers`, else its columns."""
        if isinstance(peers, Peers):
            return peers
        return cls(np.array([p.member_id for p in peers], dtype=np.int64),
                   np.array([p.step for p in peers], dtype=np.int64),
                   np.array([p.fitness for p in peers], dtype=float),
                   {p.member_id: p.history for p in peers})

    def __len__(self) -> int:
        return len(self.member_ids)

    def __getitem__(self, i: int) -> Peer:  # type: ignore[override]
        mid = int(self.member_ids[i])
        return Peer(mid, int(self.steps[i]), float(self.fitness[i]), self.history.get(mid, ()))

    def position(self, member_id: int) -> int | None:
        """The index of `member_id`, or None if it is not in the snapshot."""
        hits = np.flatnonzero(self.member_ids == member_id)
        return int(hits[0]) if len(hits) else None

    def find(self, member_id: int) -> Peer | None:
        """The `Peer` of `member_id`, or None."""
        i = self.position(member_id)
        return None if i is None else self[i]
