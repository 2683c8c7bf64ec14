"""Lineages and schedules, derived from a population's events alone (pure functions).

A member's weights descend through exploits: before its last exploit they were the donor's,
up to the donor's step at that moment, and so on back to an initial member. Events carry
increasing ids in commit order, so "the donor's history at the time of the copy" is the
donor's events with a smaller id than the exploit event; for a backtrack to the elite (an
earlier checkpoint of the donor), its events up to the READY event that reported it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from popbt.records import Event, EventKind


@dataclass(frozen=True)
class Segment:
    """A stretch of a lineage spent on one member.

    Attributes:
        member_id: the member whose slot held these weights.
        start_step: where the stretch began (0, or the step of the exploit that started it).
        end_step: where it ended (the step the descendant copied, or the member's step now).
        events: the member's events in the stretch, oldest first (starting with its EXPLOIT
            event, or its CREATED event for the root).
    """

    member_id: int
    start_step: int
    end_step: int
    events: tuple[Event, ...]


def lineage(events: Sequence[Event], member_id: int, current_step: int) -> list[Segment]:
    """The chain of segments the member's current weights descend from, oldest first."""
    by_member: dict[int, list[Event]] = {}
    for e in events:
        by_member.setdefault(e.member_id, []).append(e)
    segments: list[Segment] = []
    mid, bound, end = member_id, math.inf, current_step
    while True:
        own = [e for e in by_member.get(mid, ()) if e.event_id < bound]
        exploits = [i for i, e in enumerate(own) if e.kind is EventKind.EXPLOIT]
        if not exploits:
            segments.append(Segment(mid, 0, end, tuple(own)))
            break
        x = own[exploits[-1]]
        segments.append(Segment(mid, x.step, end, tuple(own[exploits[-1]:])))
        mid, bound, end = int(x.data["donor"]), x.event_id, int(x.data["donor_step"])
        if x.data.get("backtrack"):  # the elite: the donor as it was when it reported it
            bound = min(bound, _reported(by_member.get(mid, ()), x.data["checkpoint_id"]))
    segments.reverse()
    return segments


def _reported(events: Sequence[Event], checkpoint_id: Any) -> float:
    """Just past the id of the READY event that reported `checkpoint_id` (inf when none
    does: events recorded before READY events named their checkpoint)."""
    for e in events:
        if e.kind is EventKind.READY and e.data.get("checkpoint_id") == checkpoint_id:
            return e.event_id + 1
    return math.inf


def schedule(segments: Sequence[Segment]) -> list[tuple[int, dict[str, Any]]]:
    """The hyperparameters in force along a lineage: [(step, hparams), ...] from step 0.

    An entry is listed only when the hyperparameters change; changes at the same step (an
    exploit followed by an explore) collapse into the last one.
    """
    entries: list[tuple[int, dict[str, Any]]] = []
    for seg in segments:
        for e in seg.events:
            if e.kind is EventKind.CREATED:
                new = e.data["hparams"]
            elif e.kind in (EventKind.EXPLOIT, EventKind.EXPLORE):
                new = e.data["new"]
            else:
                continue
            if entries and entries[-1][0] == e.step:
                entries[-1] = (e.step, new)
            else:
                entries.append((e.step, new))
    collapsed: list[tuple[int, dict[str, Any]]] = []
    for step, hp in entries:
        if not collapsed or collapsed[-1][1] != hp:
            collapsed.append((step, hp))
    return collapsed
