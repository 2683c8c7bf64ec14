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
    """Where a member stands: waiting for a worker, trained by one, finished, given up, or
    retired when its population shrank (never trained, copied or ranked again; its record
    and events stay)."""

    IDLE = "idle"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    RETIRED = "retired"


class EventKind(str, enum.Enum):
    """What an event records.

    `CREATED`: the member's initial hyperparameters. `READY`: the member reached a ready point
    with a score. `EXPLOIT`: it copied a donor's checkpoint, step and hyperparameters.
    `EXPLORE`: its hyperparameters changed (old → new, and how). `FAILURE`: its trainable
    raised; the error is recorded. `RESEED`: after repeated failures it was re-seeded.
    `RETIRED`: the population shrank and this member left it. `WARM_START`: the member
    started from a checkpoint of another population.
    """

    CREATED = "created"
    READY = "ready"
    EXPLOIT = "exploit"
    EXPLORE = "explore"
    FAILURE = "failure"
    RESEED = "reseed"
    RETIRED = "retired"
    WARM_START = "warm_start"


@dataclass(frozen=True)
class Member:
    """A member's current record.

    Attributes:
        member_id: the stable slot: 0..size-1 at creation, then the next free ids for
            members added when the population grows (ids of retired members are not reused).
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

    `data` by kind: READY {"score", "metrics", "checkpoint_id"}, with "samples" (the
    metric's values as `evaluate` returned them, when it returned several) and
    "sample_fitness" (each one's oriented fitness); EXPLOIT {"donor", "donor_step",
    "checkpoint_id", "score", "old", "new"}, with "backtrack": True when the donor was the
    population's elite (its step may be behind the member's); EXPLORE {"old", "new", "ops"};
    FAILURE {"error"}; CREATED {"hparams"};
    RESEED {"donor" or None, "error"}; RETIRED {"size"} (the population's size after);
    WARM_START {"population", "member_id", "step", "score"} (where its weights came from).
    A member added to a grown population has a CREATED event at the step it starts from; one
    cloned from the best member also the EXPLOIT (and EXPLORE) of that copy. `event_id`
    increases in commit order across the population.
    """

    event_id: int
    member_id: int
    step: int
    kind: EventKind
    time: float
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    """One evaluation of a member: the metric's value and every other value returned (and
    logged with `Trainable.log`). `score_id` increases in commit order across the
    population (0 for a score not read from a storage)."""

    member_id: int
    step: int
    score: float
    metrics: dict[str, float]
    time: float
    score_id: int = 0


@dataclass(frozen=True)
class StoredSettings:
    """A population's settings as stored (the JSON that `popbt.settings.Settings.to_config`
    writes), read by name: the one place that reads the stored keys. Each value is read when
    asked for, so a partial configuration serves the values it holds.

    Examples:
        >>> pop.row.settings.metric, pop.row.settings.size, pop.row.settings.trainer
        ('Q', 4, 'workers')
    """

    config: Mapping[str, Any]

    @property
    def space(self) -> dict[str, Any]:
        """The search space, as `popbt.space.Space.to_json` writes it."""
        return self.config["space"]

    @property
    def size(self) -> int:
        """How many members the population has now (retired members not counted)."""
        return self.config["size"]

    @property
    def metric(self) -> str:
        """The name of the metric members are ranked by."""
        return self.config["metric"]

    @property
    def mode(self) -> str:
        """"max" (a higher metric is better) or "min"."""
        return self.config["mode"]

    @property
    def seed(self) -> int:
        """The population's seed."""
        return self.config["seed"]

    @property
    def ready(self) -> dict[str, Any]:
        """When a member is ready, as `popbt.Every.to_config` writes it."""
        return self.config["ready"]

    @property
    def exploit(self) -> dict[str, Any]:
        """The exploit strategy, as its `to_config` writes it."""
        return self.config["exploit"]

    @property
    def explore(self) -> dict[str, Any] | None:
        """The explore strategy, as its `to_config` writes it; None for none."""
        return self.config["explore"]

    @property
    def keep_checkpoints(self) -> int:
        """How many of its own last checkpoints each member keeps."""
        return self.config["keep_checkpoints"]

    @property
    def max_failures(self) -> int:
        """Failures in a row after which a member is re-seeded."""
        return self.config["max_failures"]

    @property
    def max_lead(self) -> int | None:
        """How many ready intervals a member may start ahead of the least-advanced member
        still training (None: no bound; also for populations stored before it was)."""
        return self.config.get("max_lead")

    @property
    def sync(self) -> bool:
        """Whether members go in synchronous generations (False for populations stored
        before it was)."""
        return bool(self.config.get("sync", False))

    @property
    def league(self) -> dict[str, Any] | None:
        """The league, as `popbt.league.League.to_config` writes it (None: no league; also
        for populations stored before there were leagues)."""
        return self.config.get("league")

    @property
    def objectives(self) -> list[list[Any]]:
        """A multi-objective population's objectives as `[metric, mode, reference]` lists
        (empty for a population of one metric, and those stored before there were
        several)."""
        return list(self.config.get("objectives", []))

    @property
    def trainer(self) -> str:
        """Which trainer trains the population: "workers" (also for populations stored
        before the trainer was recorded), "vectorized" or "ga"."""
        return self.config.get("trainer", "workers")


