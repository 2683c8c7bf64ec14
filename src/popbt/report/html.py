"""One self-contained HTML file per population: score curves, a schedule, the lineage tree,
for a population with a league its ratings, payoff matrix and opponents faced, and for one
whose members' states are records what each member's records gained and lost.

The file holds its data as JSON and draws it with an inline, hand-written script (see
`_assets.py`): it opens offline and fetches nothing. The live dashboard serves the same page
without data; its script polls the dashboard's JSON endpoint instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from popbt.errors import ConfigError
from popbt.report._assets import CSS, JS
from popbt.report.data import population_data

# Nothing but the page's own inline script and style: it fetches nothing (the dashboard's
# page may call back its own server).
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data:; connect-src 'self'")

if TYPE_CHECKING:
    from popbt.population import Population

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>{css}</style>
</head>
<body>
<header><h1 id="title">{title}</h1><p id="summary"></p><p id="status"></p></header>
<div id="layout">{nav}
<main>
<section id="fig-scores"><h2>Score vs step</h2>
<p class="hint">Every member's evaluations; ▲ marks an exploit, where the member's weights
jumped to its donor's. Click a line to see that member's schedule.</p>
<svg id="scores-svg" role="img" aria-label="score vs step"></svg></section>
<section id="fig-objectives" hidden><h2>Objectives</h2>
<p class="hint" id="objectives-info"></p>
<p class="hint">Each member's latest values (● on the front); the front now (dark line) and at
a quarter, half and three quarters of the steps (fainter).</p>
<svg id="front-svg" role="img" aria-label="objectives and fronts"></svg>
<p class="hint" id="hypervolume-info"></p>
<svg id="hypervolume-svg" role="img" aria-label="hypervolume over steps"></svg></section>
<section id="fig-schedule"><h2>Hyperparameter schedule</h2>
<label>member <select id="schedule-member"></select></label>
<p class="hint" id="schedule-info"></p><div id="schedule-panels"></div></section>
<section id="fig-lineage"><h2>Lineage</h2>
<p class="hint">One lane per member; an edge for every exploit, from the donor (at the step
it was copied) to the receiver. Orange: the best member's ancestry. ○ initial members
(● whose weights survive), ◆ final members.</p>
<svg id="lineage-svg" role="img" aria-label="lineage tree"></svg></section>
<section id="fig-league" hidden><h2>League</h2><p class="hint" id="league-info"></p>
<p class="hint">Ratings after each match (lines: members; dots: frozen entries, at their
last match).</p>
<svg id="ratings-svg" role="img" aria-label="ratings over matches"></svg>
<p class="hint">Payoff: the row player's mean result against the column player (blue: it
wins, red: it loses, grey: never met), best rated first.</p>
<svg id="payoff-svg" role="img" aria-label="payoff matrix"></svg>
<div class="table-box"><table id="faced-table"></table></div></section>
<section id="fig-datastate" hidden><h2>Records gained and lost</h2>
<p class="hint" id="datastate-info"></p>
<div class="table-box"><table id="datastate-table"></table></div>
<div id="datastate-samples"></div></section>
<section id="members"><h2>Members</h2>
<div class="table-box"><table id="member-table"></table></div></section>
<section id="settings"><h2>Settings</h2><table id="settings-table"></table></section>
</main></div>
{payload}
<script>{js}</script>
</body>
</html>
"""


def _script_json(obj: Any) -> str:
    """JSON safe inside a <script> element (no "<", so no "</script>" or "<!--")."""
    return json.dumps(obj, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_html(data: Mapping[str, Any] | None, *, member: int | None = None,
                live: Mapping[str, Any] | None = None) -> str:
    """The report page: with `data` (from `population_data`) a static report that shows
    `member`'s schedule first (default: the best member); with `live` ({"poll_ms"}) the
    dashboard's page, which lists populations and polls for their data.

    Raises:
        ConfigError: `member` is not a member of the population.
    """
    if data is not None and member is not None and not (
            isinstance(member, int) and not isinstance(member, bool)
            and 0 <= member < len(data["members"])):
        raise ConfigError(f"member {member!r} does not exist; members are "
                          f"0..{len(data['members']) - 1}")
    if live is not None:
        title = "popbt dashboard"
        nav = '<nav id="populations"></nav>'
        payload = (f'<script id="popbt-live" type="application/json">{_script_json(live)}'
                   f'</script>')
    elif data is not None:
        title = f"popbt · {data['name']}"
        nav = ""
        payload = (f'<script id="popbt-data" type="application/json">{_script_json(data)}'
                   f'</script>\n<script id="popbt-member" type="application/json">'
                   f'{_script_json(member)}</script>')
    else:
        raise ConfigError("render_html needs data= or live=")
    return _PAGE.format(title=_escape(title), csp=CSP, css=CSS, nav=nav, payload=payload, js=JS)


def write_report(pop: Population | Mapping[str, Any], path: str | Path,
                 member: int | None = None) -> Path:
    """Write the report of `pop` (a Population, or the data `population_data` returned) to
    `path` as one self-contained HTML file; returns the path.

    The page shows every member's score over steps (exploits marked), the schedule of
    `member` (default: the best member) with a selector for any other, the lineage tree with
    the best member's ancestry, a member table and the settings; for members whose states
    are records (`popbt.datastate`), what each one's records gained and lost.

    Raises:
        ConfigError: `member` is not a member of the population.
        OSError: the file cannot be written.
    """
    data = pop if isinstance(pop, Mapping) else population_data(pop)
    page = render_html(data, member=member)
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out
