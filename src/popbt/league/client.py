"""A worker's side of the league: the pool it samples from, the opponents it has loaded,
and the matches it reports (see `popbt.league.member` for what a trainable sees).

Contract:
- The pool (entries, members, ratings, and the recent results of every pair) is read from
  the storage by the first draw of each interval (`stale`, which the worker calls before
  `train`), and again when a draw finds it older than `REFRESH_S` seconds; the matches are
  read incrementally (only those recorded since the last read).
- Every member but the retired is in the pool, the player itself included, each playing with
  its latest stored checkpoint (one that has none yet: as `setup` makes it); see
  `popbt.league.opponents` for which sampler chooses the player itself.
- A draw uses a generator derived from the population's seed, the member, its step and the
  number of draws it made at that step in this worker.
- An opponent's trainable is a new object of the worker's trainable class, set up with the
  opponent's hyperparameters and the seed of the member it came from, then loaded from its
  checkpoint; the last `League.cache` are kept (by checkpoint). A member's checkpoint that
  was deleted meanwhile (it trained on) makes the draw refresh the pool and draw again.
- The member's rating is recorded with every evaluation as the metric "rating".
"""

from __future__ import annotations

import math
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from popbt.errors import CheckpointError, ConfigError, StorageError
from popbt.league.config import RATING_METRIC, League
from popbt.league.member import MemberLeague, Opponent
from popbt.league.opponents import Pool, estimate_win_rates
from popbt.league.records import Match, MatchRecord, parse_key, player_key
from popbt.records import MemberState
from popbt.settings import Settings
from popbt.storage.base import PopulationRow
from popbt.storage.contract import Storage
from popbt.trainable import Trainable

REFRESH_S = 1.0
DRAWS = 3  # draws before a missing checkpoint is an error


@dataclass(frozen=True)
class Player:
    """A candidate of the pool: its key, the member it is (or was), its step, checkpoint (None:
    none yet), hyperparameters, rating, and when it joined (entries: their id; members:
    -inf)."""

    key: str
    member_id: int
    step: int
    checkpoint_id: int | None
    hparams: dict[str, Any]
    rating: float
    added: float


