"""Pure extraction of what the report shows, from a population's records, as JSON-ready data.

`population_data(pop)` (or `stored_data(storage, row)`) reads the members, the events of
the kinds in `EVENT_KINDS` and the scores once each; `records_data` builds the data from
records already read. It makes one pass over the scores and one over the events, with no
per-member query: 1,000 members and 100,000 events take a fraction of a second. Columns
(dicts of equal-length lists) keep the JSON small.

The result (every float finite or None, so it is valid JSON):

- `name`, `storage` (the URL without its password), `metric`, `mode`, `target_steps`,
  `error`, `stopped` (why the population was stopped, or None), `settings` (the stored
  settings), `max_step`, `best` (the member with the best finite score, lowest id on ties,
  as `Population.best`; None before any score), `extra_metrics` (the names, sorted, of the
  other values members' evaluations recorded, beside the metric);
- `hparams`: one axis per hyperparameter: {"name", "scale": "linear" | "log", "lo", "hi"},
  {"name", "scale": "choice", "values"} or {"name", "scale": "simplex", "components"};
- `members`: one dict per member, by id: `id`, `state`, `step`, `score`, `metrics` (the
  other values of its last evaluation, by name), `hparams`, `exploits` (exploits received),
  `donated`, `failures`, `error`, `root` (the initial member its weights descend from),
  `change` (its node in `changes`);
- `series`: per member {"steps", "scores"}: its evaluations in commit order;
- `exploits`: columns `event`, `member` (the receiver), `step`, `donor`, `donor_step`,
  `score` (the donor's), `at` (how many of the receiver's evaluations came before it: its
  line jumps to (step, score) there), one entry per EXPLOIT event in commit order; they are
  the score plot's marks and the lineage tree's edges;
- `lanes`: per member, the [start, end] stretches of steps its own slot trained, split at
  every exploit it received (a stretch ends where its weights were overwritten);
- `ancestry`: the best member's lineage segments [{"member", "start", "end", "event"}],
  oldest first, as `Population.lineage(best)` finds them ("event": the exploit that began
  the segment, None for the root);
- `changes`: the schedule forest, columns `member`, `step`, `values` (in `hparams` order),
  `ops` (explore operations: {"lr": "×1.2", "noise": "resample"}), `donor`, `parent`,
  `root`: one node per hyperparameter change, pointing at the change in force before it
  along the lineage. `schedule(data, member)` reads a member's schedule from it: the
  entries of `Population.schedule(member)` with their operations and donors;
- `objectives` (None for a population of one metric): its objectives, each member's latest
  values, the front now and earlier, and the hypervolume over time (see
  `popbt.report._objectives`; `stored_data` reads the READY events that record it);
- `league` (from `stored_data`; None without a league): the league's standings, ratings
  over its matches, payoff matrix and the opponents each member faced (see
  `popbt.report.league`);
- `data_state` (from `stored_data`; None unless members' states are records, see
  `popbt.datastate`): for the best members, what their records gained and lost since the
  state they copied at their last exploit or their previous checkpoint, read from the
  checkpoints (see `popbt.report._data_state`).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from popbt.records import Event, EventKind, Member, MemberState, Score, StoredSettings
from popbt.report._objectives import objectives_data

if TYPE_CHECKING:
    from popbt.population import Population
    from popbt.storage import Storage
    from popbt.storage.base import PopulationRow

# The events the report reads: READY events repeat the scores, FAILURE and RESEED change
# nothing it draws (a re-seed's copy is an EXPLOIT event).
EVENT_KINDS = (EventKind.CREATED, EventKind.EXPLOIT, EventKind.EXPLORE)


def population_data(pop: Population, *, members: Sequence[Member] | None = None
                    ) -> dict[str, Any]:
    """Everything the report shows of `pop` (see the module docstring); `stored_data` of its
    storage and row."""
    return stored_data(pop.storage, pop.row, members=members)


def stored_data(storage: Storage, row: PopulationRow, *,
                members: Sequence[Member] | None = None) -> dict[str, Any]:
    """Everything the report shows of the population `row` in `storage`, read with one
    query each for members, events and scores; the settings are the stored ones, so a
    population whose custom explore function cannot be imported here is shown all the same.

    `members`, when given, must have been read before this call (the dashboard reads them
    first to see whether anything changed); events and scores are read after them, so they
    hold at least what the members show.
    """
    from popbt.league.config import League
    from popbt.report._data_state import stored_data_state
    from popbt.report.league import stored_league

    if members is None:
        members = storage.members(row)
    data = records_data(name=row.name, storage=storage.safe_url, config=row.config,
                        target_steps=row.target_steps, error=row.error, stopped=row.stopped,
                        members=members,
                        events=storage.events(row, kinds=EVENT_KINDS + (
                            (EventKind.READY,) if row.settings.objectives else ())),
                        scores=storage.scores(row))
    stored = row.settings.league
    data["league"] = stored_league(storage, row, None if stored is None
                                   else League.from_config(stored), members)
    data["data_state"] = stored_data_state(storage, row, members, data["best"])
    return data


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _hparam_axes(space: Mapping[str, Any]) -> list[dict[str, Any]]:
    axes = []
    for name, spec in space.items():
        kind = spec.get("type")
        if kind == "Choice":
            axes.append({"name": name, "scale": "choice", "values": list(spec["values"])})
        elif kind == "Simplex":
            axes.append({"name": name, "scale": "simplex",
                         "components": list(spec["components"])})
        else:
            axes.append({"name": name, "scale": "log" if kind == "LogUniform" else "linear",
                         "lo": spec["lo"], "hi": spec["hi"]})
    return axes


def best_member(members: Sequence[Member], mode: str) -> int | None:
    """The id of the member with the best finite score (lowest id on ties; retired members
    left out), or None."""
    sign = 1.0 if mode == "max" else -1.0
    scored = [m for m in members
              if _finite(m.score) is not None and m.state is not MemberState.RETIRED]
    if not scored:
        return None
    return min(scored, key=lambda m: (-sign * (m.score or 0.0), m.member_id)).member_id


class _Lineages:
    """Every member's exploits (the only events a lineage walk needs), from one pass."""

    def __init__(self, size: int) -> None:
        self.exploits: list[list[Event]] = [[] for _ in range(size)]
        self.ids: list[list[int]] = [[] for _ in range(size)]

    def add(self, e: Event) -> None:
        self.exploits[e.member_id].append(e)
        self.ids[e.member_id].append(e.event_id)

    def walk(self, member_id: int, end: int) -> list[dict[str, Any]]:
        """The member's lineage segments, oldest first, as `popbt.lineage.lineage` finds
        them: [{"member", "start", "end", "event"}] ("event": the id of the exploit that
        began the segment; None for the root)."""
        segments: list[dict[str, Any]] = []
        mid, cut = member_id, len(self.ids[member_id])
        while True:
            if cut == 0:
                segments.append({"member": mid, "start": 0, "end": end, "event": None})
                break
            x = self.exploits[mid][cut - 1]
            segments.append({"member": mid, "start": x.step, "end": end, "event": x.event_id})
            mid, end = int(x.data["donor"]), int(x.data["donor_step"])
            cut = bisect_left(self.ids[mid], x.event_id)
        segments.reverse()
        return segments


