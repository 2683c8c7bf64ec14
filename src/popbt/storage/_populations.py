"""`SQLStorage`'s populations: creating them, finding them, their step target, fatal
error and stop (see `Storage` for the contract)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError

from popbt.errors import ConfigError, PopulationExists
from popbt.records import EventKind
from popbt.storage._core import SQLCore, dumps
from popbt.storage._retry import retried
from popbt.storage.base import PopulationRow, WarmStart


def to_population(row: Any) -> PopulationRow:
    """The `PopulationRow` of a `PopulationRecord`."""
    return PopulationRow(id=row.id, name=row.name, config=json.loads(row.config),
                         target_steps=row.target_steps, checkpoint_root=row.checkpoint_root,
                         error=row.error, created=row.created, stopped=row.stopped,
                         trainable=row.trainable)


class Populations(SQLCore):
    """Populations: created with their members in one transaction, found by name."""

    @retried
    def create_population(self, *, name: str, config: dict[str, Any], checkpoint_root: str,
                          initial_hparams: Sequence[dict[str, Any]], now: float,
                          starts: Sequence[WarmStart] = ()) -> PopulationRow:
        """Create a population and its members (with CREATED events, then WARM_START events
        for the members that start from `starts`) in one transaction.

        Raises:
            PopulationExists: a population of that name exists (perhaps created a moment
                ago by another process: creation is atomic, so exactly one creator wins).
        """
        try:
            with self._write() as conn:
                pop_id = self._rows(conn, "add_population", {
                    "name": name, "config": dumps(config), "root": checkpoint_root,
                    "now": now})[0][0]
                self._run(conn, "add_member", [{"p": pop_id, "m": i, "hparams": dumps(h)}
                                               for i, h in enumerate(initial_hparams)])
                self._run(conn, "add_event", [
                    {"p": pop_id, "m": i, "step": 0, "kind": EventKind.CREATED.value,
                     "now": now, "data": dumps({"hparams": h})}
                    for i, h in enumerate(initial_hparams)])
                for i, start in enumerate(starts):
                    key = {"p": pop_id, "m": i, "now": now, "step": 0}
                    ckpt_id = self._rows(conn, "add_checkpoint", {
                        **key, "path": start.path, "checksum": start.checksum,
                        "size": start.size})[0][0]
                    self._run(conn, "start_member", {**key, "checkpoint_id": ckpt_id})
                    self._run(conn, "add_event", {**key, "kind": EventKind.WARM_START.value,
                                                  "data": dumps(start.source)})
        except IntegrityError:
            raise PopulationExists(f"population {name!r} already exists in {self.safe_url}; "
                                   f"pass load_if_exists=True to resume it") from None
        found = self.get_population(name)
        assert found is not None
        return found

    @retried
    def get_population(self, name: str) -> PopulationRow | None:
        """The population named `name`, or None."""
        with self._read() as conn:
            rows = self._rows(conn, "population_named", {"name": name})
        return to_population(rows[0]) if rows else None

    @retried
    def list_populations(self) -> list[PopulationRow]:
        """Every population in the storage, oldest first."""
        with self._read() as conn:
            return [to_population(r) for r in self._rows(conn, "populations", {})]

    @retried
    def set_target(self, pop: PopulationRow, steps: int, *, now: float | None = None) -> int:
        """Train every member to `steps`: finished members below it and failed ones go idle;
        clears a recorded fatal error and stop. Returns the target it replaced.

        With `now` given, a lower target than the stored one is refused while any member is
        held under a lease that has not expired at `now` (another run is training to the
        stored target), so no run ever lowers another's target unseen.

        Raises:
            ConfigError: `steps` is below the stored target while members are held.
        """
        self._upgrade()
        with self._write() as conn:
            previous = self._rows(conn, "population", {"p": pop.id})[0][0]  # locked first
            if now is not None and steps < previous:
                held = self._rows(conn, "held", {"p": pop.id, "now": now})[0][0]
                if held:
                    raise ConfigError(
                        f"population {pop.name!r} is being trained to {previous} steps by "
                        f"another run ({held} members held now); train to steps={previous} "
                        f"(or more) to join it, or stop that run first to train to {steps}")
            key = {"p": pop.id, "steps": steps}
            self._run(conn, "set_target", key)
            self._run(conn, "revive", key)
            self._run(conn, "finish", key)
        return int(previous)

    @retried
    def set_error(self, pop: PopulationRow, error: str) -> None:
        """Record a fatal error: every worker of the population stops at its next claim."""
        with self._write() as conn:
            self._run(conn, "set_error", {"p": pop.id, "error": error})

    @retried
    def set_stopped(self, pop: PopulationRow, reason: str) -> None:
        """Stop the population: claims find no member until `set_target` clears `reason`."""
        self._upgrade()
        with self._write() as conn:
            self._run(conn, "set_stopped", {"p": pop.id, "reason": reason})

    @retried
    def set_trainable(self, pop: PopulationRow, ref: str) -> None:
        """Record `ref` as the reference to the class that trains the population."""
        self._upgrade()
        with self._write() as conn:
            self._run(conn, "set_trainable", {"p": pop.id, "ref": ref})
