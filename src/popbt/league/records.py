"""The league's records: frozen entries, matches as reported and as recorded, and the keys
that name players.

Contract:
- A player is named by a key: "member:<id>" (a member of the population, playing with its
  latest checkpoint) or "entry:<id>" (a frozen league entry). `player_key` builds one;
  `parse_key` reads one back and raises `ConfigError` for anything else.
- A `LeagueEntry` points at an immutable checkpoint: it survives its member's exploits and
  garbage collection, which keeps every checkpoint an entry points at.
- A `Match` is what a worker reports; `key` is unique per report, so a report committed
  twice (a retry after a lost connection) is recorded once. A `MatchRecord` is a match as
  recorded, with both ratings after it.

Examples:
    >>> player_key("entry", 3), parse_key("member:12")
    ('entry:3', ('member', 12))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from popbt.errors import ConfigError

KINDS = ("member", "entry")


def player_key(kind: str, ident: int) -> str:
    """The key of a member ("member") or a frozen entry ("entry")."""
    if kind not in KINDS:
        raise ConfigError(f"a league player is a member or an entry, not {kind!r}")
    return f"{kind}:{int(ident)}"


def parse_key(key: object) -> tuple[str, int]:
    """(kind, id) of a player key.

    Raises:
        ConfigError: `key` is not "member:<id>" or "entry:<id>".
    """
    kind, _, ident = str(key).partition(":")
    if kind not in KINDS or not ident.isdigit():
        raise ConfigError(f"unknown league player {key!r}: a player is 'member:<id>' or "
                          f"'entry:<id>'")
    return kind, int(ident)


@dataclass(frozen=True, kw_only=True)
class LeagueEntry:
    """A frozen snapshot of member `member_id` at `step`, playing with checkpoint
    `checkpoint_id` and the hyperparameters it had; its rating and games played so far."""

    entry_id: int
    member_id: int
    step: int
    checkpoint_id: int
    hparams: dict[str, Any]
    rating: float
    games: int
    created: float

    @property
    def key(self) -> str:
        """Its player key, "entry:<id>"."""
        return player_key("entry", self.entry_id)


@dataclass(frozen=True, kw_only=True)
class Match:
    """One match a member played, as its worker reports it: the player (a member's key) at
    `player_step`, the opponent's key at `opponent_step`, the player's result in [0, 1], an
    optional payoff and seed, and a key unique to this report."""

    key: str
    player: str
    player_step: int
    opponent: str
    opponent_step: int
    result: float
    payoff: float | None = None
    seed: int | None = None


@dataclass(frozen=True, kw_only=True)
class MatchRecord(Match):
    """A match as recorded: its id, when, and both ratings after it."""

    match_id: int
    time: float
    player_rating: float
    opponent_rating: float
