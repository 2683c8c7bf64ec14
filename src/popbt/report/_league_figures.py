"""The report's league section as a script: ratings over the league's matches, the payoff
matrix as a heat map, and the opponents each member faced (data: `popbt.report.league`).

Plain JavaScript drawing SVG with the helpers of `_figures.py`; the section stays hidden for
a population without a league. Each member's rating line is one `<path class="rating-line">`
(`data-member`), each frozen entry's one dot (`data-key`), each cell of the payoff matrix one
`<rect class="payoff-cell">` (`data-row`, `data-col`, `data-mean`: empty where they never
met). A frozen entry's dot is at its last match, or at the end if it has not played.
"""

from __future__ import annotations

LEAGUE_JS = r"""
function drawRatings(L) {
  var root = clear(byId("ratings-svg")), H = 320;
  var box = {l: 70, t: 12, r: W - 16, b: H - 44}, lo = Infinity, hi = -Infinity;
  root.setAttribute("viewBox", "0 0 " + W + " " + H);
  function seen(v) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  Object.keys(L.ratings).forEach(function (k) { L.ratings[k].rating.forEach(seen); });
  L.players.forEach(function (p) { seen(p.rating); });
  if (lo > hi) { lo = 0; hi = 1; } else if (lo === hi) { lo -= 1; hi += 1; }
  var n = Math.max(1, L.matches), x = linear(0, n, box.l, box.r), y = linear(lo, hi, box.b, box.t);
  frame(root, box, x, ticks(0, n, 8), y,
        ticks(lo, hi, 6).map(function (t) { return [t, fmt(t)]; }), "match", "rating");
  var lines = svg("g", {}, root), dots = svg("g", {}, root);
  L.players.forEach(function (p) {
    var s = L.ratings[p.key];
    if (p.frozen) {  // at its last match (one that has not played yet: at the end)
      var at = s ? s.match[s.match.length - 1] : n;
      tip(svg("circle", {class: "entry-dot", "data-key": p.key, cx: f1(x(at)),
                         cy: f1(y(p.rating)), r: 2.5}, dots),
          p.key + " (member " + p.member + " at step " + p.step + "): rating " + fmt(p.rating));
      return;
    }
    if (!s) return;
    var d = s.match.map(function (m, i) {
      return (i ? "L" : "M") + f1(x(m)) + " " + f1(y(s.rating[i]));
    }).join("");
    tip(svg("path", {class: "rating-line", "data-member": p.member, d: d,
                     stroke: color(p.member)}, lines),
        "member " + p.member + ": rating " + fmt(p.rating) + " after " + p.games + " games");
  });
}

function heat(v) {  // 0: red (the row loses), 0.5: white, 1: blue (the row wins)
  if (v === null) return "#f1f3f6";
  var t = Math.abs(v - 0.5) * 2, light = f1(96 - 46 * t);
  return "hsl(" + (v >= 0.5 ? 214 : 4) + ",70%," + light + "%)";
}

function drawPayoff(L) {
  var P = L.payoff, n = P.keys.length, root = clear(byId("payoff-svg"));
  var cell = Math.max(8, Math.min(28, Math.floor(640 / Math.max(1, n))));
  var left = 90, top = 90, size = left + n * cell + 10;
  root.setAttribute("viewBox", "0 0 " + Math.max(size, 200) + " " + (top + n * cell + 10));
  root.style.maxWidth = Math.max(size, 200) + "px";
  var g = svg("g", {class: "axis"}, root);
  P.keys.forEach(function (k, i) {
    svg("text", {x: left - 4, y: top + i * cell + cell / 2, "text-anchor": "end",
                 "dominant-baseline": "middle"}, g).textContent = k;
    var cx = left + i * cell + cell / 2;
    svg("text", {x: cx, y: top - 4, transform: "rotate(-60 " + cx + " " + (top - 4) + ")"},
        g).textContent = k;
  });
  var cells = svg("g", {}, root);
  P.keys.forEach(function (a, i) {
    P.keys.forEach(function (b, j) {
      var v = P.mean[i][j];
      tip(svg("rect", {class: "payoff-cell", "data-row": a, "data-col": b,
                       "data-mean": v === null ? "" : v, x: left + j * cell, y: top + i * cell,
                       width: cell - 1, height: cell - 1, fill: heat(v)}, cells),
          a + " against " + b + ": " + (v === null ? "never met" :
            fmt(v) + " mean result over " + P.games[i][j] + " games"));
    });
  });
}

function drawFaced(L) {
  var table = clear(byId("faced-table"));
  var head = html("tr", {}, null, html("thead", {}, null, table));
  ["member", "rating", "games", "opponents faced (games, mean result)"].forEach(function (t, i) {
    html("th", {class: i === 3 ? "text" : ""}, t, head);
  });
  var body = html("tbody", {}, null, table);
  L.players.filter(function (p) { return !p.frozen; }).forEach(function (p) {
    var tr = html("tr", {"data-member": p.member}, null, body), faced = L.faced[p.member] || [];
    html("td", {}, String(p.member), tr);
    html("td", {}, fmt(p.rating), tr);
    html("td", {}, String(faced.reduce(function (s, f) { return s + f[1]; }, 0)), tr);
    html("td", {class: "text"}, faced.slice(0, 8).map(function (f) {
      return f[0] + " (" + f[1] + ", " + fmt(f[2]) + ")";
    }).join(" · ") + (faced.length > 8 ? " · …" : ""), tr);
  });
}

function drawLeague(d) {
  var section = byId("fig-league"), L = d.league;
  section.hidden = !L;
  if (!L) return;
  byId("league-info").textContent = L.players.length + " players (" +
    L.players.filter(function (p) { return p.frozen; }).length + " frozen entries) · " +
    L.matches + " matches";
  drawRatings(L);
  drawPayoff(L);
  drawFaced(L);
}
"""
