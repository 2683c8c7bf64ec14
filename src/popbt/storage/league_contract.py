"""The league's part of the storage contract (`Storage` inherits it): frozen entries, matches
and the ratings they move.

Contract (every backend):
- An entry is a frozen snapshot of a member: it points at an immutable checkpoint, one entry
  per checkpoint, and no garbage collection deletes a checkpoint an entry points at. It
  starts with the rating its member has when it is added.
- A match and both players' new ratings are written in one transaction; a match whose `key`
  was recorded before is returned as recorded and changes nothing (a retried commit counts
  once). Two matches that rate the same player are serialised: no update is lost.
- A player is a member ("member:<id>") or an entry ("entry:<id>"); a match names a member as
  its player, and a player that does not exist is a `ConfigError` naming it.
- A member that copies a donor (an exploit) takes the donor's rating with its weights, in
  the decision's transaction.
- A database without a league has none: reads return nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

from popbt.league.records import LeagueEntry, Match, MatchRecord
from popbt.storage.base import PopulationRow


class Rating(Protocol):
    """What a storage rates a match with (`popbt.league.Elo`): every new player's rating and
    the two ratings after one match."""

    @property
    def initial(self) -> float: ...

    def update(self, a: float, b: float, result: float) -> tuple[float, float]: ...


class LeagueContract(ABC):
    """The league's operations of a `Storage`; see the module contract."""

    @abstractmethod
    def add_entry(self, pop: PopulationRow, *, member_id: int, step: int, checkpoint_id: int,
                  hparams: dict[str, Any], initial: float, now: float) -> LeagueEntry:
        """Freeze checkpoint `checkpoint_id` of member `member_id` (at `step`, trained with
        `hparams`) as an entry rated as the member is (`initial` if it has not played); the
        existing entry if the checkpoint has one."""

    @abstractmethod
    def entries(self, pop: PopulationRow, *, initial: float = 0.0) -> list[LeagueEntry]:
        """Every entry, oldest first, with its rating (`initial` if it has not played)."""

    @abstractmethod
    def ratings(self, pop: PopulationRow) -> dict[str, tuple[float, int]]:
        """Player key → (rating, games played) of every player that has a rating."""

    @abstractmethod
    def matches(self, pop: PopulationRow, *, after: int = 0) -> list[MatchRecord]:
        """The matches with an id above `after`, in the order they were recorded."""

    @abstractmethod
    def record_match(self, pop: PopulationRow, match: Match, *, rating: Rating,
                     now: float) -> MatchRecord:
        """Record `match` with both players' ratings after it (a self-play match, a member
        against its own checkpoint, rates nobody).

        Raises:
            ConfigError: the result is not a number in [0, 1], the player is not a member,
                or a player does not exist.
        """
