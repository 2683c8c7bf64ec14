"""A vectorized population's ready decisions: every member's, in member order, as the worker
loop makes them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from popbt.decider import Decider
from popbt.decisions import (
    CopyDonor,
    DonorView,
    ExploreInPlace,
    MemberHistory,
    decision_events,
    history_from_events,
)
from popbt.fitness import ParetoFitness
from popbt.records import Event, EventKind, Peers


def decide_round(decider: Decider, records: list[dict[str, Any]],
                 history: dict[int, list[float]], *, step: int,
                 events: list[tuple[int, int, EventKind, dict]],
                 stored: Callable[[], Sequence[Event]], together: bool = False,
                 samples: Mapping[int, Sequence[float]] | None = None) -> np.ndarray:
    """Make every member's decision at the ready `step`, one member at a time in member
    order, each seeing the exploits made before it in the round (as members taking turns do),
    or with `together` (a synchronous generation) the donors' records as they were before
    any decision of the round (a history-reading explore still sees the round's earlier
    decisions, as the worker loop's do).

    `records` (the members' hyperparameters change in place) and `history` (the fitness since
    each member's last exploit; an exploit empties it) are updated, and the decisions' events
    appended to `events`; `samples` holds each member's latest evaluation's samples' fitness,
    for strategies that test them (`TTest`, `margin_se`). `stored` reads the population's
    stored events, called at most once, when a strategy asks for history. Returns, for each
    member, the row its parameters and optimizer state are to be copied from (its own when it
    keeps them; a chain of copies within the round resolves to its origin).
    """
    size = len(records)
    fitness = np.array([-np.inf if r["fitness"] is None else r["fitness"] for r in records])
    source = np.arange(size)
    window = decider.history_window

    before = [dict(r["hparams"]) for r in records]

    def donor(member_id: int) -> DonorView:
        giver = records[member_id]
        hparams = before[member_id] if together else giver["hparams"]
        return DonorView(member_id=member_id, step=step, score=giver["score"],
                         fitness=float(fitness[member_id]), hparams=dict(hparams),
                         checkpoint_id=None)

    read: list[tuple[int, EventKind, int, dict]] = []

    def population_history() -> dict[int, MemberHistory]:
        """What the storage holds (read once a round), then this round's events, which are
        written after the decisions."""
        if not read:
            read.extend((e.member_id, e.kind, e.step, e.data) for e in stored())
        pending = ((m, kind, at, data) for m, at, kind, data in events)
        return history_from_events(itertools.chain(read, pending),
                                   metric=decider.settings.metric, mode=decider.settings.mode)

    pareto = decider.settings.fitness
    objectives = ({r["member_id"]: pareto.vector(r["metrics"]) for r in records}
                  if isinstance(pareto, ParetoFitness) else {})  # each keeps its own values

    def snapshot() -> Peers:
        if not window:
            return Peers(np.arange(size), np.full(size, step), fitness, objectives=objectives)
        return Peers(np.arange(size), np.full(size, step), fitness,
                     {m: tuple(h) for m, h in history.items()},
                     samples={m: tuple(v) for m, v in (samples or {}).items() if v},
                     objectives=objectives)

    first = snapshot()
    for rec in records:
        mid = rec["member_id"]
        peers = first if together or not window else snapshot()
        decision = decider.decide(decider.context(
            member=peers[mid], hparams=rec["hparams"], ready_count=rec["ready_count"],
            peers=peers, donor=donor, history=population_history))
        if isinstance(decision, CopyDonor):
            giver = decision.donor.member_id
            source[mid] = giver if together else source[giver]
            history[mid] = []
        if isinstance(decision, CopyDonor | ExploreInPlace):
            rec["hparams"] = dict(decision.hparams)
        events.extend((mid, at, kind, data)
                      for kind, at, data in decision_events(decision, step=step))
    return source
