"""The league's part of the report's data (`data["league"]`; None without a league), from
its records: standings, ratings over the league's matches, the payoff matrix and the
opponents each member faced.

The result (every float finite or None):
- `players`: the standings (`popbt.league.standings`): {"key", "member", "step", "rating",
  "games", "score", "frozen"}, best rated first;
- `matches`: how many matches were recorded;
- `ratings`: per player key, {"match": [...], "rating": [...]}: its rating after each match
  it played, by the match's number (1 is the first of the league), at most `MAX_POINTS`
  points per player (evenly thinned, the last one always kept);
- `payoff`: {"keys", "mean", "games"}: the mean result of row against column (None where
  they never met) among the `MAX_PAYOFF` best rated players;
- `faced`: per member id (as text), [[opponent key, games, mean result], ...], most played
  first: what the member played as the player.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from popbt.league.records import LeagueEntry, MatchRecord
from popbt.league.standings import payoff, standings
from popbt.records import Member

if TYPE_CHECKING:
    from popbt.league.config import League
    from popbt.storage import Storage
    from popbt.storage.base import PopulationRow

MAX_POINTS = 400
MAX_PAYOFF = 40


def stored_league(storage: Storage, row: PopulationRow, league: League | None,
                  members: Sequence[Member]) -> dict[str, Any] | None:
    """`league_data` from the records in `storage` (None without a league)."""
    if league is None:
        return None
    initial = league.rating.initial
    return league_data(members=members, entries=storage.entries(row, initial=initial),
                       ratings=storage.ratings(row), matches=storage.matches(row),
                       initial=initial)


def _thin(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    if len(points) <= MAX_POINTS:
        return points
    stride = math.ceil(len(points) / MAX_POINTS)
    kept = points[::stride]
    return kept if kept[-1] == points[-1] else [*kept, points[-1]]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def league_data(*, members: Sequence[Member], entries: Sequence[LeagueEntry],
                ratings: dict[str, tuple[float, int]], matches: Sequence[MatchRecord],
                initial: float) -> dict[str, Any]:
    """The league's data (see the module docstring); a pure function of its arguments."""
    table = standings(members, entries, ratings, matches, initial)
    series: dict[str, list[tuple[int, float]]] = {}
    faced: dict[int, dict[str, list[float]]] = {}
    for number, m in enumerate(matches, start=1):
        series.setdefault(m.player, []).append((number, m.player_rating))
        if m.opponent != m.player:
            series.setdefault(m.opponent, []).append((number, m.opponent_rating))
        member = int(m.player.split(":")[1])
        faced.setdefault(member, {}).setdefault(m.opponent, []).append(m.result)
    keys = [s.key for s in table[:MAX_PAYOFF]]
    mean, games = payoff(matches, keys)
    return {
        "players": [{"key": s.key, "member": s.member_id, "step": s.step, "rating": s.rating,
                     "games": s.games, "score": s.score, "frozen": s.frozen} for s in table],
        "matches": len(matches),
        "ratings": {k: {"match": [n for n, _ in pts], "rating": [r for _, r in pts]}
                    for k, pts in ((k, _thin(v)) for k, v in series.items())},
        "payoff": {"keys": keys, "mean": [[_finite(v) for v in row] for row in mean.tolist()],
                   "games": games.tolist()},
        "faced": {str(member): sorted(([k, len(r), sum(r) / len(r)] for k, r in opp.items()),
                                      key=lambda x: (-x[1], x[0]))
                  for member, opp in sorted(faced.items())},
    }
