"""The report's figures as a script: score curves, a member's schedule, the lineage tree.

Plain JavaScript (no library) that draws SVG from the data of `data.py`; `_assets.JS`
wraps it with the page's script. Each member's score line, lineage lane, exploit marks and
received edges are one `<path>` each (`data-member`; grouped marks and edges carry
`data-count`), so a population of 1,000 members draws a few thousand elements.
"""

from __future__ import annotations

FIGURES_JS = r"""
var NS = "http://www.w3.org/2000/svg", W = 960;

function svg(tag, attrs, parent) {
  var e = document.createElementNS(NS, tag);
  Object.keys(attrs).forEach(function (k) {
    if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
  });
  if (parent) parent.appendChild(e);
  return e;
}
function html(tag, attrs, text, parent) {
  var e = document.createElement(tag);
  Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
  if (text !== null && text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function tip(parent, text) { svg("title", {}, parent).textContent = text; }
function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
function byId(id) { return document.getElementById(id); }
function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {  // a Simplex's weights
    return Object.keys(v).map(function (k) { return k + ":" + fmt(v[k]); }).join(" ");
  }
  if (typeof v !== "number") return typeof v === "string" ? v : JSON.stringify(v);
  if (Number.isInteger(v)) return String(v);
  var a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : String(+v.toPrecision(4));
}
function f1(v) { return v.toFixed(1); }
function color(m) { return "hsl(" + f1((m * 137.508) % 360) + ",60%,42%)"; }
function linear(d0, d1, r0, r1) {
  var k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return function (v) { return r0 + (v - d0) * k; };
}
function logScale(d0, d1, r0, r1) {
  var f = linear(Math.log(d0), Math.log(d1), r0, r1);
  return function (v) { return f(Math.log(v)); };
}
function ticks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n))), r = (hi - lo) / n / step;
  step *= r >= 7.5 ? 10 : r >= 3.5 ? 5 : r >= 1.5 ? 2 : 1;
  var out = [];
  for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    out.push(+t.toPrecision(12));
  }
  return out;
}
function logTicks(lo, hi) {
  var out = [];
  for (var e = Math.ceil(Math.log10(lo) - 1e-9); e <= Math.log10(hi) + 1e-9; e++) {
    out.push(Math.pow(10, e));
  }
  return out.length >= 2 ? out : [lo, hi];
}
function circle(cx, cy, r) {
  return "M" + f1(cx - r) + " " + f1(cy) + "a" + r + " " + r + " 0 1 0 " + 2 * r + " 0a" +
    r + " " + r + " 0 1 0 " + -2 * r + " 0";
}
// Axes: x ticks (values) and y ticks ([value, label] pairs), labels, grid lines.
function frame(root, box, x, xt, y, yt, xlabel, ylabel) {
  var g = svg("g", {class: "axis"}, root);
  yt.forEach(function (t) {
    var py = f1(y(t[0]));
    svg("line", {class: "grid", x1: box.l, x2: box.r, y1: py, y2: py}, g);
    svg("text", {x: box.l - 6, y: py, "text-anchor": "end", "dominant-baseline": "middle"},
        g).textContent = t[1];
  });
  xt.forEach(function (t) {
    svg("text", {x: f1(x(t)), y: box.b + 16, "text-anchor": "middle"}, g).textContent = fmt(t);
  });
  svg("path", {d: "M" + box.l + " " + box.t + "V" + box.b + "H" + box.r}, g);
  svg("text", {x: (box.l + box.r) / 2, y: box.b + 32, "text-anchor": "middle"},
      g).textContent = xlabel;
  svg("text", {x: 12, y: (box.t + box.b) / 2, "text-anchor": "middle",
               transform: "rotate(-90 12 " + (box.t + box.b) / 2 + ")"}, g).textContent = ylabel;
}
// Per member, the indexes of the exploits it received (columns of d.exploits).
function exploitsBy(d) {
  var out = d.members.map(function () { return []; }), X = d.exploits;
  for (var i = 0; i < X.member.length; i++) out[X.member[i]].push(i);
  return out;
}
// A member's score line: its evaluations, jumping to (step, donor's score) at each exploit.
function scorePath(d, m, xs) {
  var s = d.series[m], X = d.exploits, jumps = {}, out = [];
  xs.forEach(function (i) {
    (jumps[X.at[i]] = jumps[X.at[i]] || []).push([X.step[i], X.score[i]]);
  });
  for (var i = 0; i <= s.steps.length; i++) {
    (jumps[i] || []).forEach(function (j) { out.push(j); });
    if (i < s.steps.length) out.push([s.steps[i], s.scores[i]]);
  }
  return out;
}

function drawScores(d, by) {
  var root = clear(byId("scores-svg")), H = 380;
  var box = {l: 70, t: 12, r: W - 16, b: H - 44}, lo = Infinity, hi = -Infinity;
  root.setAttribute("viewBox", "0 0 " + W + " " + H);
  function seen(v) { if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
  d.series.forEach(function (s) { s.scores.forEach(seen); });
  d.exploits.score.forEach(seen);
  if (lo > hi) { lo = 0; hi = 1; } else if (lo === hi) { lo -= 1; hi += 1; }
  var x = linear(0, Math.max(1, d.max_step), box.l, box.r), y = linear(lo, hi, box.b, box.t);
  frame(root, box, x, ticks(0, Math.max(1, d.max_step), 8), y,
        ticks(lo, hi, 6).map(function (t) { return [t, fmt(t)]; }), "step", d.metric);
  var n = d.exploits.event.length, k = n > 3000 ? 0.4 : n > 300 ? 0.7 : 1;  // marks shrink
  var lines = svg("g", {}, root), marks = svg("g", {"fill-opacity": k < 1 ? 0.5 : 0.8}, root);
  var best = null;
  d.members.forEach(function (m) {
    var p = [], pen = false;
    scorePath(d, m.id, by[m.id]).forEach(function (pt) {
      if (pt[1] === null) { pen = false; return; }
      p.push((pen ? "L" : "M") + f1(x(pt[0])) + " " + f1(y(pt[1])));
      pen = true;
    });
    var path = svg("path", {class: "score-line" + (m.id === d.best ? " best" : ""),
                            "data-member": m.id, d: p.join("") || null, stroke: color(m.id)},
                   lines);
    tip(path, "member " + m.id + ": " + d.metric + " " + fmt(m.score) + " at step " + m.step);
    if (m.id === d.best) best = path;
    if (!by[m.id].length) return;
    var X = d.exploits, q = by[m.id].filter(function (i) { return X.score[i] !== null; })
      .map(function (i) {
        return "M" + f1(x(X.step[i]) - 3.5 * k) + " " + f1(y(X.score[i]) + 3 * k) + "l" +
          3.5 * k + " " + -6 * k + "l" + 3.5 * k + " " + 6 * k + "z";
      });
    tip(svg("path", {class: "exploit-mark", "data-member": m.id,
                     "data-count": by[m.id].length, d: q.join("") || null}, marks),
        "member " + m.id + " exploited " + by[m.id].map(function (i) {
          return "member " + X.donor[i] + " at step " + X.step[i]; }).join(", "));
  });
  if (best) lines.appendChild(best);  // drawn last: on top
}

function valueAxis(hp, box) {
  if (hp.scale === "simplex") {  // stacked weights: the line follows the first component
    var ys = linear(0, 1, box.b, box.t);
    return {pos: function (v) { return ys(v[hp.components[0]]); },
            ticks: [0, 0.25, 0.5, 0.75, 1].map(function (t) { return [t, fmt(t)]; }), y: ys};
  }
  if (hp.scale === "choice") {
    var keys = hp.values.map(function (v) { return JSON.stringify(v); });
    var y = linear(-0.5, hp.values.length - 0.5, box.b, box.t);
    return {pos: function (v) { return y(keys.indexOf(JSON.stringify(v))); },
            ticks: hp.values.map(function (v, i) { return [i, fmt(v)]; }), y: y};
  }
  var log = hp.scale === "log" && hp.lo > 0, f = log ? logScale : linear;
  var yy = f(hp.lo, hp.hi, box.b, box.t);
  var ts = (log ? logTicks(hp.lo, hp.hi) : ticks(hp.lo, hp.hi, 4));
  return {pos: yy, ticks: ts.map(function (t) { return [t, fmt(t)]; }), y: yy};
}

// The member's schedule (as popbt.report.data.schedule reads it from d.changes).
function schedule(d, member) {
  var c = d.changes, names = d.hparams.map(function (h) { return h.name; });
  var chain = [], entries = [], kept = [];
  for (var i = d.members[member].change; i !== null; i = c.parent[i]) chain.push(i);
  chain.reverse().forEach(function (i) {
    var hp = {}, last = entries[entries.length - 1];
    names.forEach(function (n, k) { hp[n] = c.values[i][k]; });
    var e = {step: c.step[i], hparams: hp, ops: c.ops[i], donor: c.donor[i],
             key: JSON.stringify(c.values[i])};
    if (last && last.step === e.step) {
      if (e.donor === null) e.donor = last.donor;
      entries[entries.length - 1] = e;
    } else {
      entries.push(e);
    }
  });
  entries.forEach(function (e) {
    if (!kept.length || kept[kept.length - 1].key !== e.key) kept.push(e);
  });
  return kept;
}

// A Simplex's weights along the schedule as stacked areas, one per component, in order.
function stacked(root, hp, entries, x, y, end) {
  var below = entries.map(function () { return 0; });
  hp.components.forEach(function (c, k) {
    var above = entries.map(function (e, i) { return below[i] + e.hparams[hp.name][c]; });
    var edge = function (levels, back) {
      var pts = [];
      entries.forEach(function (e, i) {
        var x1 = i + 1 < entries.length ? entries[i + 1].step : Math.max(end, e.step);
        pts.push([x(e.step), y(levels[i])], [x(x1), y(levels[i])]);
      });
      if (back) pts.reverse();
      return pts.map(function (q) { return f1(q[0]) + " " + f1(q[1]); }).join("L");
    };
    var area = svg("path", {class: "schedule-area", "data-component": c,
                            fill: "hsl(" + f1((k * 137.508) % 360) + ",55%,70%)",
                            d: entries.length ? "M" + edge(above) + "L" + edge(below, true) + "z"
                                              : null}, root);
    tip(area, hp.name + ": " + c);
    var last = entries.length - 1;
    if (last >= 0 && above[last] - below[last] > 0.06) {
      var tx = x(Math.max(end, entries[last].step)) - 4;
      var t = svg("text", {class: "schedule-component", x: f1(tx), "text-anchor": "end",
                           y: f1(y((above[last] + below[last]) / 2) + 3)}, root);
      t.textContent = c;
    }
    below = above;
  });
}

function drawSchedule(d, member) {
  var box = clear(byId("schedule-panels")), m = d.members[member];
  var entries = schedule(d, member), end = m.step;
  box.setAttribute("data-member", member);
  byId("schedule-member").value = String(member);
  var donors = entries.filter(function (e) { return e.donor !== null; });
  byId("schedule-info").textContent = "member " + member + (member === d.best ? " (best)" : "") +
    ": " + entries.length + " settings along its lineage; " + donors.length +
    " began with an exploit (← donor). Labels: the explore operation of each change.";
  d.hparams.forEach(function (hp) {
    var H = 150, b = {l: 70, t: 14, r: W - 16, b: H - 44};
    var root = svg("svg", {class: "schedule-panel", "data-hparam": hp.name,
                           viewBox: "0 0 " + W + " " + H}, box);
    var x = linear(0, Math.max(1, d.max_step), b.l, b.r), ax = valueAxis(hp, b);
    frame(root, b, x, ticks(0, Math.max(1, d.max_step), 8), ax.y, ax.ticks.map(function (t) {
      return [t[0], t[1]]; }), "step", hp.name);
    var p = entries.map(function (e, i) {
      var x1 = x(i + 1 < entries.length ? entries[i + 1].step : Math.max(end, e.step));
      return (i ? "L" : "M") + f1(x(e.step)) + " " + f1(ax.pos(e.hparams[hp.name])) + "H" +
        f1(x1);
    });
    if (hp.scale === "simplex") stacked(root, hp, entries, x, ax.y, end);
    svg("path", {class: "schedule-line", "data-member": member, d: p.join("") || null}, root);
    var lastLabel = -Infinity;  // labels closer than 30 px are left to their tooltips
    entries.forEach(function (e, i) {
      if (i === 0) return;
      var cur = e.hparams[hp.name], before = entries[i - 1].hparams[hp.name];
      var changed = JSON.stringify(cur) !== JSON.stringify(before);
      var label = e.ops[hp.name] || (e.donor !== null && changed ? "← " + e.donor : null);
      var px = f1(x(e.step)), py = f1(ax.pos(cur));
      if (e.donor !== null) {
        tip(svg("line", {class: "schedule-exploit", x1: px, x2: px, y1: b.t, y2: b.b}, root),
            "step " + e.step + ": copied member " + e.donor);
      }
      if (!label) return;
      var what = "step " + e.step + ": " + hp.name + " " + fmt(before) + " → " + fmt(cur) +
        " (" + label + ")";
      tip(svg("circle", {class: "schedule-point", cx: px, cy: py, r: 2.5}, root), what);
      if (x(e.step) - lastLabel < 30) return;
      lastLabel = x(e.step);
      var t = svg("text", {class: "schedule-op", x: f1(x(e.step) + 3), y: f1(py - 5),
                           "data-step": e.step}, root);
      t.textContent = label;
      tip(t, what);
    });
  });
}

function drawLineage(d, by) {
  var root = clear(byId("lineage-svg")), n = d.members.length;
  var lane = Math.max(0.8, Math.min(22, 900 / Math.max(1, n))), H = Math.ceil(n * lane) + 60;
  var box = {l: 70, t: 8, r: W - 16, b: H - 44}, r = Math.min(3.5, Math.max(1, lane / 3));
  root.setAttribute("viewBox", "0 0 " + W + " " + H);
  var x = linear(0, Math.max(1, d.max_step), box.l, box.r);
  var y = function (m) { return box.t + (m + 0.5) * lane; };
  var yt = n <= 30 ? d.members.map(function (m) { return m.id; }) : ticks(0, n - 1, 8);
  frame(root, box, x, ticks(0, Math.max(1, d.max_step), 8), y,
        yt.map(function (t) { return [t, String(t)]; }), "step", "member");
  // thinner lanes and fainter edges as members and exploits grow
  var g = svg("g", {"stroke-width": Math.min(1.2, lane * 0.5).toFixed(2)}, root);
  var opacity = Math.max(0.08, Math.min(0.6, 400 / (1 + d.exploits.event.length)));
  var edges = svg("g", {"stroke-width": Math.min(0.8, lane * 0.5).toFixed(2),
                        "stroke-opacity": opacity.toFixed(2)}, root);
  d.members.forEach(function (m) {
    var p = d.lanes[m.id].map(function (s) {
      return "M" + f1(x(s[0])) + " " + f1(y(m.id)) + "H" + f1(x(s[1]));
    });
    tip(svg("path", {class: "lineage-lane" + (m.id === d.best ? " best" : ""),
                     "data-member": m.id, d: p.join("")}, g),
        "member " + m.id + ": step " + m.step + ", " + d.metric + " " + fmt(m.score) +
        ", descends from initial member " + m.root + ", " + m.exploits + " exploits received");
    if (!by[m.id].length) return;
    var X = d.exploits, q = by[m.id].map(function (i) {  // donor → receiver, a chevron at it
      var x1 = x(X.step[i]), y0 = y(X.donor[i]), y1 = y(m.id), s = y0 < y1 ? -1 : 1;
      var c = Math.min(4, lane / 2);
      return "M" + f1(x(X.donor_step[i])) + " " + f1(y0) + "L" + f1(x1) + " " + f1(y1) +
        (c < 2 ? "" : "M" + f1(x1 - c) + " " + f1(y1 + s * c) + "L" + f1(x1) + " " + f1(y1) +
         "L" + f1(x1 + c) + " " + f1(y1 + s * c));
    });
    tip(svg("path", {class: "lineage-edge", "data-member": m.id, "data-count": by[m.id].length,
                     d: q.join("")}, edges), "exploits received by member " + m.id);
  });
  var a = d.ancestry.map(function (s, i) {
    return (i ? "L" : "M") + f1(x(s.start)) + " " + f1(y(s.member)) + "H" + f1(x(s.end));
  });
  if (a.length) {
    tip(svg("path", {class: "ancestry", "data-member": d.best, "data-count": a.length,
                     d: a.join("")}, root), "the best member's lineage: " +
        d.ancestry.map(function (s) { return s.member + " (" + s.start + "–" + s.end + ")"; })
          .join(" → "));
  }
  var roots = {};
  d.members.forEach(function (m) { roots[m.root] = true; });
  var marks = [["initial-mark", d.members, function (m) { return circle(x(0), y(m.id), r); },
                "initial members (step 0)"],
               ["survivor-mark", d.members.filter(function (m) { return roots[m.id]; }),
                function (m) { return circle(x(0), y(m.id), r * 0.6); },
                "initial members whose weights survive"],
               ["final-mark", d.members, function (m) {
                 return "M" + f1(x(m.step)) + " " + f1(y(m.id) - r) + "l" + r + " " + r +
                   "l" + -r + " " + r + "l" + -r + " " + -r + "z"; }, "final members"]];
  marks.forEach(function (k) {
    tip(svg("path", {class: k[0], "data-count": k[1].length, d: k[1].map(k[2]).join("") || null},
            root), k[3]);
  });
  if (d.best !== null) {
    var bm = d.members[d.best];
    tip(svg("path", {class: "best-mark", "data-member": d.best,
                     d: circle(x(bm.step), y(bm.id), r + 2)}, root), "best member " + d.best);
  }
}
"""
