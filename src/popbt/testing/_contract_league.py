"""The storage contract's tests of the league: entries, matches and ratings (see
`popbt.storage.league_contract`)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import popbt
from popbt.league.ratings import Elo
from popbt.league.records import Match
from popbt.storage.contract import Storage
from popbt.testing._helpers import NOW, ScriptedDecide, claim, make, present, report

ELO = Elo(k=16, initial=1000.0)


def match(key: str, player: str, opponent: str, result: float, **more: object) -> Match:
    """A match of `player` against `opponent` at steps 5 and 5."""
    return Match(key=key, player=player, player_step=5, opponent=opponent, opponent_step=5,
                 result=result, **more)  # type: ignore[arg-type]


class LeagueContract:
    """The tests of the league's part of `Storage`; part of `StorageContract`, which provides
    the `storage` and `storage_factory` fixtures."""

    def test_matches_rate_both_players_in_their_transaction(self, storage: Storage) -> None:
        pop = make(storage, size=3)
        first = storage.record_match(pop, match("a", "member:0", "member:1", 1.0, seed=7,
                                                payoff=3.5), rating=ELO, now=NOW)
        assert (first.player_rating, first.opponent_rating) == (1008.0, 992.0)
        second = storage.record_match(pop, match("b", "member:1", "member:0", 0.5),
                                      rating=ELO, now=NOW + 1)
        b, a = ELO.update(992.0, 1008.0, 0.5)
        assert (second.player_rating, second.opponent_rating) == pytest.approx((b, a))
        ratings = storage.ratings(pop)
        assert ratings["member:0"] == (pytest.approx(a), 2)
        assert ratings["member:1"] == (pytest.approx(b), 2) and len(ratings) == 2
        recorded = storage.matches(pop)
        assert [m.key for m in recorded] == ["a", "b"] and recorded[0] == first
        assert (recorded[0].seed, recorded[0].payoff, recorded[0].time) == (7, 3.5, NOW)
        assert storage.matches(pop, after=first.match_id) == [second]

    def test_a_match_reported_twice_is_recorded_once(self, storage: Storage) -> None:
        pop = make(storage, size=2)
        once = storage.record_match(pop, match("k", "member:0", "member:1", 1.0), rating=ELO,
                                    now=NOW)
        again = storage.record_match(pop, match("k", "member:0", "member:1", 1.0), rating=ELO,
                                     now=NOW + 5)
        assert again == once and len(storage.matches(pop)) == 1
        assert storage.ratings(pop)["member:0"] == (1008.0, 1)

    @pytest.mark.parametrize(("player", "opponent", "result", "message"), [
        ("member:0", "member:9", 1.0, r"unknown league player 'member:9' in population 'p'"),
        ("member:0", "entry:4", 1.0, r"unknown league player 'entry:4'"),
        ("member:0", "champion", 1.0, r"unknown league player 'champion': a player is"),
        ("entry:1", "member:0", 1.0, r"a match's player is a member"),
        ("member:0", "member:1", 1.5, r"must be in \[0, 1\].*got 1.5"),
        ("member:0", "member:1", "won", r"a number in \[0, 1\].*got 'won'"),
    ])
    def test_bad_matches_are_refused_and_change_nothing(
            self, storage: Storage, player: str, opponent: str, result: object,
            message: str) -> None:
        pop = make(storage, size=2)
        with pytest.raises(popbt.ConfigError, match=message):
            storage.record_match(pop, match("x", player, opponent, result),  # type: ignore[arg-type]
                                 rating=ELO, now=NOW)
        assert storage.matches(pop) == [] and storage.ratings(pop) == {}

    def test_self_play_is_recorded_and_rates_nobody(self, storage: Storage) -> None:
        pop = make(storage, size=2)
        done = storage.record_match(pop, match("s", "member:1", "member:1", 1.0), rating=ELO,
                                    now=NOW)
        assert (done.player_rating, done.opponent_rating) == (1000.0, 1000.0)
        assert storage.ratings(pop) == {"member:1": (1000.0, 0)}

    def test_entries_are_frozen_checkpoints_that_outlive_their_member(
            self, storage: Storage) -> None:
        pop = make(storage, size=2, target=40)
        c = present(claim(storage, pop, "w0"))
        snap = report(storage, pop, c, score=0.5, keep=1).member
        storage.record_match(pop, match("m", "member:0", "member:1", 1.0), rating=ELO, now=NOW)
        entry = storage.add_entry(pop, member_id=0, step=snap.step,
                                  checkpoint_id=snap.checkpoint_id, hparams=snap.hparams,
                                  initial=ELO.initial, now=NOW)
        assert (entry.member_id, entry.step, entry.checkpoint_id) == (0, 5, snap.checkpoint_id)
        assert (entry.rating, entry.games, entry.hparams) == (1008.0, 0, {"lr": 0.1})
        same = storage.add_entry(pop, member_id=0, step=snap.step,
                                 checkpoint_id=snap.checkpoint_id, hparams=snap.hparams,
                                 initial=ELO.initial, now=NOW + 1)
        assert same == entry and storage.entries(pop, initial=ELO.initial) == [entry]
        kept = storage.checkpoint(pop, snap.checkpoint_id).path
        for _ in range(3):  # the member trains on, keeping one checkpoint of its own
            report(storage, pop, present(claim(storage, pop, "w0")), score=0.5, keep=1)
        assert kept in storage.checkpoint_paths()
        played = storage.record_match(pop, match("e", "member:1", entry.key, 1.0), rating=ELO,
                                      now=NOW)
        assert played.opponent == f"entry:{entry.entry_id}"
        assert storage.entries(pop)[0].rating == played.opponent_rating < 1008.0
        assert storage.entries(pop)[0].games == 1

    def test_an_exploit_takes_the_donor_s_rating(self, storage: Storage) -> None:
        pop = make(storage, size=2, target=20)
        c0, c1 = (present(claim(storage, pop, f"w{i}")) for i in range(2))
        report(storage, pop, c0, score=0.9)
        report(storage, pop, c1, score=0.1)
        storage.record_match(pop, match("m", "member:0", "member:1", 1.0), rating=ELO, now=NOW)
        decide = ScriptedDecide(donors={1: 0})
        claim(storage, pop, "a", decide=decide)
        claim(storage, pop, "b", decide=decide)
        assert storage.members(pop)[1].checkpoint_id == storage.members(pop)[0].checkpoint_id
        ratings = storage.ratings(pop)
        assert ratings["member:1"][0] == ratings["member:0"][0] == 1008.0

    def test_concurrent_matches_lose_no_update(
            self, storage: Storage, storage_factory: Callable[[], Storage]) -> None:
        pop = make(storage, size=3)
        errors: list[BaseException] = []

        def play(worker: int) -> None:
            own = storage_factory()
            try:
                for i in range(15):
                    opponent = f"member:{(worker + 1 + i % 2) % 3}"
                    own.record_match(pop, match(f"{worker}-{i}", f"member:{worker}", opponent,
                                                float(i % 3 == 0)), rating=ELO, now=NOW + i)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                own.close()

        threads = [threading.Thread(target=play, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        ratings = {f"member:{m}": ELO.initial for m in range(3)}
        for m in storage.matches(pop):  # each match rated from the ratings the last one left
            expected = ELO.update(ratings[m.player], ratings[m.opponent], m.result)
            assert (m.player_rating, m.opponent_rating) == pytest.approx(expected)
            ratings[m.player], ratings[m.opponent] = expected
        stored = storage.ratings(pop)
        assert {k: r for k, (r, _) in stored.items()} == pytest.approx(ratings)
        assert sum(g for _, g in stored.values()) == 2 * 45
