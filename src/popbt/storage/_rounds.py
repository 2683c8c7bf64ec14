"""`SQLStorage`'s whole rounds, for the vectorized trainer: every member's result of a round
and one whole-population snapshot in one transaction, and rewinding to a snapshot (see
`Storage.write_round` for the contract)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from popbt.records import EventKind
from popbt.storage._core import SQLCore, dumps
from popbt.storage._retry import retried
from popbt.storage._statements import SNAPSHOT_MEMBER
from popbt.storage.base import CheckpointRow, PopulationRow


class Rounds(SQLCore):
    """Rounds written, snapshots found, and rewinds."""

    @retried
    def write_round(self, pop: PopulationRow, *, scores: Sequence[tuple[int, int, float, dict]],
                    events: Sequence[tuple[int, int, EventKind, dict]],
                    members: Sequence[dict[str, Any]],
                    snapshot: tuple[int, str, str, int] | None, keep: int,
                    now: float) -> tuple[str, ...]:
        """See `Storage.write_round` (the contract)."""
        with self._write() as conn:
            key = {"p": pop.id, "now": now}
            ckpt_id = self._rows(conn, "last_snapshot", {"p": pop.id})[0][0]
            if snapshot is not None:
                step, path, checksum, size = snapshot
                ckpt_id = self._rows(conn, "add_checkpoint", {
                    **key, "m": SNAPSHOT_MEMBER, "step": step, "path": path,
                    "checksum": checksum, "size": size})[0][0]
            if scores:
                self._run(conn, "add_scores", [
                    {**key, "m": mid, "step": step, "fitness": fitness,
                     "metrics": dumps(metrics)} for mid, step, fitness, metrics in scores])
            if events:
                self._run(conn, "add_event", [
                    {**key, "m": mid, "step": step, "kind": kind.value, "data": dumps(data)}
                    for mid, step, kind, data in events])
            self._write_members(conn, pop, members, ckpt_id)
            obsolete = self._rows(conn, "garbage", {**key, "m": SNAPSHOT_MEMBER, "keep": keep})
            if obsolete:
                self._run(conn, "delete_checkpoint", [{"id": i} for i, _ in obsolete])
        return tuple(path for _, path in obsolete)

    @retried
    def latest_snapshot(self, pop: PopulationRow) -> CheckpointRow | None:
        """The newest whole-population snapshot, or None."""
        with self._read() as conn:
            rows = self._rows(conn, "latest_snapshot", {"p": pop.id})
        return CheckpointRow(*rows[0]) if rows else None

    @retried
    def rewind(self, pop: PopulationRow, *, step: int, members: Sequence[dict[str, Any]],
               snapshot_id: int | None) -> None:
        """Forget everything recorded after `step` (scores, events, snapshots) and set the
        members back to `members` (as for `write_round`), pointing at `snapshot_id`: the
        record then matches the weights a resumed run restarts from."""
        with self._write() as conn:
            key = {"p": pop.id, "step": step}
            for forget in ("forget_scores", "forget_events", "forget_checkpoints"):
                self._run(conn, forget, key)
            self._write_members(conn, pop, members, snapshot_id)

    def _write_members(self, conn: Connection, pop: PopulationRow,
                       members: Sequence[dict[str, Any]], checkpoint_id: int | None) -> None:
        """Set every member in `members` to its values there, pointing at `checkpoint_id`."""
        version = self._bump(conn, pop)
        self._run(conn, "write_member", [{
            "p": pop.id, "m": v["member_id"], "step": v["step"], "fitness": v["fitness"],
            "metrics": dumps(v["metrics"]), "hparams": dumps(v["hparams"]),
            "last_ready_step": v["last_ready_step"], "ready_count": v["ready_count"],
            "state": v["state"], "checkpoint_id": checkpoint_id, "version": version}
            for v in members])
        genomes = [{"p": pop.id, "m": v["member_id"], "genome": v["genome"]}
                   for v in members if "genome" in v]
        if genomes:
            self._run(conn, "write_genome", genomes)

    @retried
    def genomes(self, pop: PopulationRow) -> dict[int, bytes]:
        """See `Storage.genomes` (the contract)."""
        with self._read() as conn:
            rows = self._rows(conn, "genomes", {"p": pop.id})
        return {int(m): bytes(g) for m, g in rows if g is not None}
