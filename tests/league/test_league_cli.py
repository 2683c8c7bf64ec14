"""`popbt league` and `popbt status` on a population with a league: real processes, a real
SQLite file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import popbt
from league_trainables import SKILL_SPACE, Skill
from popbt.league import Uniform
from popbt.league.standings import standings


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "popbt", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.fixture
def trained(db_url: str) -> popbt.Population:
    pop = popbt.create_population(
        name="league", storage=db_url, space=SKILL_SPACE, size=3, metric="skill",
        ready=popbt.Every(steps=5), exploit=popbt.NoExploit(), explore=None,
        initial=[{"lr": lr} for lr in (0.01, 0.1, 1.0)],
        league=popbt.League(opponents=Uniform(), snapshot_every=10))
    pop.train(Skill, steps=20, progress=False)
    return pop


def test_league_lists_every_player_by_rating(trained: popbt.Population, db_url: str,
                                             tmp_path: Path):
    store, row = trained.storage, trained.row
    done = cli("league", "--name", "league", "--storage", db_url, "--json", "--matches",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    matches = store.matches(row)
    assert out["matches"] == len(matches) == 3 * 4
    players = out["players"]
    assert [p["rating"] for p in players] == sorted((p["rating"] for p in players), reverse=True)
    assert {p["key"] for p in players} == {f"member:{i}" for i in range(3)} | {
        e.key for e in store.entries(row)}
    assert sum(p["frozen"] for p in players) == 3 * 2  # entries at steps 10 and 20
    expected = standings(trained.members, store.entries(row, initial=1000.0),
                         store.ratings(row), matches, 1000.0)
    assert [(p["key"], p["games"], p["score"]) for p in players] == \
        [(s.key, s.games, s.score) for s in expected]
    assert sum(p["games"] for p in players) == 2 * len(matches)  # both sides of each
    assert len(out["match_records"]) == len(matches)
    text = cli("league", "--name", "league", "--storage", db_url, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "league of league: 3 members, 6 frozen entries, 12 matches"
    assert lines[2].split()[0] == players[0]["key"]


def test_status_shows_ratings(trained: popbt.Population, db_url: str, tmp_path: Path):
    ratings = trained.storage.ratings(trained.row)
    done = cli("status", "--name", "league", "--storage", db_url, "--json", cwd=tmp_path)
    members = json.loads(done.stdout)["members"]
    assert [m["rating"] for m in members] == [ratings[f"member:{i}"][0] for i in range(3)]
    text = cli("status", "--name", "league", "--storage", db_url, cwd=tmp_path).stdout
    assert "rating" in text.splitlines()[-4]  # the header of the member lines


def test_a_population_without_a_league_says_so(make_pop, db_url: str, tmp_path: Path):
    make_pop()
    done = cli("league", "--name", "test", "--storage", db_url, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == ("popbt: error: population 'test' has no league (create it "
                                   "with league=popbt.League(...))")
