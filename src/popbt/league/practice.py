"""`self.league` while `popbt.check_trainable` exercises a trainable of a league: a league of
one, played against frozen copies of the trainable itself.

Contract:
- `sample()` (and `opponent(key)`) gives a frozen copy of the trainable as it is now: a new
  object of its class, set up with the same hyperparameters and another seed, loaded with a
  deep copy of its `state_dict()`; its key is "member:<id>" of the trainable (0 by default).
- `report(opponent, result)` checks what a run's storage would (a result in [0, 1], an
  opponent it was given) and rates the match with the league's `Elo` against the copy (rated
  as the trainable was when it was drawn); nothing is recorded anywhere. `rating` is the
  rating after the reports so far, from `start` (a restored copy starts where its original
  was, as an exploit takes the donor's rating).
- Deterministic: a trainable and a restored copy of it, trained alike, draw and rate alike.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from popbt.errors import ConfigError
from popbt.league.member import MemberLeague, Opponent
from popbt.league.ratings import Elo, check_result
from popbt.league.records import MatchRecord, parse_key

if TYPE_CHECKING:
    from popbt.trainable import Trainable


class PracticeLeague(MemberLeague):
    """A league of one for `trainable` (see the module contract)."""

    def __init__(self, trainable: Trainable, hparams: dict[str, Any], seed: int,
                 rating: Elo, start: float | None = None) -> None:
        self._trainable, self._hparams, self._seed, self._elo = (trainable, dict(hparams),
                                                                   seed, rating)
        self._rating = rating.initial if start is None else start
        self._drawn: dict[int, float] = {}  # id of an opponent object → its rating then
        self._matches = 0

    @property
    def _key(self) -> str:
        return f"member:{self._trainable.member_id or 0}"

    def sample(self) -> Opponent:
        frozen = type(self._trainable)()
        frozen.member_id, frozen.member_step = (self._trainable.member_id,
                                                self._trainable.member_step)
        frozen.setup(dict(self._hparams), self._seed + 1)
        frozen.load_state_dict(copy.deepcopy(self._trainable.state_dict()))
        opponent = Opponent(key=self._key, member_id=self._trainable.member_id or 0,
                            step=self._trainable.member_step, checkpoint_id=None,
                            hparams=dict(self._hparams), rating=self._rating, trainable=frozen)
        self._drawn[id(opponent)] = self._rating
        return opponent

    def opponent(self, key: str) -> Opponent:
        parse_key(key)
        return self.sample()

    def report(self, opponent: Opponent | str, result: float, *, payoff: float | None = None,
               seed: int | None = None) -> MatchRecord:
        value = check_result(result)
        if isinstance(opponent, Opponent):
            if id(opponent) not in self._drawn:
                raise ConfigError("report() was given an opponent this league did not draw")
            theirs = self._drawn[id(opponent)]
        else:
            parse_key(opponent)
            theirs = self._rating
        self._rating, after = self._elo.update(self._rating, theirs, value)
        self._matches += 1
        return MatchRecord(key=f"practice-{self._matches}", player=self._key,
                           player_step=self._trainable.member_step,
                           opponent=opponent.key if isinstance(opponent, Opponent) else opponent,
                           opponent_step=self._trainable.member_step, result=value,
                           payoff=payoff, seed=seed, match_id=self._matches, time=0.0,
                           player_rating=self._rating, opponent_rating=after)

    @property
    def rating(self) -> float:
        return self._rating
