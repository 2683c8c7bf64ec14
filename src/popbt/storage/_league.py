"""`SQLStorage`'s league: frozen entries, matches and ratings (see
`popbt.storage.league_contract`).

Contract:
- `add_entry` adds at most one entry per checkpoint (a second call returns the first) and
  gives it the rating its member has then; garbage collection keeps every checkpoint an entry
  points at.
- `record_match` writes the match and both players' new ratings in one transaction; a match
  whose `key` was recorded before (a retry after a lost connection) is returned as recorded,
  and changes nothing. The opponent must exist (a member of the population, or an entry);
  the player must be a member. A member playing its own checkpoint (self-play) is recorded
  and rates nobody. On PostgreSQL the two rating rows are locked in the order of
  their keys, so two matches never wait for each other in opposite orders.
- A database without the league's tables (made by an older popbt, opened to read) has an
  empty league.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from popbt.errors import ConfigError
from popbt.league.ratings import check_result
from popbt.league.records import LeagueEntry, Match, MatchRecord, parse_key, player_key
from popbt.storage._core import SQLCore, dumps
from popbt.storage._retry import retried
from popbt.storage.base import PopulationRow
from popbt.storage.league_contract import Rating


def _match(row: Sequence[Any]) -> MatchRecord:
    (key, player, player_step, opponent, opponent_step, result, payoff, seed, match_id, time,
     player_rating, opponent_rating) = row
    return MatchRecord(key=key, player=player, player_step=player_step, opponent=opponent,
                       opponent_step=opponent_step, result=result, payoff=payoff, seed=seed,
                       match_id=match_id, time=time, player_rating=player_rating,
                       opponent_rating=opponent_rating)


def _entry(row: Sequence[Any], initial: float) -> LeagueEntry:
    entry_id, member_id, step, checkpoint_id, hparams, rating, games, created = row
    return LeagueEntry(entry_id=entry_id, member_id=member_id, step=step,
                       checkpoint_id=checkpoint_id, hparams=json.loads(hparams),
                       rating=initial if rating is None else rating, games=games or 0,
                       created=created)


def freeze(core: SQLCore, conn: Connection, pop: PopulationRow, *, member_id: int, step: int,
           checkpoint_id: int, hparams: str, initial: float, now: float) -> int:
    """In the transaction of `conn`: the id of the entry of `checkpoint_id` (member
    `member_id` at `step`, with `hparams` as stored JSON), added if it has none, rated as the
    member is (`initial` if it has no rating)."""
    core._run(conn, "add_entry", {"p": pop.id, "m": member_id, "step": step, "c": checkpoint_id,
                                  "hparams": hparams, "now": now})
    entry_id: int = core._rows(conn, "entry_of", {"p": pop.id, "c": checkpoint_id})[0][0]
    rated = core._rows(conn, "rating_of", {"p": pop.id, "player": player_key("member", member_id)})
    core._run(conn, "seed_rating", {"p": pop.id, "player": player_key("entry", entry_id),
                                    "rating": rated[0][0] if rated else initial})
    return entry_id


class League(SQLCore):
    """Entries, matches and ratings."""

    @retried
    def add_entry(self, pop: PopulationRow, *, member_id: int, step: int, checkpoint_id: int,
                  hparams: dict[str, Any], initial: float, now: float) -> LeagueEntry:
        """Freeze checkpoint `checkpoint_id` of member `member_id` (at `step`) as an entry,
        rated as the member is (`initial` when it has not played)."""
        self._upgrade()
        with self._write() as conn:
            entry_id = freeze(self, conn, pop, member_id=member_id, step=step,
                              checkpoint_id=checkpoint_id, hparams=dumps(hparams),
                              initial=initial, now=now)
        return next(e for e in self.entries(pop, initial=initial) if e.entry_id == entry_id)

    @retried
    def entries(self, pop: PopulationRow, *, initial: float = 0.0) -> list[LeagueEntry]:
        """Every entry, oldest first, with its rating (`initial` if it has not played)."""
        if not self._has_league():
            return []
        with self._read() as conn:
            return [_entry(r, initial) for r in self._rows(conn, "entries", {"p": pop.id})]

    @retried
    def ratings(self, pop: PopulationRow) -> dict[str, tuple[float, int]]:
        """Player key → (rating, games) of every player that has a rating."""
        if not self._has_league():
            return {}
        with self._read() as conn:
            return {p: (r, g) for p, r, g in self._rows(conn, "ratings", {"p": pop.id})}

    @retried
    def matches(self, pop: PopulationRow, *, after: int = 0) -> list[MatchRecord]:
        """The matches recorded after match id `after`, in the order they were recorded."""
        if not self._has_league():
            return []
        with self._read() as conn:
            return [_match(r) for r in self._rows(conn, "matches", {"p": pop.id,
                                                                     "after": after})]

    @retried
    def record_match(self, pop: PopulationRow, match: Match, *, rating: Rating,
                     now: float) -> MatchRecord:
        """Record `match` and rate it; see the module contract.

        Raises:
            ConfigError: the result is not in [0, 1], the player is not a member, or the
                opponent is unknown (both named).
        """
        result = check_result(match.result)
        if parse_key(match.player)[0] != "member":
            raise ConfigError(f"a match's player is a member ('member:<id>'), got "
                              f"{match.player!r}")
        self._upgrade()
        with self._write() as conn:
            recorded = self._rows(conn, "match_by_key", {"p": pop.id, "key": match.key})
            if recorded:
                return _match(recorded[0])
            for key in (match.player, match.opponent):
                self._check_player(conn, pop, key)
            ratings = {}
            for key in sorted({match.player, match.opponent}):
                self._run(conn, "seed_rating", {"p": pop.id, "player": key,
                                                "rating": rating.initial})
                ratings[key] = self._rows(conn, "rating_of", {"p": pop.id, "player": key})[0][0]
            a, b = ratings[match.player], ratings[match.opponent]
            if match.player != match.opponent:  # against its own checkpoint: no change
                a, b = rating.update(a, b, result)
                self._run(conn, "set_rating", [{"p": pop.id, "player": match.player, "rating": a},
                                               {"p": pop.id, "player": match.opponent,
                                                "rating": b}])
            match_id = self._rows(conn, "add_match", {
                "p": pop.id, "key": match.key, "player": match.player,
                "player_step": match.player_step, "opponent": match.opponent,
                "opponent_step": match.opponent_step, "result": result,
                "payoff": match.payoff, "seed": match.seed, "player_rating": a,
                "opponent_rating": b, "now": now})[0][0]
        return MatchRecord(**{**vars(match), "result": result}, match_id=match_id, time=now,
                           player_rating=a, opponent_rating=b)

    def _check_player(self, conn: Connection, pop: PopulationRow, key: str) -> None:
        kind, ident = parse_key(key)
        found = (self._rows(conn, "member_exists", {"p": pop.id, "m": ident}) if kind == "member"
                 else self._rows(conn, "entry_exists", {"p": pop.id, "id": ident}))
        if not found:
            raise ConfigError(f"unknown league player {key!r} in population {pop.name!r}: no "
                              f"such {kind}")
