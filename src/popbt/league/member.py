"""What a trainable sees of its population's league: `self.league` (see `popbt.Trainable`).

Contract:
- `sample()` draws an opponent with the league's sampler and returns an `Opponent`: its key,
  what it is, its rating, and `trainable`, a loaded, frozen object of the member's own class
  (set up with the opponent's hyperparameters and loaded from its checkpoint; do not train
  it). A worker keeps the last `League.cache` of them loaded, so drawing the same opponent
  again does not load it again.
- `opponent(key)` loads a given player ("member:<id>" or "entry:<id>") the same way.
- `report(opponent, result, payoff=None, seed=None)` records one match (a batch of games as
  one match with their mean result) and rates both players, in one transaction; it returns
  the `MatchRecord`. A result outside [0, 1], or an unknown opponent, is a `ConfigError`,
  which stops the run with a message naming it.
- `rating` is the member's current rating.
- A trainable of a population without a league has `NoLeague`: any use says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from popbt.errors import ConfigError

if TYPE_CHECKING:
    from popbt.league.records import MatchRecord
    from popbt.trainable import Trainable


@dataclass(frozen=True, kw_only=True, eq=False)
class Opponent:
    """A player a member faces: `key` ("member:<id>" or "entry:<id>"), the member it is (or
    was a snapshot of), the step and checkpoint it plays with (None: a member that has none
    yet, playing as `setup` made it), its hyperparameters and rating when drawn, and
    `trainable`, loaded and frozen."""

    key: str
    member_id: int
    step: int
    checkpoint_id: int | None
    hparams: dict[str, Any]
    rating: float
    trainable: Trainable

    @property
    def is_entry(self) -> bool:
        """Whether it is a frozen league entry (else a member's latest checkpoint)."""
        return self.key.startswith("entry:")


class MemberLeague:
    """The league as one member's trainable sees it; see the module contract."""

    def sample(self) -> Opponent:
        """An opponent drawn by the league's sampler."""
        raise NotImplementedError

    def opponent(self, key: str) -> Opponent:
        """The player named `key`, loaded."""
        raise NotImplementedError

    def report(self, opponent: Opponent | str, result: float, *, payoff: float | None = None,
               seed: int | None = None) -> MatchRecord:
        """Record one match against `opponent` (an `Opponent` or its key)."""
        raise NotImplementedError

    @property
    def rating(self) -> float:
        """The member's current rating."""
        raise NotImplementedError


class NoLeague(MemberLeague):
    """`self.league` of a trainable whose population has no league."""

    def _refuse(self) -> ConfigError:
        return ConfigError("this population has no league: create it with "
                           "league=popbt.League(...) (or `league = popbt.League(...)` in a "
                           "run file) to use self.league")

    def sample(self) -> Opponent:
        raise self._refuse()

    def opponent(self, key: str) -> Opponent:
        raise self._refuse()

    def report(self, opponent: Opponent | str, result: float, *, payoff: float | None = None,
               seed: int | None = None) -> MatchRecord:
        raise self._refuse()

    @property
    def rating(self) -> float:
        raise self._refuse()


NO_LEAGUE = NoLeague()
