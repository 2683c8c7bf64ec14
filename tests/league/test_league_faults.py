"""A league under kill -9 of its `popbt worker` processes: every recorded match is rated
from the ratings the matches before it left (none half-written, no update lost), each report
is recorded once, every entry's checkpoint is kept, and the run finishes. (No exploit here:
an exploit hands a member its donor's rating, which the contract tests check.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import popbt
from checks import kill_workers_for
from league_trainables import SKILL_SPACE
from popbt.league import Elo, Uniform

TESTS = Path(__file__).resolve().parent.parent
TARGET = 300
CHAOS_S = 10.0


@pytest.mark.slow
def test_killed_workers_lose_only_unreported_matches(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'league.db'}"
    elo = Elo(k=16)
    pop = popbt.create_population(
        name="chaos", storage=url, space=SKILL_SPACE, size=4, metric="rating", seed=3,
        ready=popbt.Every(steps=5), exploit=popbt.NoExploit(), explore=None,
        league=popbt.League(opponents=Uniform(), rating=elo, snapshot_every=10))
    pop.storage.set_target(pop.row, TARGET)
    cmd = [sys.executable, "-m", "popbt", "worker", str(TESTS / "league_trainables.py"),
           "--storage", url, "--name", "chaos", "--trainable", "MatchPerStep", "--lease", "3"]
    kills = kill_workers_for(cmd, workers=3, seconds=CHAOS_S, pause=(0.3, 1.5),
                             still_running=lambda: min(m.step for m in pop.members) < TARGET)
    assert kills >= 5 and pop.row.error is None
    assert all(m.step == TARGET for m in pop.members)
    matches = pop.storage.matches(pop.row)
    assert len({m.key for m in matches}) == len(matches) >= 4 * TARGET  # retrained: more
    ratings: dict[str, float] = {}
    for m in matches:  # each rated from the ratings the matches before it left
        a = ratings.get(m.player, elo.initial)
        if m.opponent in ratings or m.opponent.startswith("member:"):
            b = ratings.get(m.opponent, elo.initial)
        else:  # an entry's first match: it started with its member's rating then
            b = m.player_rating + m.opponent_rating - a
        assert (m.player_rating, m.opponent_rating) == pytest.approx(elo.update(a, b, m.result))
        ratings[m.player], ratings[m.opponent] = m.player_rating, m.opponent_rating
    stored = pop.storage.ratings(pop.row)
    for key, rating in ratings.items():
        assert stored[key][0] == pytest.approx(rating)
    entries = pop.storage.entries(pop.row)
    assert entries and {(e.member_id, e.step) for e in entries} >= {
        (mid, TARGET) for mid in range(4)}
    for e in entries:
        pop.storage.checkpoint(pop.row, e.checkpoint_id)  # every entry's checkpoint is there
