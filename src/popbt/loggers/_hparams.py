"""What the loggers share: each member's hyperparameters as a run changes them.

Contract: `Schedules` hands each member's hyperparameters to `write(member, step, hparams)`
once per (member, step) where they change: those in force when the run starts (at the
member's step then), and after each EXPLOIT, EXPLORE or CREATED event (a member added by a
resize), the changes of one step (an exploit, then its explore) written together, before
the member's next score is logged, or at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from popbt.records import Event, EventKind, Member

CHANGES = {EventKind.EXPLOIT: "new", EventKind.EXPLORE: "new", EventKind.CREATED: "hparams"}


def flat(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with each dict (a `popbt.Simplex`'s weights) spread into one value per
    component, named `name/component` (names TensorBoard and MLflow both keep as they are)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, Mapping):
            out.update({f"{k}/{c}": w for c, w in v.items()})
        else:
            out[k] = v
    return out


def numbers(values: Mapping[str, Any]) -> dict[str, float]:
    """The values that are numbers (True and False as 1 and 0), as floats, a Simplex's
    weights one per component (see `flat`); text is left out."""
    return {k: float(v) for k, v in flat(values).items() if isinstance(v, int | float)}


class Schedules:
    """Each member's hyperparameters, written once per change (see the module contract)."""

    def __init__(self, write: Callable[[int, int, dict[str, Any]], None]) -> None:
        self._write = write
        self.current: dict[int, dict[str, Any]] = {}
        self._pending: dict[int, int] = {}  # member → the step of a change not written yet

    def start(self, members: Iterable[Member]) -> None:
        """The members' hyperparameters when the run starts."""
        for m in members:
            self.current[m.member_id] = dict(m.hparams)
            self._pending[m.member_id] = m.step

    def change(self, event: Event) -> None:
        """Note the hyperparameters `event` gives its member, if any."""
        key = CHANGES.get(event.kind)
        if key is not None:
            self.current[event.member_id] = dict(event.data[key])
            self._pending[event.member_id] = event.step

    def flush(self, member_id: int | None = None) -> None:
        """Write the changes not written yet: of one member, or of all."""
        for m in [member_id] if member_id is not None else list(self._pending):
            step = self._pending.pop(m, None)
            if step is not None:
                self._write(m, step, self.current[m])