class _Changes:
    """The schedule forest: one node per hyperparameter change (a CREATED event; an
    EXPLOIT with the EXPLORE of the same decision merged in; an EXPLORE alone), each
    pointing at the node in force before it along the lineage (for an exploit: the
    donor's node at the time of the copy)."""

    def __init__(self, names: Sequence[str], size: int) -> None:
        self.names = list(names)
        self.cols: dict[str, list[Any]] = {k: [] for k in (
            "member", "step", "values", "ops", "donor", "parent", "root")}
        self.head: list[int | None] = [None] * size
        self.open: list[int | None] = [None] * size  # an exploit an explore may merge into

    def _node(self, m: int, step: int, hparams: Mapping[str, Any], ops: dict[str, str],
              donor: int | None, parent: int | None) -> None:
        c = self.cols
        self.head[m] = len(c["step"])
        self.open[m] = self.head[m] if donor is not None else None
        c["member"].append(m)
        c["step"].append(step)
        c["values"].append([hparams.get(n) for n in self.names])
        c["ops"].append(ops)
        c["donor"].append(donor)
        c["parent"].append(parent)
        c["root"].append(m if parent is None else c["root"][parent])

    def add(self, e: Event) -> None:
        m = e.member_id
        if e.kind is EventKind.CREATED:
            self._node(m, e.step, e.data["hparams"], {}, None, None)
        elif e.kind is EventKind.EXPLOIT:
            donor = int(e.data["donor"])
            self._node(m, e.step, e.data["new"], {}, donor, self.head[donor])
        elif (i := self.open[m]) is not None and self.cols["step"][i] == e.step:
            self.cols["values"][i] = [e.data["new"].get(n) for n in self.names]
            self.cols["ops"][i] = dict(e.data.get("ops") or {})
            self.open[m] = None
        else:
            self._node(m, e.step, e.data["new"], dict(e.data.get("ops") or {}), None,
                       self.head[m])


def _series(scores: Sequence[Score], size: int
            ) -> tuple[list[list[int]], list[list[float | None]], list[list[float]]]:
    """Per member: the steps, scores (None where not finite) and times of its evaluations."""
    steps: list[list[int]] = [[] for _ in range(size)]
    values: list[list[float | None]] = [[] for _ in range(size)]
    times: list[list[float]] = [[] for _ in range(size)]
    isfinite = math.isfinite
    for s in scores:
        m = s.member_id
        if m < size:
            steps[m].append(s.step)
            values[m].append(s.score if isfinite(s.score) else None)
            times[m].append(s.time)
    return steps, values, times


