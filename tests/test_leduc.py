"""The Leduc poker league example: its NashConv is OpenSpiel's, its games are played as
dealt, and `popbt run` trains it, recording matches, ratings and NashConv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import popbt
from popbt._refs import load_file

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "leduc_league.py"
leduc = load_file(EXAMPLE)


def uniform() -> np.ndarray:
    legal = leduc.infosets().legal.numpy().astype(np.float64)
    return legal / legal.sum(axis=1, keepdims=True)


def test_nash_conv_is_open_spiel_s():
    from open_spiel.python import policy as policy_lib
    from open_spiel.python.algorithms import exploitability

    info = leduc.infosets()
    assert len(info.index) == 936 and tuple(info.tensors.shape) == (936, 30)
    expected = exploitability.nash_conv(info.game, policy_lib.UniformRandomPolicy(info.game))
    assert leduc.nash_conv(uniform()) == pytest.approx(expected)
    assert expected == pytest.approx(4.747222, abs=1e-6)  # OpenSpiel's published value


def test_games_are_played_as_dealt_and_record_only_the_learner_s_decisions():
    from open_spiel.python import policy as policy_lib
    from open_spiel.python.algorithms import expected_game_score

    info = leduc.infosets()
    rng = np.random.default_rng(0)
    legal = info.legal.numpy().astype(np.float64)
    mine = rng.random(legal.shape) * legal
    mine /= mine.sum(axis=1, keepdims=True)
    theirs = rng.random(legal.shape) ** 3 * legal
    theirs /= theirs.sum(axis=1, keepdims=True)
    seats = np.arange(40_000) % 2
    games = leduc.play(mine, theirs, seats, rng)
    acting = np.array([s.current_player() for s in info.tabular.states])
    assert (acting[games.infoset] == seats[games.game]).all()  # only the learner's own seat
    assert legal[games.infoset, games.action].all()
    assert np.abs(games.returns).max() <= 13  # Leduc's largest pot
    # the mean return is the policies' expected value as OpenSpiel computes it
    joint = policy_lib.TabularPolicy(info.game)
    for seat in (0, 1):
        joint.action_probability_array = np.where((acting == seat)[:, None], mine, theirs)
        value = expected_game_score.policy_value(info.game.new_initial_state(),
                                                     [joint, joint])[seat]
        returns = games.returns[seats == seat]
        assert abs(returns.mean() - value) < 4 * returns.std() / np.sqrt(len(returns))


def test_a_draw_never_picks_an_action_of_probability_zero():
    cumulative = np.cumsum(np.array([[0.0, 0.5, 0.5], [0.3, 0.7, 0.0], [0.0, 0.0, 0.9999]]),
                           axis=1)
    for u in (0.0, 0.3, 0.49, 0.5, 0.99999, 0.999999999):
        picked = leduc.draw(cumulative, np.full(3, u))
        assert picked[0] in (1, 2) and picked[1] in (0, 1) and picked[2] == 2


def test_popbt_run_trains_a_league_and_records_nash_conv(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'leduc.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "popbt", "run", str(EXAMPLE), "--population", "2",
         "--ready-every", "5", "--steps", "10", "--workers", "1", "--storage", url, "--quiet"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    pop = popbt.load_population(name="leduc_league", storage=url)
    assert pop.settings.league is not None and pop.settings.metric == "rating"
    matches = pop.storage.matches(pop.row)
    assert len(matches) == 2 * 10  # one batch of games per step
    assert all(0 <= m.result <= 1 and m.payoff is not None for m in matches)
    for member in pop.members:
        assert member.step == 10 and 0 < member.metrics["nash_conv"] < 10
        assert member.score == member.metrics["rating"]
