"""A league's standings and payoff matrix, from its records (for the CLI and the report).

Contract:
- `standings` lists every player (live members, then frozen entries) with its rating (the
  initial one if it has not played), its games and its score: the mean of its results,
  counting a match for both sides (the opponent scores 1 − result); self-play matches count
  for nobody. Sorted by rating, best first.
- `payoff` is the mean result of row against column over the matches between them, in both
  directions (NaN where they never met), with the games behind each cell.
- Pure: records in, values out.

Examples:
    >>> from popbt.league.records import MatchRecord
    >>> m = MatchRecord(key="k", player="member:0", player_step=5, opponent="entry:1",
    ...                 opponent_step=5, result=1.0, match_id=1, time=0.0,
    ...                 player_rating=1008.0, opponent_rating=992.0)
    >>> mean, games = payoff([m], ["member:0", "entry:1"])
    >>> mean.tolist(), games.tolist()
    ([[nan, 1.0], [0.0, nan]], [[0, 1], [1, 0]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from popbt.league.records import LeagueEntry, MatchRecord, player_key
from popbt.records import Member, MemberState


@dataclass(frozen=True)
class Standing:
    """One player of the league: its key, the member it is (or froze), its step, rating,
    games and score (None before its first game), and whether it is a frozen entry."""

    key: str
    member_id: int
    step: int
    rating: float
    games: int
    score: float | None
    frozen: bool


def standings(members: Sequence[Member], entries: Sequence[LeagueEntry],
              ratings: Mapping[str, tuple[float, int]], matches: Sequence[MatchRecord],
              initial: float) -> list[Standing]:
    """Every player's standing; see the module contract."""
    won: dict[str, float] = {}
    played: dict[str, int] = {}
    for m in matches:
        if m.player == m.opponent:
            continue
        for key, share in ((m.player, m.result), (m.opponent, 1.0 - m.result)):
            won[key] = won.get(key, 0.0) + share
            played[key] = played.get(key, 0) + 1
    rows = [(player_key("member", m.member_id), m.member_id, m.step, False)
            for m in members if m.state is not MemberState.RETIRED]
    rows += [(e.key, e.member_id, e.step, True) for e in entries]
    out = [Standing(key, member, step, ratings.get(key, (initial, 0))[0], played.get(key, 0),
                    won[key] / played[key] if played.get(key) else None, frozen)
           for key, member, step, frozen in rows]
    return sorted(out, key=lambda s: -s.rating)


def payoff(matches: Sequence[MatchRecord], keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The mean result of each row player against each column player, and the games; see
    the module contract."""
    index = {k: i for i, k in enumerate(keys)}
    n = len(keys)
    total, games = np.zeros((n, n)), np.zeros((n, n), int)
    for m in matches:
        a, b = index.get(m.player), index.get(m.opponent)
        if a is None or b is None or a == b:
            continue
        total[a, b] += m.result
        total[b, a] += 1.0 - m.result
        games[a, b] += 1
        games[b, a] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(games > 0, total / np.maximum(games, 1), np.nan)
    return mean, games