def records_data(*, name: str, storage: str, config: Mapping[str, Any], target_steps: int,
                 error: str | None, members: Sequence[Member], events: Sequence[Event],
                 scores: Sequence[Score], stopped: str | None = None) -> dict[str, Any]:
    """The report's data from records read in this order: members, events, scores (each in
    commit order); see the module docstring. `events` needs only the kinds in
    `EVENT_KINDS` (others are ignored). A pure function of its arguments."""
    size = len(members)
    steps, values, times = _series(scores, size)
    stored = StoredSettings(config)
    axes = _hparam_axes(stored.space)
    changes = _Changes([a["name"] for a in axes], size)
    lineages = _Lineages(size)
    exploits: dict[str, list[Any]] = {k: [] for k in (
        "event", "member", "step", "donor", "donor_step", "score", "at")}
    lanes: list[list[list[int]]] = [[] for _ in range(size)]
    lane_start, last_at = [0] * size, [0] * size
    received, donated = [0] * size, [0] * size
    for e in events:
        m = e.member_id
        if m >= size or e.kind not in EVENT_KINDS:
            continue
        changes.add(e)
        if e.kind is not EventKind.EXPLOIT:
            continue
        lineages.add(e)
        donor, at = int(e.data["donor"]), bisect_right(times[m], e.time)
        # its slot trained from its last exploit to its last evaluation before this one
        lanes[m].append([lane_start[m], steps[m][at - 1] if at > last_at[m] else lane_start[m]])
        lane_start[m], last_at[m] = e.step, at
        received[m] += 1
        donated[donor] += 1
        exploits["event"].append(e.event_id)
        exploits["member"].append(m)
        exploits["step"].append(e.step)
        exploits["donor"].append(donor)
        exploits["donor_step"].append(int(e.data["donor_step"]))
        exploits["score"].append(_finite(e.data.get("score")))
        exploits["at"].append(at)

    best = best_member(members, stored.mode)
    rows: list[dict[str, Any]] = []
    for mem in members:
        m = mem.member_id
        now = max(mem.step, steps[m][-1] if len(steps[m]) > last_at[m] else lane_start[m])
        lanes[m].append([lane_start[m], now])
        head = changes.head[m]
        rows.append({
            "id": m, "state": mem.state.value, "step": now, "score": _finite(mem.score),
            "metrics": {k: _finite(v) for k, v in mem.metrics.items() if k != stored.metric},
            "hparams": mem.hparams, "exploits": received[m], "donated": donated[m],
            "failures": mem.failures, "error": mem.error, "change": head,
            "root": m if head is None else changes.cols["root"][head]})
    return {
        "name": name, "storage": storage, "metric": stored.metric, "mode": stored.mode,
        "target_steps": target_steps, "error": error, "stopped": stopped,
        "settings": dict(config),
        "extra_metrics": sorted({k for r in rows for k in r["metrics"]}),
        "hparams": axes, "best": best, "max_step": max([r["step"] for r in rows], default=0),
        "members": rows, "series": [{"steps": st, "scores": sc}
                                    for st, sc in zip(steps, values, strict=True)],
        "exploits": exploits, "lanes": lanes, "changes": changes.cols,
        "ancestry": [] if best is None else lineages.walk(best, rows[best]["step"]),
        "objectives": objectives_data(stored, members, scores, events),
    }


def schedule(data: Mapping[str, Any], member: int) -> list[dict[str, Any]]:
    """The member's schedule, as `Population.schedule(member)` lists it ([(step, hparams)]),
    each entry a dict {"step", "hparams", "ops", "donor"}: the explore operations that made
    it ({"lr": "×1.2"}) and the donor when it began with an exploit."""
    c = data["changes"]
    names = [a["name"] for a in data["hparams"]]
    chain = []
    i = data["members"][member]["change"]
    while i is not None:
        chain.append(i)
        i = c["parent"][i]
    entries: list[dict[str, Any]] = []
    for i in reversed(chain):
        entry = {"step": c["step"][i], "hparams": dict(zip(names, c["values"][i], strict=True)),
                 "ops": c["ops"][i], "donor": c["donor"][i]}
        if entries and entries[-1]["step"] == entry["step"]:  # changes at one step: the last
            if entry["donor"] is None:
                entry["donor"] = entries[-1]["donor"]
            entries[-1] = entry
        else:
            entries.append(entry)
    collapsed: list[dict[str, Any]] = []
    for entry in entries:
        if not collapsed or collapsed[-1]["hparams"] != entry["hparams"]:
            collapsed.append(entry)
    return collapsed


def score_path(data: Mapping[str, Any], member: int) -> list[tuple[int, float | None]]:
    """The points of a member's score line: its evaluations, with a jump to (step, donor's
    score) where each exploit it received copied a donor. None scores break the line."""
    s, x = data["series"][member], data["exploits"]
    jumps: dict[int, list[tuple[int, float | None]]] = {}
    for i, m in enumerate(x["member"]):
        if m == member:
            jumps.setdefault(x["at"][i], []).append((x["step"][i], x["score"][i]))
    points: list[tuple[int, float | None]] = []
    for i, (st, sc) in enumerate(zip(s["steps"], s["scores"], strict=True)):
        points.extend(jumps.get(i, ()))
        points.append((st, sc))
    points.extend(jumps.get(len(s["steps"]), ()))
    return points
