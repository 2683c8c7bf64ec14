"""`SQLStorage`'s reports and failures: what a worker publishes about a claimed member, and
the re-seed of a member that keeps failing.

Contract: a report (score, checkpoint pointer, READY event with the evaluation's samples,
release) commits as a whole or not at all, and only under the claim it names; one whose
commit went through before the connection was lost is recognised when run again and
accepted once. A checkpoint row is deleted, and its file reported for deletion, only when no
member points at it, it is not among the last `keep` its writer made, and it is not the
population's elite: the checkpoint of the best finite fitness ever reported at a ready point
(the first one on ties), which a backtracking exploit may still copy. A READY event names
the checkpoint it reports (`checkpoint_id`), so a lineage through the elite is exact. A
report that asks for it (`Report.league_entry`) freezes its checkpoint as a league entry in
the same transaction. The READY event of a multi-objective population whose objectives all
state a reference records the hypervolume of the front with the member's new values.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection

from popbt.fitness import Objective, ParetoFitness
from popbt.pareto import hypervolume
from popbt.records import EventKind, Member, MemberState
from popbt.storage._core import dumps, owner, to_member
from popbt.storage._decisions import Decisions, copyable
from popbt.storage._league import freeze
from popbt.storage._retry import retried
from popbt.storage.base import Claim, Decide, Outcome, PopulationRow, Report
from popbt.storage.contract import RESEEDS


def ready_data(report: Report) -> dict[str, Any]:
    """What the READY event of `report` records: its score and metrics, and its samples and
    their fitness when `evaluate` returned several values under the metric."""
    data: dict[str, Any] = {"score": report.score, "metrics": report.metrics}
    if report.samples:
        data.update(samples=list(report.samples), sample_fitness=list(report.sample_fitness))
    return data


class Reports(Decisions):
    """Reports and failures of claimed members."""

    @retried
    def report(self, pop: PopulationRow, report: Report, *, now: float) -> Outcome:
        """Publish one interval's result and release the member; see the module contract."""
        with self._write() as conn:
            target = self._rows(conn, "population", {"p": pop.id})[0][0]  # locked first
            owned = self._rows(conn, "owned", owner(pop, report.member_id, report.worker,
                                                    report.token))
            if not owned:
                return self._lost_report(conn, pop, report)
            row = owned[0]
            key = {"p": pop.id, "m": report.member_id, "now": now}
            ckpt_id = self._rows(conn, "add_checkpoint", {
                **key, "step": report.step, "path": report.checkpoint_path,
                "checksum": report.checksum, "size": report.size})[0][0]
            fitness = report.fitness
            metrics = dumps(report.metrics)
            self._run(conn, "add_score", {
                **key, "step": report.step, "fitness": fitness, "metrics": metrics})
            if report.ready and math.isfinite(fitness):  # the best ever: kept as the elite
                self._run(conn, "set_elite", {"p": pop.id, "c": ckpt_id, "fitness": fitness,
                                              "elite": dumps({
                                                  "member_id": report.member_id,
                                                  "step": report.step, "score": report.score,
                                                  "hparams": json.loads(row.hparams)})})
            values: dict[str, Any] = {
                "step": report.step, "fitness": fitness, "metrics": metrics,
                "checkpoint_id": ckpt_id, "failures": 0, "error": None, "hparams": row.hparams,
                "last_ready_step": row.last_ready_step, "ready_count": row.ready_count,
                "history_since": row.history_since}
            if report.ready and report.league_entry is not None:
                freeze(self, conn, pop, member_id=report.member_id, step=report.step,
                       checkpoint_id=ckpt_id, hparams=row.hparams,
                       initial=report.league_entry, now=now)
            if report.ready:
                values.update(last_ready_step=report.step, ready_count=row.ready_count + 1)
                volume = self._volume(conn, pop, report)
                self._run(conn, "add_event", {**key, "step": report.step,
                                              "kind": EventKind.READY.value,
                                              "data": dumps({**ready_data(report),
                                                             "checkpoint_id": ckpt_id,
                                                             **volume})})
            done = report.step >= target
            values.update(state=(MemberState.DONE if done else MemberState.IDLE).value,
                          owner=None, pending=int(report.decide))
            after = self._rows(conn, "update_member",
                               {**values, **key, "version": self._bump(conn, pop)})[0]
            obsolete = self._rows(conn, "garbage", {**key, "keep": report.keep_checkpoints})
            if obsolete:
                self._run(conn, "delete_checkpoint", [{"id": i} for i, _ in obsolete])
        return Outcome(accepted=True, member=to_member(pop, after),
                       obsolete_paths=tuple(path for _, path in obsolete))

    def _volume(self, conn: Connection, pop: PopulationRow,
                report: Report) -> dict[str, float]:
        """{"hypervolume": ...} of the population's front with the reporting member's new
        objective values, for a multi-objective population whose every objective states a
        reference; else {}."""
        if not pop.settings.objectives:
            return {}
        fitness = ParetoFitness(tuple(Objective.of(o) for o in pop.settings.objectives))
        reference = fitness.reference
        if reference is None:
            return {}
        vectors = {**self._peers(conn, pop, 0).objectives,
                   report.member_id: fitness.vector(report.metrics)}
        points = [v for v in vectors.values() if all(math.isfinite(x) for x in v)]
        return {"hypervolume": hypervolume(np.array(points), reference) if points else 0.0}

    def _lost_report(self, conn: Connection, pop: PopulationRow, report: Report) -> Outcome:
        """The outcome of a report whose claim is not held: accepted if this very report was
        committed before (a retry after a lost connection), rejected otherwise."""
        if self._rows(conn, "reported", {"p": pop.id, "m": report.member_id,
                                         "path": report.checkpoint_path}):
            row = self._rows(conn, "member", {"p": pop.id, "m": report.member_id})[0]
            return Outcome(accepted=True, member=to_member(pop, row), obsolete_paths=())
        return Outcome(accepted=False, member=None, obsolete_paths=())

    @retried
    def fail(self, pop: PopulationRow, claim: Claim, *, error: str, max_failures: int,
             decide: Decide, now: float) -> Member | None:
        """Record that the claimed member's trainable raised, and release it.

        `failures` counts the member's failures since its last accepted report; a re-seed does
        not reset it. At every `max_failures`-th failure, up to `RESEEDS` times, the member is
        re-seeded as `decide.reseed` decides (from the best other member, then explored; see
        `popbt.decider`); with no donor, or at the failure after the last re-seed's
        `max_failures` (`RESEEDS + 1` times `max_failures` in a row: the error survived
        fresh weights and hyperparameters), it is marked FAILED. Returns the member after, or
        None if the claim was lost.
        """
        mid = claim.member.member_id
        with self._write() as conn:
            target = self._rows(conn, "population", {"p": pop.id})[0][0]  # locked first
            owned = self._rows(conn, "owned", owner(pop, mid, claim.worker, claim.token))
            if not owned:
                return None
            row = owned[0]
            failures = row.failures + 1
            event_rows = [{"p": pop.id, "m": mid, "now": now, "step": row.step,
                           "kind": EventKind.FAILURE.value,
                           "data": dumps({"error": error, "failures": failures})}]
            values = {**copyable(row), "failures": failures, "error": error, "owner": None,
                      "state": MemberState.IDLE.value, "ready_count": row.ready_count,
                      "pending": row.pending}
            if failures >= (RESEEDS + 1) * max_failures:
                values["state"] = MemberState.FAILED.value
            elif failures % max_failures == 0:
                context = self._context(conn, pop, row, decide, self._peers(conn, pop, 0))
                decision = decide.reseed(context, error)
                event_rows += self._apply(conn, pop, row, decision, values, now, target)
                if decision.donor is None:
                    values["state"] = MemberState.FAILED.value
                elif values["step"] >= target:  # the donor is at the step target
                    values["state"] = MemberState.DONE.value
            self._run(conn, "add_event", event_rows)
            after = self._rows(conn, "update_member", {
                **values, "p": pop.id, "m": mid, "version": self._bump(conn, pop)})[0]
        return to_member(pop, after)
