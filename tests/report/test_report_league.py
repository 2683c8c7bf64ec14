"""The report's league data: standings, ratings over matches, the payoff matrix and the
opponents faced, from a league trained here; none for a population without a league."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import popbt
from league_trainables import SKILL_SPACE, Skill
from popbt.league.records import MatchRecord
from popbt.report import population_data
from popbt.report.league import MAX_POINTS, league_data


def trained_league(path: Path) -> popbt.Population:
    pop = popbt.create_population(
        name="league", storage=f"sqlite:///{path / 'league.db'}", space=SKILL_SPACE, size=3,
        metric="rating", ready=popbt.Every(steps=5), exploit=popbt.NoExploit(), explore=None,
        initial=[{"lr": lr} for lr in (0.01, 0.1, 1.0)],
        league=popbt.League(opponents=popbt.league.Uniform(), snapshot_every=10))
    pop.train(Skill, steps=20, progress=False)
    return pop


def test_the_league_s_data(tmp_path: Path):
    pop = trained_league(tmp_path)
    league = population_data(pop)["league"]
    matches = pop.storage.matches(pop.row)
    assert league["matches"] == len(matches) == 12
    players = {p["key"]: p for p in league["players"]}
    assert len(players) == 3 + 6 and sum(p["frozen"] for p in players.values()) == 6
    for key, series in league["ratings"].items():  # each ends at the player's rating
        assert series["rating"][-1] == pytest.approx(players[key]["rating"])
        assert series["match"] == sorted(series["match"])
    keys, mean = league["payoff"]["keys"], league["payoff"]["mean"]
    assert keys == [p["key"] for p in league["players"]]  # best rated first
    for i in range(len(keys)):
        for j in range(len(keys)):
            if mean[i][j] is not None:
                assert mean[i][j] + mean[j][i] == pytest.approx(1.0)
    faced = league["faced"]
    assert sum(g for member in faced.values() for _, g, _ in member) == len(matches)
    assert set(faced) == {"0", "1", "2"}


def test_a_population_without_a_league_has_no_league_data(make_pop):
    assert population_data(make_pop())["league"] is None


def test_long_rating_series_are_thinned_keeping_the_last_point():
    matches = [MatchRecord(key=str(i), player="member:0", player_step=i, opponent="member:1",
                           opponent_step=i, result=1.0, match_id=i + 1, time=float(i),
                           player_rating=1000.0 + i, opponent_rating=1000.0 - i)
               for i in range(1000)]
    data = league_data(members=[], entries=[], ratings={}, matches=matches, initial=1000.0)
    series = data["ratings"]["member:0"]
    assert len(series["match"]) <= MAX_POINTS + 1
    assert (series["match"][-1], series["rating"][-1]) == (1000, 1999.0)
    assert data["faced"] == {"0": [["member:1", 1000, 1.0]]}
    assert not any(math.isnan(v) for row in data["payoff"]["mean"] for v in row if v is not None)
