"""`SQLStorage`'s ready decisions: the peers a decision sees, its context, and applying the
`Decision` it returns, inside the transaction of the claim or failure that makes it.

Contract: a decision reads the records as committed in its transaction; an exploit copies
the donor's checkpoint reference, step and hyperparameters (never from a donor behind the
member, without a checkpoint or without a finite score), then explores, with their events;
a decision that raises changes nothing (its transaction rolls back).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection

from popbt.decisions import (
    CopyDonor,
    Decision,
    DecisionContext,
    DonorView,
    ExploreInPlace,
    MemberHistory,
    Reseed,
    decision_events,
    history_from_events,
)
from popbt.fitness import Objective
from popbt.league.records import player_key
from popbt.records import EventKind, MemberState, Peer, Peers
from popbt.storage._core import SQLCore, dumps
from popbt.storage._retry import retried
from popbt.storage.base import Decide, PopulationRow


def copyable(row: Any) -> dict[str, Any]:
    """The member columns an exploit overwrites, as they are in `row`."""
    return {"step": row.step, "fitness": row.fitness, "metrics": row.metrics,
            "checkpoint_id": row.checkpoint_id, "hparams": row.hparams,
            "last_ready_step": row.last_ready_step, "history_since": row.history_since}


@dataclass(frozen=True)
class Snapshot:
    """The peers and member rows (by member id) as read at one moment of a transaction."""

    peers: Peers
    rows: Mapping[int, Any]


class Decisions(SQLCore):
    """Peers, decision contexts and decisions applied."""

    @retried
    def peers(self, pop: PopulationRow, *, window: int = 0) -> Peers:
        """Every member that has a score, with its last `window` fitness values (scores since
        its last exploit) and the fitness of its samples at its current step (see
        `Peer.samples`) when `window` > 0."""
        with self._read() as conn:
            return self._peers(conn, pop, window)

    def _peers(self, conn: Connection, pop: PopulationRow, window: int) -> Peers:
        """The scored members not retired, from this process's copy of the member records
        refreshed with the rows changed since it was last read (one small query, not one row
        per member); the copy grows with the population (member ids index it)."""
        version = self._rows(conn, "version", {"p": pop.id})[0][0]
        cached = self._snapshots.get(pop.id)
        if cached is None or cached[0] > version:
            size = pop.settings.size
            cached = (0, np.zeros(size), np.full(size, np.nan), {})
        seen, steps, fitness, objectives = cached
        if version > seen:
            changed = self._rows(conn, "peers", {"p": pop.id, "since": seen})
            size = max([len(steps)] + [row[0] + 1 for row in changed])
            steps = np.concatenate([steps, np.zeros(size - len(steps))])
            fitness = np.concatenate([fitness, np.full(size - len(fitness), np.nan)])
            wanted = [Objective.of(o) for o in pop.settings.objectives]
            objectives = dict(objectives)
            for mid, step, fit, metrics in changed:
                steps[mid] = step
                fitness[mid] = np.nan if fit is None else fit
                if wanted:
                    values = json.loads(metrics)
                    objectives[mid] = tuple(o.oriented(float(values.get(o.metric, math.nan)))
                                            for o in wanted)
            self._snapshots[pop.id] = (version, steps, fitness, objectives)
        scored = np.flatnonzero(~np.isnan(fitness))
        history: dict[int, list[float]] = {}
        samples: dict[int, tuple[float, ...]] = {}
        if window > 0:
            for mid, fit in self._rows(conn, "history", {"p": pop.id, "window": window}):
                history.setdefault(mid, []).append(fit)
            for mid, data in self._rows(conn, "samples", {"p": pop.id}):
                found = json.loads(data).get("sample_fitness")
                if found:  # the READY event at its step of a member that reported samples
                    samples[mid] = tuple(float(x) for x in found)
        ids = [int(m) for m in scored]
        return Peers(scored, steps[scored], fitness[scored],
                     {mid: tuple(h) for mid, h in history.items()}, samples=samples,
                     objectives={m: objectives[m] for m in ids if m in objectives})

    def _decide(self, conn: Connection, pop: PopulationRow, member_id: int, decide: Decide,
                now: float, target: int, before: Snapshot | None = None) -> None:
        """Make a member's due ready decision and apply it with its events; a member that
        copied a donor already at the step target is done. With `before`, the decision sees
        those peers and donor records instead of the current ones (a synchronous
        generation's decisions are made against the same)."""
        row = self._rows(conn, "member", {"p": pop.id, "m": member_id})[0]
        peers = before.peers if before else self._peers(conn, pop, decide.history_window)
        decision = decide.decide(self._context(conn, pop, row, decide, peers,
                                               None if before is None else before.rows))
        values = copyable(row)
        event_rows = self._apply(conn, pop, row, decision, values, now, target)
        state = MemberState.DONE.value if values["step"] >= target else row.state
        self._run(conn, "decided", {**values, "p": pop.id, "m": member_id, "state": state,
                                    "version": self._bump(conn, pop)})
        if event_rows:
            self._run(conn, "add_event", event_rows)

    def _context(self, conn: Connection, pop: PopulationRow, row: Any, decide: Decide,
                 peers: Peers, rows: Mapping[int, Any] | None = None) -> DecisionContext:
        """The decision context of the member in `row`; its donor lookup reads the peer's row
        in this transaction, or from `rows` when given (None without a checkpoint to copy, or
        for a retired member)."""
        metric = pop.settings.metric

        def donor(member_id: int) -> DonorView | None:
            if rows is None:
                found = self._rows(conn, "member", {"p": pop.id, "m": member_id})
            else:
                found = [rows[member_id]] if member_id in rows else []
            if not found or found[0].checkpoint_id is None \
                    or found[0].state == MemberState.RETIRED.value:
                return None
            d = found[0]
            return DonorView(member_id=d.member_id, step=d.step,
                             score=json.loads(d.metrics).get(metric),
                             fitness=-math.inf if d.fitness is None else d.fitness,
                             hparams=json.loads(d.hparams), checkpoint_id=d.checkpoint_id)

        def elite() -> DonorView | None:
            found = self._rows(conn, "elite", {"p": pop.id})
            if not found or found[0][0] is None:
                return None
            checkpoint_id, fitness, data = found[0]
            best = json.loads(data)
            return DonorView(member_id=best["member_id"], step=best["step"],
                             score=best["score"], fitness=fitness, hparams=best["hparams"],
                             checkpoint_id=checkpoint_id)

        def history() -> dict[int, MemberHistory]:
            rows = self._rows(conn, "history_events", {"p": pop.id})
            return history_from_events(
                ((mid, EventKind(kind), step, json.loads(data)) for mid, kind, step, data in rows),
                metric=metric, mode=pop.settings.mode)

        me = Peers.of(peers).find(row.member_id) or Peer(
            row.member_id, row.step, math.nan if row.fitness is None else row.fitness)
        return decide.context(member=me, hparams=json.loads(row.hparams),
                              ready_count=row.ready_count, peers=peers, donor=donor,
                              history=history, elite=elite)

    def _apply(self, conn: Connection, pop: PopulationRow, row: Any, decision: Decision,
               values: dict[str, Any], now: float, target: int) -> list[dict[str, Any]]:
        """Fill `values` (the member's columns, from `copyable(row)`) with `decision`; the
        rows of its events. A `CopyDonor` is applied only from a donor with a checkpoint and
        a finite score that is not behind the member (its step would go back), unless it is a
        backtrack to the elite; any other is applied as `Continue`. A copy that lands at the
        step `target` takes the donor's score and metrics too: the member reports no more, and
        its score must be its checkpoint's."""
        if isinstance(decision, CopyDonor) and (
                decision.donor.checkpoint_id is None or not math.isfinite(decision.donor.fitness)
                or (decision.donor.step < row.step and not decision.backtrack)):
            return []
        if isinstance(decision, CopyDonor | Reseed) and decision.donor is not None:
            d = decision.donor
            # The member keeps its own score until it reports again: ranking it by the
            # donor's would push the next member of the round into the bottom fraction,
            # and exploits would cascade through the population.
            values.update(step=d.step, checkpoint_id=d.checkpoint_id, last_ready_step=d.step,
                          history_since=self._rows(conn, "last_score",
                                                   {"p": pop.id, "m": row.member_id})[0][0])
            if d.step >= target:
                donor = self._rows(conn, "member", {"p": pop.id, "m": d.member_id})[0]
                values.update(fitness=donor.fitness, metrics=donor.metrics)
            if self._has_league() and not getattr(decision, "backtrack", False):
                self._run(conn, "inherit_rating", {  # the rating goes with the weights
                    "p": pop.id, "member": player_key("member", row.member_id),
                    "donor": player_key("member", d.member_id)})
        if isinstance(decision, CopyDonor | ExploreInPlace | Reseed):
            values["hparams"] = dumps(dict(decision.hparams))
        return [{"p": pop.id, "m": row.member_id, "now": now, "step": step, "kind": kind.value,
                 "data": dumps(data)}
                for kind, step, data in decision_events(decision, step=row.step)]
