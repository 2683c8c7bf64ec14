"""Ready decisions as values: what a member does at a ready point, made from read-only data.

Contract:
- A decision is made from a `DecisionContext` (the member, its peers as columns, the space,
  the member's decision generator, and a read-only view of any peer's committed record) and
  returned as a value: `Continue`, `CopyDonor`, `ExploreInPlace` or `Reseed`. Making one
  touches no storage, file or process; applying one is the storage's (or the vectorized
  trainer's) job, in one transaction with its events.
- A `CopyDonor` or `Reseed` carries the donor's record as it was read (`DonorView`): its
  checkpoint, step and hyperparameters are what the member takes, so what is applied is
  what was decided.
- `decision_events` is the one function that turns a decision into events, for the worker
  loop and the vectorized trainer alike; `history_from_events` the one that turns events
  into the population's history (what an explore with `uses_history` receives).

Examples:
    >>> d = ExploreInPlace(old={"lr": 0.1}, hparams={"lr": 0.12}, ops={"lr": "×1.2"})
    >>> [(kind.value, step) for kind, step, _ in decision_events(d, step=40)]
    [('explore', 40)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from popbt.fitness import fitness_of
from popbt.records import EventKind, Peer, Peers
from popbt.space import Space

EventSpec = tuple[EventKind, int, dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Observation:
    """One ready point of a member: its step, the hyperparameters it trained the interval
    before it with, and what it reported there (`score` on the population's metric,
    `fitness` the same oriented: higher is better, -inf when not finite)."""

    step: int
    hparams: Mapping[str, Any]
    score: float
    fitness: float
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class MemberHistory:
    """A member's ready points since it started (`observations`, in order), the index of
    the first one after its last exploit or re-seed (`since_exploit`), the hyperparameters
    in force now (`hparams`), and its `stretches`: the runs of intervals trained from one
    set of weights, split at every exploit.

    Each stretch is a tuple of observations in order. One that begins with an exploit starts
    with the donor's point it copied (at the donor's step, with the donor's score and
    fitness as the EXPLOIT event recorded them, and empty `hparams`: no interval of this
    member ends there), so the change over the first interval after an exploit, the one
    trained with the hyperparameters the explore chose, is measured too. A history built
    without stretches (empty) reads as one stretch of `own`.
    """

    member_id: int
    observations: tuple[Observation, ...]
    since_exploit: int
    stretches: tuple[tuple[Observation, ...], ...] = ()
    hparams: Mapping[str, Any] = field(default_factory=dict)

    @property
    def own(self) -> tuple[Observation, ...]:
        """The observations since its last exploit (those of its current weights' stretch)."""
        return self.observations[self.since_exploit:]

    @property
    def runs(self) -> tuple[tuple[Observation, ...], ...]:
        """`stretches`, or `(own,)` for a history built without them."""
        return self.stretches or (self.own,)


History = Mapping[int, MemberHistory]


def history_from_events(events: Iterable[tuple[int, EventKind, int, Mapping[str, Any]]], *,
                        metric: str, mode: str = "max") -> dict[int, MemberHistory]:
    """Every member's history from its events, (member id, kind, step, data) in commit order:
    CREATED, EXPLOIT and EXPLORE set the hyperparameters in force; each READY is an
    observation (its `metrics`, or the score alone for events written before they were
    recorded), its fitness the score oriented by `mode`; each EXPLOIT starts a stretch (see
    `MemberHistory`)."""
    hparams: dict[int, Mapping[str, Any]] = {}
    seen: dict[int, list[Observation]] = {}
    since: dict[int, int] = {}
    stretches: dict[int, list[list[Observation]]] = {}
    for mid, kind, step, data in events:
        observed = seen.setdefault(mid, [])
        runs = stretches.setdefault(mid, [[]])
        if kind in (EventKind.CREATED, EventKind.EXPLORE):
            hparams[mid] = data.get("hparams", data.get("new", {}))
        elif kind is EventKind.EXPLOIT:
            hparams[mid] = data["new"]
            since[mid] = len(observed)
            score = _number(data.get("score"))
            runs.append([Observation(step=int(data.get("donor_step", step)), hparams={},
                                     score=score, fitness=fitness_of(score, mode),
                                     metrics={metric: score})])
        elif kind is EventKind.READY:
            score = _number(data.get("score"))
            obs = Observation(step=step, hparams=dict(hparams.get(mid, {})), score=score,
                              fitness=fitness_of(score, mode),
                              metrics=dict(data.get("metrics") or {metric: score}))
            observed.append(obs)
            runs[-1].append(obs)
    return {mid: MemberHistory(mid, tuple(obs), since.get(mid, 0),
                               tuple(tuple(run) for run in stretches[mid] if run),
                               dict(hparams.get(mid, {})))
            for mid, obs in seen.items()}


def _number(value: Any) -> float:
    """A recorded score as a float (NaN for None)."""
    return math.nan if value is None else float(value)


def _no_history() -> History:
    return {}


def _no_elite() -> DonorView | None:
    return None


@dataclass(frozen=True, kw_only=True)
class DonorView:
    """A peer's record as committed: what copying it would take.

    Attributes:
        member_id: the peer.
        step: its step.
        score: its score on the population's metric (None before its first report).
        fitness: its oriented fitness (higher is better; -inf when not finite).
        hparams: its hyperparameters.
        checkpoint_id: the checkpoint its weights are in (None: nothing to copy).
    """

    member_id: int
    step: int
    score: float | None
    fitness: float
    hparams: Mapping[str, Any]
    checkpoint_id: int | None


@dataclass(frozen=True, kw_only=True)
class DecisionContext:
    """Everything a ready decision may read; nothing in it writes.

    Attributes:
        member: the deciding member's entry (id, step, fitness, recent fitness history).
        hparams: the member's hyperparameters.
        ready_count: how many ready points the member has passed (seeds `rng`).
        peers: every scored member, as columns.
        space: the search space.
        rng: the generator of this decision (population seed, member id, ready count).
        donor: a peer's committed record by id (None when it has none to copy), read in the
            same transaction the decision is applied in.
        history: every member's history (see `MemberHistory`), read on demand (it reads
            every event of the population): for an explore that declares `uses_history`.
        elite: the population's elite, read on demand: the checkpoint of the best fitness
            ever reported, while it is kept (None when there is none, or the trainer keeps
            no past checkpoints): for an exploit that declares `uses_elite`.
    """

    member: Peer
    hparams: Mapping[str, Any]
    ready_count: int
    peers: Peers
    space: Space
    rng: np.random.Generator
    donor: Callable[[int], DonorView | None]
    history: Callable[[], History] = _no_history
    elite: Callable[[], DonorView | None] = _no_elite


class Decision:
    """Base class of the four decisions."""


@dataclass(frozen=True)
class Continue(Decision):
    """Carry on with the member's own weights and hyperparameters."""


@dataclass(frozen=True, kw_only=True)
class CopyDonor(Decision):
    """Exploit: take the donor's checkpoint, step and hyperparameters, then (with `ops` not
    None) the explored `hparams`. With `backtrack`, the donor is the population's elite, and
    the member may go back to its step."""

    donor: DonorView
    old: Mapping[str, Any]
    hparams: Mapping[str, Any]
    ops: Mapping[str, str] | None
    backtrack: bool = False


@dataclass(frozen=True, kw_only=True)
class ExploreInPlace(Decision):
    """Keep the weights; change the hyperparameters from `old` to `hparams`."""

    old: Mapping[str, Any]
    hparams: Mapping[str, Any]
    ops: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class Reseed(Decision):
    """A member that keeps failing starts again from `donor` (explored like an exploit); with
    no donor it is given up (FAILED)."""

    error: str
    donor: DonorView | None
    old: Mapping[str, Any]
    hparams: Mapping[str, Any]
    ops: Mapping[str, str] | None


def _copy_events(d: CopyDonor | Reseed, donor: DonorView) -> list[EventSpec]:
    data = {"donor": donor.member_id, "donor_step": donor.step,
            "checkpoint_id": donor.checkpoint_id, "score": donor.score, "old": dict(d.old),
            "new": dict(donor.hparams)}
    if isinstance(d, CopyDonor) and d.backtrack:
        data["backtrack"] = True
    events: list[EventSpec] = [(EventKind.EXPLOIT, donor.step, data)]
    if d.ops is not None:
        events.append((EventKind.EXPLORE, donor.step, {
            "old": dict(donor.hparams), "new": dict(d.hparams), "ops": dict(d.ops)}))
    return events


def decision_events(decision: Decision, *, step: int) -> list[EventSpec]:
    """The events that record `decision` of a member at `step`, in order: (kind, step, data).

    A `CopyDonor` records EXPLOIT (then EXPLORE) at the donor's step (its data holds
    `"backtrack": True` when the donor is the elite); a `Reseed` records
    RESEED first; `Continue` records nothing.
    """
    if isinstance(decision, CopyDonor):
        return _copy_events(decision, decision.donor)
    if isinstance(decision, ExploreInPlace):
        return [(EventKind.EXPLORE, step, {"old": dict(decision.old),
                                           "new": dict(decision.hparams),
                                           "ops": dict(decision.ops)})]
    if isinstance(decision, Reseed):
        if decision.donor is None:
            return [(EventKind.RESEED, step, {"donor": None, "error": decision.error})]
        return [(EventKind.RESEED, decision.donor.step,
                 {"donor": decision.donor.member_id, "error": decision.error}),
                *_copy_events(decision, decision.donor)]
    return []
