"""`SQLStorage`'s reads of the records: members, events, scores and checkpoints (see
`Storage` for the contract). Each read is one transaction, so what it returns was committed
as a whole."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from popbt.errors import StorageError
from popbt.records import Event, EventKind, Member, Score
from popbt.storage._core import SQLCore, to_member
from popbt.storage._retry import retried
from popbt.storage._statements import of_kinds
from popbt.storage.base import CheckpointRow, PopulationRow


def _events(rows: Sequence[Any]) -> list[Event]:
    """The `Event`s of rows (id, member id, step, kind, time, data)."""
    return [Event(event_id=event_id, member_id=mid, step=step, kind=EventKind(kind),
                  time=time, data=json.loads(data))
            for event_id, mid, step, kind, time, data in rows]


def _scores(pop: PopulationRow, rows: Sequence[Any]) -> list[Score]:
    """The `Score`s of rows (member id, step, metrics, time, id)."""
    metric = pop.settings.metric
    out = []
    for mid, step, metrics_json, time, score_id in rows:
        metrics = json.loads(metrics_json)
        out.append(Score(member_id=mid, step=step, score=metrics[metric], metrics=metrics,
                         time=time, score_id=score_id))
    return out


class Reads(SQLCore):
    """The records as committed."""

    @retried
    def members(self, pop: PopulationRow) -> list[Member]:
        """Every member's current record, by member id."""
        with self._read() as conn:
            rows = self._rows(conn, "members", {"p": pop.id})
        return [to_member(pop, r) for r in rows]

    @retried
    def member(self, pop: PopulationRow, member_id: int) -> Member:
        """One member's current record (the id must exist)."""
        with self._read() as conn:
            return to_member(pop, self._rows(conn, "member", {"p": pop.id, "m": member_id})[0])

    @retried
    def best(self, pop: PopulationRow) -> Member | None:
        """The member with the highest finite fitness (lowest id on ties), or None."""
        with self._read() as conn:
            rows = self._rows(conn, "best", {"p": pop.id, "floor": -math.inf})
        return to_member(pop, rows[0]) if rows else None

    @retried
    def events(self, pop: PopulationRow, *, member_id: int | None = None,
               kinds: Sequence[EventKind] = ()) -> list[Event]:
        """Events in commit order, optionally of one member and of some kinds."""
        params = {"p": pop.id, "m": member_id, **of_kinds(kinds)}
        with self._read() as conn:
            rows = self._rows(conn, "events" if member_id is None else "member_events", params)
        return _events(rows)

    @retried
    def events_after(self, pop: PopulationRow, event_id: int) -> list[Event]:
        """The events with an id above `event_id`, in commit order."""
        with self._read() as conn:
            return _events(self._rows(conn, "events_after", {"p": pop.id, "after": event_id}))

    @retried
    def count_events(self, pop: PopulationRow, kind: EventKind) -> int:
        """How many events of `kind` the population has."""
        with self._read() as conn:
            count: int = self._rows(conn, "count_events", {"p": pop.id, "kind": kind.value})[0][0]
        return count

    @retried
    def scores(self, pop: PopulationRow, *, member_id: int | None = None) -> list[Score]:
        """Every evaluation in commit order, optionally of one member."""
        with self._read() as conn:
            rows = self._rows(conn, "scores" if member_id is None else "member_scores",
                              {"p": pop.id, "m": member_id})
        return _scores(pop, rows)

    @retried
    def scores_after(self, pop: PopulationRow, score_id: int) -> list[Score]:
        """The scores with an id above `score_id`, in commit order."""
        with self._read() as conn:
            return _scores(pop, self._rows(conn, "scores_after",
                                           {"p": pop.id, "after": score_id}))

    @retried
    def checkpoint(self, pop: PopulationRow, checkpoint_id: int) -> CheckpointRow:
        """See `Storage.checkpoint` (the contract)."""
        with self._read() as conn:
            rows = self._rows(conn, "checkpoint", {"p": pop.id, "id": checkpoint_id})
        if not rows:
            raise StorageError(f"checkpoint {checkpoint_id} of population {pop.name!r} is not "
                               f"recorded")
        return CheckpointRow(*rows[0])

    @retried
    def checkpoint_paths(self) -> set[str]:
        """The path of every checkpoint row of every population in the storage (what a
        garbage collection must keep; see `popbt.gc`)."""
        with self._read() as conn:
            return {path for (path,) in self._rows(conn, "checkpoint_paths", {})}
