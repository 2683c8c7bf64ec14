"""The report page's inline stylesheet and script (hand-written; no library, no network).

The script draws the figures (`_figures.py`) and the tables from the population's data (see
`data.py`): the JSON embedded in the page (a static report), or polled from the dashboard's
JSON endpoint.
"""

from __future__ import annotations

from popbt.report._data_state import DATA_STATE_JS
from popbt.report._figures import FIGURES_JS
from popbt.report._league_figures import LEAGUE_JS
from popbt.report._objectives import OBJECTIVES_JS

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{padding:12px 20px;background:#1d2330;color:#fff}
header h1{font-size:18px;margin:0}
#summary{margin:4px 0 0;color:#c9d1e0}
#layout{display:flex;align-items:flex-start}
nav#populations{min-width:180px;padding:12px;background:#eef0f4;align-self:stretch}
nav#populations a{display:block;padding:4px 8px;color:#1d2330;text-decoration:none;
border-radius:4px}
nav#populations a.active{background:#1d2330;color:#fff}
main{flex:1;padding:8px 20px 40px;min-width:0}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;margin:12px 0;
padding:8px 14px}
h2{font-size:15px;margin:6px 0}
svg{display:block;width:100%;height:auto}
.axis line,.axis path{stroke:#8a93a3;stroke-width:1;fill:none}
.axis text{font-size:11px;fill:#4a5363}
.axis line.grid{stroke:#eceef2;stroke-width:1}
.score-line{fill:none;stroke-width:1;stroke-opacity:.65}
.score-line.best{stroke-width:2.5;stroke-opacity:1}
.exploit-mark{fill:#d9480f;stroke:none}
.lineage-lane{stroke:#9aa3b2;fill:none}
.lineage-edge{stroke:#5c7cfa;fill:none}
.ancestry{stroke:#f08c00;stroke-width:3;fill:none;stroke-linecap:round}
.initial-mark{fill:#fff;stroke:#495057;stroke-width:1}
.survivor-mark{fill:#2b8a3e;stroke:none}
.final-mark{fill:#495057;stroke:none}
.best-mark{fill:#f08c00;stroke:#1d2330;stroke-width:1}
.schedule-line{fill:none;stroke:#1c7ed6;stroke-width:2}
.schedule-exploit{stroke:#d9480f;stroke-dasharray:3 3;stroke-width:1}
.schedule-point{fill:#1c7ed6}
.schedule-op{font-size:11px;fill:#1d2330}
.front-line{fill:none;stroke:#d9480f;stroke-width:2}
.front-earlier{fill:none;stroke:#868e96;stroke-width:1.2;stroke-dasharray:4 3}
.front-member{fill:#d9480f;stroke:#fff;stroke-width:1}
.front-other{fill:#adb5bd}
.hypervolume-line{fill:none;stroke:#1c7ed6;stroke-width:1.5}
.schedule-area{stroke:#fff;stroke-width:0.5;opacity:0.85}
.schedule-component{font-size:10px;fill:#1d2330}
.hint{color:#5c6677;font-size:12px;margin:2px 0 6px}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{padding:3px 8px;border-bottom:1px solid #eceef2;text-align:right;white-space:nowrap}
th{cursor:pointer;background:#f1f3f6;position:sticky;top:0}
td.text,th.text{text-align:left}
#settings-table td{white-space:normal;word-break:break-word}
tr.best td{background:#fff4e0}
tbody tr:hover td{background:#eef3ff;cursor:pointer}
.table-box{max-height:480px;overflow:auto}
#status{color:#c92a2a}
.rating-line{fill:none;stroke-width:1.5;stroke-opacity:.8}
.entry-dot{fill:#868e96}
.payoff-cell{stroke:none}
#datastate-table td.text{white-space:normal}
details.datastate-member{margin:6px 0}
details.datastate-member code{font-size:11px;word-break:break-all;white-space:pre-wrap}
"""

_PAGE_JS = r"""var S = {data: null, member: null, sort: "id", dir: 1, renders: 0};

function drawTables(d, by) {
  var cols = [["id", "member"], ["state", "state"], ["step", "step"], ["score", d.metric]];
  (d.extra_metrics || []).forEach(function (k) { cols.push(["m:" + k, k]); });
  cols.push(["exploits", "exploits received"], ["donated", "donated"],
            ["root", "descends from"], ["failures", "failures"]);
  d.hparams.forEach(function (hp) { cols.push(["hp:" + hp.name, hp.name]); });
  var table = clear(byId("member-table")), head = html("tr", {}, null, html("thead", {}, null,
                                                                               table));
  function val(m, k) {
    if (k.slice(0, 3) === "hp:") return m.hparams[k.slice(3)];
    return k.slice(0, 2) === "m:" ? (m.metrics || {})[k.slice(2)] : m[k];
  }
  cols.forEach(function (c) {
    html("th", {"data-key": c[0], class: c[0] === "state" ? "text" : ""},
         c[1] + (S.sort === c[0] ? (S.dir > 0 ? " ▲" : " ▼") : ""), head)
      .addEventListener("click", function () {
        S.dir = S.sort === c[0] ? -S.dir : 1; S.sort = c[0]; drawTables(d, by);
      });
  });
  var rows = d.members.slice().sort(function (a, b) {
    var u = val(a, S.sort), v = val(b, S.sort);
    if (u === v) return a.id - b.id;
    if (u === null || u === undefined) return 1;
    if (v === null || v === undefined) return -1;
    return (u < v ? -1 : 1) * S.dir;
  });
  var body = html("tbody", {}, null, table), frag = document.createDocumentFragment();
  rows.forEach(function (m) {
    var tr = html("tr", {"data-member": m.id, class: m.id === d.best ? "best" : ""}, null, frag);
    cols.forEach(function (c) {
      html("td", {class: c[0] === "state" ? "text" : ""}, fmt(val(m, c[0])), tr);
    });
  });
  body.appendChild(frag);
  var st = clear(byId("settings-table"));
  var settings = Object.assign({storage: d.storage, "target steps": d.target_steps}, d.settings);
  Object.keys(settings).forEach(function (k) {
    var tr = html("tr", {}, null, st);
    html("th", {class: "text"}, k, tr);
    html("td", {class: "text"}, fmt(settings[k]), tr);
  });
}

function render(d, member) {
  S.data = d;
  var by = exploitsBy(d), sel = byId("schedule-member");
  if (member === undefined || member === null || !d.members[member]) {
    member = S.member !== null && d.members[S.member] ? S.member : d.best !== null ? d.best : 0;
  }
  S.member = member;
  document.title = "popbt · " + d.name;
  byId("title").textContent = "popbt · " + d.name;
  var best = d.objectives ? "front of " + d.objectives.front.length :
    d.best === null ? "no score yet" :
    "best member " + d.best + ": " + d.metric + " " + fmt(d.members[d.best].score);
  var sm = byId("summary");
  sm.textContent = d.members.length + " members · " + d.metric + " (" + d.mode + ") · step " +
    d.max_step + (d.target_steps ? " of " + d.target_steps : "") + " · " +
    d.exploits.event.length + " exploits · " + best +
    (d.error ? " · error: " + d.error : "") + (d.stopped ? " · stopped: " + d.stopped : "");
  sm.setAttribute("data-max-step", d.max_step);
  sm.setAttribute("data-exploits", d.exploits.event.length);
  if (sel.options.length !== d.members.length) {
    clear(sel);
    d.members.forEach(function (m) { html("option", {value: m.id}, "member " + m.id, sel); });
  }
  drawScores(d, by);
  drawSchedule(d, member);
  drawLineage(d, by);
  drawTables(d, by);
  drawLeague(d);
  drawObjectives(d);
  drawDataState(d);
  S.renders += 1;
  document.body.setAttribute("data-rendered", S.renders);
}

function choose(member) { S.member = member; drawSchedule(S.data, member); }

function wire() {
  byId("schedule-member").addEventListener("change", function (ev) {
    choose(Number(ev.target.value));
  });
  ["scores-svg", "lineage-svg", "member-table"].forEach(function (id) {
    byId(id).addEventListener("click", function (ev) {
      var t = ev.target.closest("[data-member]");
      if (t && S.data) choose(Number(t.getAttribute("data-member")));
    });
  });
}

function live(cfg) {
  var current = decodeURIComponent(location.hash.slice(1)) || null, version = null;
  var timer = null, busy = false, again = false;
  var shown = null;
  function list(pops) {  // rebuilt only when the list changed
    var nav = byId("populations"), key = JSON.stringify(pops);
    if (!current && pops.length) current = pops[0].name;
    if (key !== shown) {
      shown = key;
      clear(nav);
      html("h2", {}, "populations", nav);
      pops.forEach(function (p) {
        html("a", {href: "#" + encodeURIComponent(p.name), "data-name": p.name,
                   class: "population"}, p.name + " (" + p.size + ")", nav);
      });
    }
    Array.prototype.forEach.call(nav.querySelectorAll("a"), function (a) {
      a.classList.toggle("active", a.getAttribute("data-name") === current);
    });
  }
  function poll() {
    clearTimeout(timer);
    if (busy) { again = true; return; }
    busy = true; again = false;
    fetch("api/populations").then(function (r) { return r.json(); }).then(function (pops) {
      list(pops);
      if (!current) return null;
      var want = current, url = "api/population?name=" + encodeURIComponent(want) +
        (version ? "&since=" + encodeURIComponent(version) : "");
      return fetch(url).then(function (r) { return r.json(); }).then(function (res) {
        if (want !== current || res.unchanged) return;
        if (res.error) { byId("status").textContent = res.error; return; }
        version = res.version;
        byId("status").textContent = "";
        render(res.data);
      });
    }).catch(function (err) {
      byId("status").textContent = "cannot reach the dashboard (" + err + "); retrying";
    }).then(function () {
      busy = false;
      timer = setTimeout(poll, again ? 0 : cfg.poll_ms);
    });
  }
  window.addEventListener("hashchange", function () {
    current = decodeURIComponent(location.hash.slice(1)) || null;
    version = null; S.member = null;
    poll();
  });
  poll();
}

document.addEventListener("DOMContentLoaded", function () {
  wire();
  var cfg = byId("popbt-live");
  if (cfg) { live(JSON.parse(cfg.textContent)); return; }
  var data = JSON.parse(byId("popbt-data").textContent);
  render(data, JSON.parse(byId("popbt-member").textContent));
});
"""

JS = ('(function () {\n"use strict";\n' + FIGURES_JS + LEAGUE_JS + OBJECTIVES_JS
      + DATA_STATE_JS + _PAGE_JS + "})();\n")
