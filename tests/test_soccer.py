"""The grid-world soccer league example: what a player sees, games as OpenSpiel plays them,
and a short `popbt run` that records matches, ratings and the win rate against random moves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import popbt
from popbt._refs import load_file

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "soccer_league.py"
soccer = load_file(EXAMPLE)


def test_a_player_sees_the_grid_and_its_seat():
    state = soccer.game().new_initial_state()
    while state.is_chance_node():
        state.apply_action(state.chance_outcomes()[0][0])
    zero, one = soccer.features(state, 0), soccer.features(state, 1)
    assert zero.shape == one.shape == (6 * 4 * 5 + 2,)
    assert (zero[:-2] == one[:-2]).all() and zero[-2:].tolist() == [1.0, 0.0]
    assert one[-2:].tolist() == [0.0, 1.0]


def test_games_end_in_a_goal_or_a_draw_and_record_the_learner_s_moves():
    rng = np.random.default_rng(0)
    movers = soccer.Mover(None, rng), soccer.Mover(None, rng)
    returns = [soccer.play(*movers, seat=g % 2, rng=rng)[1] for g in range(60)]
    assert set(returns) <= {-1.0, 0.0, 1.0} and len(set(returns)) >= 2
    policy = soccer.SoccerPolicy()
    policy.setup({"lr": 1e-3, "entropy": 0.01}, 0)
    decisions, ret = soccer.play(soccer.Mover(policy.model, rng), movers[0], seat=1, rng=rng)
    assert 1 <= len(decisions) <= soccer.HORIZON and ret in (-1.0, 0.0, 1.0)
    assert all(x[-2:].tolist() == [0.0, 1.0] and 0 <= a < 5 for x, a in decisions)


def test_popbt_run_trains_a_soccer_league(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'soccer.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "popbt", "run", str(EXAMPLE), "--population", "2",
         "--ready-every", "5", "--steps", "10", "--workers", "1", "--storage", url, "--quiet"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    pop = popbt.load_population(name="soccer_league", storage=url)
    matches = pop.storage.matches(pop.row)
    assert len(matches) == 2 * 10 and all(0 <= m.result <= 1 for m in matches)
    for member in pop.members:
        assert 0 <= member.metrics["wins_vs_random"] <= 1
        assert member.score == member.metrics["rating"]