class Peer(NamedTuple):
    """What an exploit strategy sees of one member (a named tuple: thousands are built per
    decision).

    `fitness` is oriented so that higher is better (the score, negated for mode "min"); it is
    -inf for a non-finite score. `history` holds the member's recent fitness values since its
    last exploit, oldest first, and `samples` the oriented fitness of each sample of the
    evaluation at its current step (when `evaluate` returned several values under the metric;
    their mean is its score), both when the strategy asked for them (`history_window` > 0).
    """

    member_id: int
    step: int
    fitness: float
    history: tuple[float, ...] = ()
    samples: tuple[float, ...] = ()


class Peers(Sequence[Peer]):
    """A population snapshot held as columns (NumPy arrays), read as a sequence of `Peer`.

    Strategies that rank the whole population read `fitness` and `member_ids` directly; a
    `Peer` object is built only for the entries asked for. A multi-objective population's
    snapshot also holds each member's oriented objective values (`objectives`, by member
    id), which its fitness ranks by (`popbt.fitness.ParetoFitness`).

    Examples:
        >>> peers = Peers.of([Peer(0, 4, 1.0), Peer(1, 4, 2.0)])
        >>> peers.find(1).fitness
        2.0
    """

    def __init__(self, member_ids: np.ndarray, steps: np.ndarray, fitness: np.ndarray,
                 history: Mapping[int, tuple[float, ...]] | None = None, *,
                 samples: Mapping[int, tuple[float, ...]] | None = None,
                 objectives: Mapping[int, tuple[float, ...]] | None = None) -> None:
        self.member_ids = np.asarray(member_ids, dtype=np.int64)
        self.steps = np.asarray(steps, dtype=np.int64)
        self.fitness = np.asarray(fitness, dtype=float)
        self.history = dict(history or {})
        self.samples = dict(samples or {})
        self.objectives = dict(objectives or {})  # a multi-objective population's, oriented

    @classmethod
    def of(cls, peers: Sequence[Peer]) -> Peers:
        """`peers` itself if it is a `Peers`, else its columns."""
        if isinstance(peers, Peers):
            return peers
        return cls(np.array([p.member_id for p in peers], dtype=np.int64),
                   np.array([p.step for p in peers], dtype=np.int64),
                   np.array([p.fitness for p in peers], dtype=float),
                   {p.member_id: p.history for p in peers},
                   samples={p.member_id: p.samples for p in peers if p.samples})

    def subset(self, keep: np.ndarray) -> Peers:
        """The entries where the boolean mask `keep` is true, with their history and samples.

        Examples:
            >>> peers = Peers.of([Peer(0, 4, 1.0, samples=(0.5, 1.5)), Peer(1, 2, 2.0)])
            >>> [(p.member_id, p.samples) for p in peers.subset(peers.steps >= 4)]
            [(0, (0.5, 1.5))]
        """
        return Peers(self.member_ids[keep], self.steps[keep], self.fitness[keep], self.history,
                     samples=self.samples, objectives=self.objectives)

    def __len__(self) -> int:
        return len(self.member_ids)

    def __getitem__(self, i: int) -> Peer:  # type: ignore[override]
        mid = int(self.member_ids[i])
        return Peer(mid, int(self.steps[i]), float(self.fitness[i]), self.history.get(mid, ()),
                    self.samples.get(mid, ()))

    def position(self, member_id: int) -> int | None:
        """The index of `member_id`, or None if it is not in the snapshot."""
        hits = np.flatnonzero(self.member_ids == member_id)
        return int(hits[0]) if len(hits) else None

    def find(self, member_id: int) -> Peer | None:
        """The `Peer` of `member_id`, or None."""
        i = self.position(member_id)
        return None if i is None else self[i]
