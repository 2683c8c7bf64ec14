"""Leagues in the worker loop: members play each other and frozen entries through
`self.league`, ratings are the fitness, entries are frozen at snapshot steps."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import popbt
from league_trainables import SKILL_SPACE, BadResult, NoLeagueUser, Skill, UnknownOpponent
from popbt.league import PFSP, Elo, Latest, Mixture, SelfPlay, Uniform
from popbt.league.client import LeagueClient
from popbt.records import EventKind


def league_pop(db_url: str, **overrides: Any) -> popbt.Population:
    kwargs: dict[str, Any] = {
        "name": "league", "storage": db_url, "space": SKILL_SPACE, "size": 4,
        "metric": "rating", "seed": 0, "ready": popbt.Every(steps=5),
        "exploit": popbt.EloTournament(threshold=0.3), "explore": popbt.Perturb(),
        "initial": [{"lr": lr} for lr in (0.001, 0.01, 0.1, 1.0)],
        "league": popbt.League(opponents=Uniform(), snapshot_every=10)}
    kwargs.update(overrides)
    return popbt.create_population(**kwargs)


def test_members_play_rate_and_freeze_entries(db_url: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch):
    log = tmp_path / "draws.log"
    monkeypatch.setenv("POPBT_TEST_LEAGUE", str(log))
    pop = league_pop(db_url, exploit=popbt.NoExploit(), explore=None)
    pop.train(Skill, steps=30, progress=False)
    store, row = pop.storage, pop.row
    matches = store.matches(row)
    assert len(matches) == 4 * 6  # one per interval
    assert {m.player for m in matches} == {f"member:{i}" for i in range(4)}
    assert all(m.player != m.opponent and 0 <= m.result <= 1 and m.seed is not None
               for m in matches)
    entries = store.entries(row)
    assert sorted((e.member_id, e.step) for e in entries) == \
        sorted((m, s) for m in range(4) for s in (10, 20, 30))
    ratings = {k: r for k, (r, _) in store.ratings(row).items() if k.startswith("member:")}
    assert ratings["member:3"] == max(ratings.values())  # the fastest learner
    assert min(ratings["member:2"], ratings["member:3"]) > max(ratings["member:0"],
                                                               ratings["member:1"])
    for member in pop.members:  # the rating is the metric, recorded with every evaluation:
        key = f"member:{member.member_id}"  # one the member had after one of its matches
        had = [m.player_rating for m in matches if m.player == key] + \
            [m.opponent_rating for m in matches if m.opponent == key]
        assert any(member.score == pytest.approx(r) for r in had)
        assert set(member.metrics) == {"skill", "rating"}
    # an opponent plays with the state of its checkpoint: an entry's s is lr × its step
    lrs = {m.member_id: m.hparams["lr"] for m in pop.members}
    frozen = {e.key: lrs[e.member_id] * e.step for e in entries}
    drawn = [line.split() for line in log.read_text().splitlines()]
    entry_draws = [(key, float(s)) for _, _, key, s in drawn if key.startswith("entry:")]
    assert entry_draws and all(s == pytest.approx(frozen[key]) for key, s in entry_draws)


def test_elo_tournament_copies_only_a_peer_rated_far_above(db_url: str):
    pop = league_pop(db_url, league=popbt.League(opponents=PFSP(), rating=Elo(k=64)))
    pop.train(Skill, steps=40, progress=False)
    events = pop.events(kinds=[EventKind.READY, EventKind.EXPLOIT])
    exploits = [e for e in events if e.kind is EventKind.EXPLOIT]
    assert exploits  # the slow learners copy the fast ones
    gap = 400 * math.log10(0.7 / 0.3)  # P(win) < 0.3 ⇔ the donor is rated this much higher
    for i, e in enumerate(events):
        if e.kind is EventKind.EXPLOIT:
            ready = next(r for r in reversed(events[:i])
                         if r.kind is EventKind.READY and r.member_id == e.member_id)
            assert e.data["score"] - ready.data["score"] > gap


def test_opponents_are_cached_per_worker(db_url: str):
    pop = league_pop(db_url, exploit=popbt.NoExploit(), explore=None)
    pop.train(Skill, steps=10, progress=False)
    client = LeagueClient(storage=pop.storage, pop=pop.row, settings=pop.settings,
                          trainable=Skill, load=_loader(pop))
    first = client.opponent("entry:1")
    again = client.opponent("entry:1")
    assert again.trainable is first.trainable and client.loads == 1
    assert isinstance(first.trainable, Skill) and first.is_entry
    for key in ("entry:2", "entry:3", "entry:4"):
        client.opponent(key)
    assert client.loads == 4
    # member 0 still plays with the checkpoint entry 1 froze: the same object
    assert client.opponent("member:0").trainable is first.trainable and client.loads == 4
    assert client.opponent("member:1").trainable is client.opponent("entry:2").trainable
    with pytest.raises(popbt.ConfigError, match=r"unknown league player 'entry:99'"):
        client.opponent("entry:99")


def _loader(pop: popbt.Population) -> Any:
    from popbt.checkpoints import CheckpointStore

    return CheckpointStore(pop.row.checkpoint_root).load


@pytest.mark.parametrize(("sampler", "check"), [
    (SelfPlay(), lambda player, opponent: opponent == player),
    (Latest(), lambda player, opponent: opponent.startswith("entry:")),
    (Mixture([(1, SelfPlay()), (0, Uniform())]), lambda player, opponent: opponent == player),
])
def test_samplers_choose_in_a_running_league(db_url: str, sampler: Any, check: Any):
    pop = league_pop(db_url, exploit=popbt.NoExploit(), explore=None,
                     league=popbt.League(opponents=sampler, snapshot_every=5))
    pop.train(Skill, steps=20, progress=False)
    later = [m for m in pop.storage.matches(pop.row) if m.player_step >= 5]
    assert later and all(check(m.player, m.opponent) for m in later)


def test_the_league_is_stored_with_the_population(db_url: str):
    league = popbt.League(opponents=Mixture([(0.35, SelfPlay()), (0.65, PFSP(p=3))]),
                          rating=Elo(k=24, initial=1200), snapshot_every=50, window=20)
    league_pop(db_url, league=league)
    again = popbt.load_population(name="league", storage=db_url)
    assert again.settings.league == league
    with pytest.raises(popbt.ConfigError, match="league"):
        league_pop(db_url, league=popbt.League(), load_if_exists=True)


@pytest.mark.parametrize(("trainable", "message"), [
    (BadResult, r"must be in \[0, 1\].*got 1.5"),
    (UnknownOpponent, r"unknown league player 'entry:99' in population 'league'"),
])
def test_bad_reports_stop_the_run_with_a_clear_error(db_url: str, trainable: type,
                                                     message: str):
    pop = league_pop(db_url)
    with pytest.raises(popbt.FatalRunError, match=message):
        pop.train(trainable, steps=10, progress=False)
    assert pop.storage.matches(pop.row) == []


def test_settings_that_cannot_work_are_refused(db_url: str, make_pop: Any):
    with pytest.raises(popbt.ConfigError, match="metric='rating' is a league's rating"):
        make_pop(metric="rating")
    with pytest.raises(popbt.ConfigError, match="EloTournament.*compares ratings"):
        make_pop(exploit=popbt.EloTournament())
    with pytest.raises(popbt.ConfigError, match="mode='min'.*use mode='max'"):
        league_pop(db_url, mode="min")
    with pytest.raises(popbt.ConfigError, match=r"League\(snapshot_every=0\)"):
        popbt.League(snapshot_every=0)
    with pytest.raises(popbt.ConfigError, match=r"League\(opponents='pfsp'\)"):
        popbt.League(opponents="pfsp")  # type: ignore[arg-type]


def test_a_trainable_without_a_league_is_told_so(make_pop: Any):
    pop = make_pop(space=SKILL_SPACE, metric="skill")
    with pytest.raises(popbt.FatalRunError, match="this population has no league"):
        pop.train(NoLeagueUser, steps=5, progress=False)
