"""The report's view of a multi-objective population: its objectives, each member's latest
values, the front then and at three earlier moments, and the hypervolume over time.

Data (`objectives_data`, None for a population of one metric): `names`, `modes`,
`reference` (per objective; None where unstated), `points` (member id → its latest values,
None where not finite), `front` (the ids of the current front), `fronts` ([{"step",
"points"}]: the front of the members' latest values as of a quarter, half and three
quarters of the steps, then now), `hypervolume` ({"steps", "values"}: what the READY events
recorded, in commit order; empty without a reference). The script (`OBJECTIVES_JS`) draws
the first two objectives: every member a dot, the front now a line through its members,
the earlier fronts fainter; then the hypervolume curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from popbt.fitness import Objective
from popbt.pareto import fronts
from popbt.records import Event, EventKind, Member, MemberState, Score, StoredSettings

Values = list[float | None]


def _front(vectors: dict[int, Values], objectives: Sequence[Objective]) -> list[int]:
    """The ids whose values no other's dominate (finite values only), by first objective."""
    rows = {m: [x for x in v if x is not None] for m, v in vectors.items()}
    ids = [m for m, v in rows.items() if len(v) == len(objectives)]
    if not ids:
        return []
    points = np.array([[o.oriented(x) for o, x in zip(objectives, rows[m], strict=True)]
                       for m in ids])
    first = [ids[i] for i in fronts(points)[0]]
    return sorted(first, key=lambda m: (-points[ids.index(m)][0], m))


def _values(metrics: dict[str, float], names: Sequence[str]) -> Values:
    out: Values = []
    for n in names:
        v = metrics.get(n)
        out.append(float(v) if isinstance(v, int | float) and math.isfinite(v) else None)
    return out


def objectives_data(stored: StoredSettings, members: Sequence[Member], scores: Sequence[Score],
                    events: Sequence[Event]) -> dict[str, Any] | None:
    """See the module docstring; `scores` and `events` in commit order."""
    if not stored.objectives:
        return None
    objectives = [Objective.of(o) for o in stored.objectives]
    names = [o.metric for o in objectives]
    points = {m.member_id: _values(m.metrics, names) for m in members
              if m.score is not None and m.state is not MemberState.RETIRED}
    last = max((s.step for s in scores), default=0)
    marks = sorted({round(last * q) for q in (0.25, 0.5, 0.75)} - {0, last})
    then: dict[int, dict[int, Values]] = {mark: {} for mark in marks}
    for s in scores:
        for mark in marks:
            if s.step <= mark:
                then[mark][s.member_id] = _values(s.metrics, names)
    history = []
    for mark in marks:
        ids = _front(then[mark], objectives)
        history.append({"step": mark, "points": [then[mark][m] for m in ids]})
    front = _front(points, objectives)
    history.append({"step": last, "points": [points[m] for m in front]})
    volumes = [(e.step, float(e.data["hypervolume"])) for e in events
               if e.kind is EventKind.READY and "hypervolume" in e.data]
    return {"names": names, "modes": [o.mode for o in objectives],
            "reference": [o.reference for o in objectives],
            "points": {str(m): v for m, v in points.items()}, "front": front, "fronts": history,
            "hypervolume": {"steps": [s for s, _ in volumes], "values": [v for _, v in volumes]}}


OBJECTIVES_JS = r"""
// The objectives section: a multi-objective population's members and fronts, and the
// hypervolume over time (data: popbt.report._objectives).
function drawObjectives(d) {
  var section = byId("fig-objectives"), O = d.objectives;
  section.hidden = !O;
  if (!O) return;
  var a = O.names[0], b = O.names[1];
  byId("objectives-info").textContent = "front: " + O.front.length + " of " +
    d.members.length + " members not beaten on every one of " + O.names.join(", ") +
    (O.names.length > 2 ? " (drawn: the first two)" : "") + ".";
  var root = clear(byId("front-svg")), H = 360, box = {l: 70, t: 14, r: W - 16, b: H - 44};
  root.setAttribute("viewBox", "0 0 " + W + " " + H);
  var all = [];
  Object.keys(O.points).forEach(function (k) { all.push(O.points[k]); });
  O.fronts.forEach(function (f) { all = all.concat(f.points); });
  all = all.filter(function (p) { return p[0] !== null && p[1] !== null; });
  var xs = all.map(function (p) { return p[0]; }), ys = all.map(function (p) { return p[1]; });
  var x0 = Math.min.apply(null, xs.concat([0])), x1 = Math.max.apply(null, xs.concat([1e-9]));
  var y0 = Math.min.apply(null, ys.concat([0])), y1 = Math.max.apply(null, ys.concat([1e-9]));
  var x = linear(x0, x1, box.l, box.r), y = linear(y0, y1, box.b, box.t);
  frame(root, box, x, ticks(x0, x1, 6), y, ticks(y0, y1, 5).map(function (t) {
    return [t, fmt(t)]; }), a + " (" + O.modes[0] + ")", b + " (" + O.modes[1] + ")");
  O.fronts.forEach(function (f, i) {
    var pts = f.points.filter(function (p) { return p[0] !== null && p[1] !== null; })
      .sort(function (p, q) { return p[0] - q[0]; });
    var now = i === O.fronts.length - 1;
    var line = svg("path", {class: now ? "front-line" : "front-earlier", "data-step": f.step,
                            "data-count": pts.length, d: pts.length ? "M" + pts.map(function (p) {
                              return f1(x(p[0])) + " " + f1(y(p[1])); }).join("L") : null}, root);
    if (!now) line.setAttribute("opacity", f1(0.25 + 0.5 * (i + 1) / O.fronts.length));
    tip(line, "front at step " + f.step + ": " + pts.length + " members");
  });
  Object.keys(O.points).forEach(function (k) {
    var p = O.points[k], m = Number(k);
    if (p[0] === null || p[1] === null) return;
    var onFront = O.front.indexOf(m) >= 0;
    var dot = svg("circle", {class: onFront ? "front-member" : "front-other", "data-member": m,
                             cx: f1(x(p[0])), cy: f1(y(p[1])), r: onFront ? 4.5 : 3}, root);
    tip(dot, "member " + m + ": " + O.names.map(function (n, j) {
      return n + " " + fmt(p[j]); }).join(", ") + (onFront ? " (front)" : ""));
  });
  var hv = O.hypervolume, vroot = clear(byId("hypervolume-svg"));
  byId("hypervolume-info").textContent = hv.values.length ? "Hypervolume of the front at " +
    "each ready point, against the reference " + JSON.stringify(O.reference) + "." :
    "No hypervolume: give every objective a reference value to record it.";
  vroot.hidden = !hv.values.length;
  if (!hv.values.length) return;
  var VH = 220, vb = {l: 70, t: 14, r: W - 16, b: VH - 44};
  vroot.setAttribute("viewBox", "0 0 " + W + " " + VH);
  var v0 = Math.min.apply(null, hv.values), v1 = Math.max.apply(null, hv.values);
  var s1 = Math.max(1, Math.max.apply(null, hv.steps));
  var vx = linear(0, s1, vb.l, vb.r), vy = linear(Math.min(0, v0), v1, vb.b, vb.t);
  frame(vroot, vb, vx, ticks(0, s1, 8), vy, ticks(Math.min(0, v0), v1, 4).map(function (t) {
    return [t, fmt(t)]; }), "step", "hypervolume");
  svg("path", {class: "hypervolume-line", "data-count": hv.values.length,
               d: "M" + hv.values.map(function (v, i) {
                 return f1(vx(hv.steps[i])) + " " + f1(vy(v)); }).join("L")}, vroot);
}
"""