class LeagueClient:
    """One worker's league; see the module contract."""

    def __init__(self, *, storage: Storage, pop: PopulationRow, settings: Settings,
                 trainable: type[Trainable], load: Any) -> None:
        assert settings.league is not None
        self.storage, self.pop, self.settings = storage, pop, settings
        self.league: League = settings.league
        self.trainable = trainable
        self._load_state = load  # (checkpoint row path, checksum) -> state
        self._players: dict[str, Player] = {}
        self._table: tuple[Pool, list[Player]] | None = None
        self._read_at = -math.inf
        self._seen = 0
        self._results: dict[tuple[str, str], deque[float]] = {}
        self._loaded: OrderedDict[tuple[int, int | None], Trainable] = OrderedDict()
        self._draws: dict[tuple[int, int], int] = {}
        self.loads = 0  # opponents loaded from a checkpoint (not from the cache)

    def view(self, trainable: Trainable) -> MemberLeague:
        """The league as `trainable` (a member's) sees it."""
        return _View(self, trainable)

    # -- the pool

    def refresh(self) -> None:
        """Read the pool and the matches recorded since the last read."""
        initial = self.league.rating.initial
        ratings = self.storage.ratings(self.pop)
        players: dict[str, Player] = {}
        for m in self.storage.members(self.pop):
            if m.state is MemberState.RETIRED:
                continue
            key = player_key("member", m.member_id)
            players[key] = Player(key, m.member_id, m.step, m.checkpoint_id, dict(m.hparams),
                                  ratings.get(key, (initial, 0))[0], -math.inf)
        for e in self.storage.entries(self.pop, initial=initial):
            players[e.key] = Player(e.key, e.member_id, e.step, e.checkpoint_id, e.hparams,
                                    e.rating, float(e.entry_id))
        for match in self.storage.matches(self.pop, after=self._seen):
            pair = (match.player, match.opponent)
            if pair not in self._results:
                self._results[pair] = deque(maxlen=self.league.window)
            self._results[pair].append(match.result)
            self._seen = match.match_id
        self._players = players
        self._table = None
        self._read_at = time.monotonic()

    def stale(self) -> None:
        """Make the next draw read the pool again (the worker calls it before each interval)."""
        self._read_at = -math.inf

    def _fresh(self) -> None:
        if time.monotonic() - self._read_at >= REFRESH_S:
            self.refresh()

    def rating(self, member_id: int) -> float:
        """The member's current rating (read from the storage)."""
        found = self.storage.ratings(self.pop).get(player_key("member", member_id))
        return self.league.rating.initial if found is None else found[0]

    def pool(self, member_id: int) -> tuple[Pool, list[Player]]:
        """The pool member `member_id` draws from, and its players in the pool's order (the
        estimates are made once per read of the pool, for every member alike)."""
        self._fresh()
        if self._table is None:
            self._table = self._estimate()
        pool, players = self._table
        key = player_key("member", member_id)
        if key not in self._players:
            raise ConfigError(f"member {member_id} is not in the league (retired?)")
        own = pool.keys.index(key)
        return Pool(keys=pool.keys, ratings=pool.ratings, win_rate=pool.payoff[own],
                    payoff=pool.payoff, added=pool.added, own=own), players

    def _estimate(self) -> tuple[Pool, list[Player]]:
        """Every player of the pool read last, in order, and the estimated probabilities
        between them (as a `Pool` whose `own` and `win_rate` are placeholders)."""
        players = sorted(self._players.values(), key=lambda p: (p.added, p.key))
        keys = [p.key for p in players]
        n = len(keys)
        index = {k: i for i, k in enumerate(keys)}
        results, games = np.zeros((n, n)), np.zeros((n, n))
        for (a, b), recent in self._results.items():
            if a in index and b in index:
                results[index[a], index[b]] += sum(recent)
                games[index[a], index[b]] += len(recent)
        ratings = np.array([p.rating for p in players])
        expected = self.league.rating.expected_matrix(ratings)
        payoff = estimate_win_rates(results, games, expected, self.league.prior_games)
        return Pool(keys=tuple(keys), ratings=ratings, win_rate=payoff[0], payoff=payoff,
                    added=np.array([p.added for p in players]), own=0), players

    # -- opponents

    def draw(self, member_id: int, step: int) -> Opponent:
        """An opponent for member `member_id` at `step`; see the module contract."""
        for attempt in range(DRAWS):
            pool, players = self.pool(member_id)
            count = self._draws.get((member_id, step), 0)
            self._draws = {(member_id, step): count + 1}  # only the current step's count
            rng = np.random.default_rng([self.settings.seed, member_id, step, count, 3])
            key = pool.draw(self.league.opponents, rng)
            try:
                return self._opponent(next(p for p in players if p.key == key))
            except (CheckpointError, StorageError):
                if attempt == DRAWS - 1:
                    raise
                self.refresh()  # its member trained on and its checkpoint went
        raise AssertionError("unreachable")

    def opponent(self, key: str) -> Opponent:
        """The player named `key`, loaded.

        Raises:
            ConfigError: no such player.
        """
        parse_key(key)
        self._fresh()
        if key not in self._players:
            self.refresh()
        if key not in self._players:
            raise ConfigError(f"unknown league player {key!r} in population "
                              f"{self.pop.name!r}: no such member or entry")
        return self._opponent(self._players[key])

    def _opponent(self, player: Player) -> Opponent:
        return Opponent(key=player.key, member_id=player.member_id, step=player.step,
                        checkpoint_id=player.checkpoint_id, hparams=player.hparams,
                        rating=player.rating, trainable=self._frozen(player))

    def _frozen(self, player: Player) -> Trainable:
        slot = (player.member_id, player.checkpoint_id)
        cached = self._loaded.pop(slot, None)
        if cached is None:
            cached = self.trainable()
            cached.member_id, cached.member_step = player.member_id, player.step
            cached.setup(dict(player.hparams), self.settings.member_seed(player.member_id))
            if player.checkpoint_id is not None:
                row = self.storage.checkpoint(self.pop, player.checkpoint_id)
                cached.load_state_dict(self._load_state(row.path, row.checksum))
            self.loads += 1
        if self.league.cache:
            self._loaded[slot] = cached
            while len(self._loaded) > self.league.cache:
                self._loaded.popitem(last=False)
        return cached

    # -- matches

    def report(self, member_id: int, step: int, opponent: Opponent | str, result: float,
               payoff: float | None, seed: int | None) -> MatchRecord:
        """Record a match of member `member_id` at `step` (see `MemberLeague.report`)."""
        if isinstance(opponent, Opponent):
            key, opponent_step = opponent.key, opponent.step
        else:
            key = str(opponent)
            parse_key(key)
            self._fresh()
            known = self._players.get(key)
            opponent_step = known.step if known is not None else 0
        match = Match(key=uuid.uuid4().hex, player=player_key("member", member_id),
                      player_step=step, opponent=key, opponent_step=opponent_step,
                      result=result, payoff=None if payoff is None else float(payoff),
                      seed=None if seed is None else int(seed))
        return self.storage.record_match(self.pop, match, rating=self.league.rating,
                                         now=time.time())

    def with_rating(self, result: Any, member_id: int) -> Any:
        """`evaluate()`'s result with the member's rating added as the metric "rating".

        Raises:
            ConfigError: the result already has a "rating", or is a bare number while the
                population's metric is "rating".
        """
        rating = self.rating(member_id)
        if isinstance(result, Mapping):
            if RATING_METRIC in result:
                raise ConfigError("evaluate() returned 'rating', the league's metric: give "
                                  "your own value another name")
            return {**result, RATING_METRIC: rating}
        if self.settings.metric == RATING_METRIC:
            raise ConfigError(f"with metric='rating' (the league's), evaluate() returns a dict "
                              f"of other metrics (or {{}}), not {result!r}")
        return {self.settings.metric: result, RATING_METRIC: rating}


class _View(MemberLeague):
    """`Trainable.league` in a population with a league."""

    def __init__(self, client: LeagueClient, trainable: Trainable) -> None:
        self._client, self._trainable = client, trainable

    def _member(self) -> int:
        member = self._trainable.member_id
        if member is None:
            raise ConfigError("self.league is for a member of a population being trained")
        return member

    def sample(self) -> Opponent:
        return self._client.draw(self._member(), self._trainable.member_step)

    def opponent(self, key: str) -> Opponent:
        return self._client.opponent(key)

    def report(self, opponent: Opponent | str, result: float, *, payoff: float | None = None,
               seed: int | None = None) -> MatchRecord:
        return self._client.report(self._member(), self._trainable.member_step, opponent,
                                   result, payoff, seed)

    @property
    def rating(self) -> float:
        return self._client.rating(self._member())
