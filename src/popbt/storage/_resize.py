"""`SQLStorage`'s resizing: members added (afresh, or cloned from the best member) and the
worst retired, in one transaction (see `Storage.resize` for the contract)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from popbt.decisions import DonorView, decision_events
from popbt.errors import ConfigError
from popbt.records import EventKind, MemberState
from popbt.storage._core import SQLCore, dumps
from popbt.storage._retry import retried
from popbt.storage.base import Clone, PopulationRow, Resized


class Resizes(SQLCore):
    """Populations grown and shrunk."""

    @retried
    def resize(self, pop: PopulationRow, *, size: int, hparams: Sequence[dict[str, Any]],
               clone: Clone | None, now: float) -> Resized:
        """See `Storage.resize` (the contract)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"size={size!r}: must be an integer >= 1")
        with self._write() as conn:
            target = self._rows(conn, "population", {"p": pop.id})[0][0]  # locked first
            active = self._rows(conn, "active", {"p": pop.id})[0][0]
            if size > active and len(hparams) < size - active:
                raise ConfigError(f"growing population {pop.name!r} from {active} to {size} "
                                  f"members needs {size - active} sets of hyperparameters, "
                                  f"got {len(hparams)}")
            version = self._bump(conn, pop)
            events: list[dict[str, Any]] = []
            retired: list[int] = []
            added: list[int] = []
            donor: int | None = None
            if size < active:
                for mid, step in self._rows(conn, "worst", {"p": pop.id, "n": active - size}):
                    self._run(conn, "retire", {"p": pop.id, "m": mid, "version": version})
                    events.append({"p": pop.id, "m": mid, "now": now, "step": step,
                                   "kind": EventKind.RETIRED.value,
                                   "data": dumps({"size": size})})
                    retired.append(mid)
            elif size > active:
                first = self._rows(conn, "next_member", {"p": pop.id})[0][0]
                best = (self._rows(conn, "best_donor", {"p": pop.id, "floor": -math.inf})
                        if clone is not None else [])
                for k in range(size - active):
                    mid = first + k
                    if clone is not None and best:
                        donor = best[0].member_id
                        events += self._add_clone(conn, pop, mid, best[0], clone, target,
                                                  version, now)
                    else:
                        events += self._add_fresh(conn, pop, mid, hparams[k], target,
                                                  version, now)
                    added.append(mid)
            if events:
                self._run(conn, "add_event", events)
            config = json.loads(self._rows(conn, "config", {"p": pop.id})[0][0])
            if config.get("size") != size:
                self._run(conn, "set_config", {"p": pop.id,
                                               "config": dumps({**config, "size": size})})
        return Resized(added=tuple(added), retired=tuple(retired), donor=donor, size=size)

    def _add_fresh(self, conn: Connection, pop: PopulationRow, mid: int,
                   hparams: dict[str, Any], target: int, version: int,
                   now: float) -> list[dict[str, Any]]:
        """Insert member `mid` at step 0 with `hparams`; the rows of its events."""
        self._run(conn, "grow_member", {
            "p": pop.id, "m": mid, "hparams": dumps(hparams), "step": 0, "fitness": None,
            "metrics": "{}", "checkpoint_id": None, "version": version,
            "state": (MemberState.DONE if target <= 0 else MemberState.IDLE).value})
        return [{"p": pop.id, "m": mid, "now": now, "step": 0,
                 "kind": EventKind.CREATED.value, "data": dumps({"hparams": hparams})}]

    def _add_clone(self, conn: Connection, pop: PopulationRow, mid: int, row: Any,
                   clone: Clone, target: int, version: int,
                   now: float) -> list[dict[str, Any]]:
        """Insert member `mid` as a copy of the member in `row` (its checkpoint reference and
        step, with the hyperparameters `clone` gives); the rows of its events. A copy at the
        step target is done, with the donor's score: it reports no more."""
        view = DonorView(member_id=row.member_id, step=row.step,
                         score=json.loads(row.metrics).get(pop.settings.metric),
                         fitness=row.fitness, hparams=json.loads(row.hparams),
                         checkpoint_id=row.checkpoint_id)
        decision = clone.clone(mid, view)
        done = row.step >= target
        self._run(conn, "grow_member", {
            "p": pop.id, "m": mid, "hparams": dumps(dict(decision.hparams)), "step": row.step,
            "fitness": row.fitness if done else None, "metrics": row.metrics if done else "{}",
            "checkpoint_id": row.checkpoint_id, "version": version,
            "state": (MemberState.DONE if done else MemberState.IDLE).value})
        key = {"p": pop.id, "m": mid, "now": now}
        return [{**key, "step": row.step, "kind": EventKind.CREATED.value,
                 "data": dumps({"hparams": view.hparams})}] + [
            {**key, "step": step, "kind": kind.value, "data": dumps(data)}
            for kind, step, data in decision_events(decision, step=row.step)]
