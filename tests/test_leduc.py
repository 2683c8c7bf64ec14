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


def test_games_are_zero_sum_and_record_only_the_learner_s_decisions():
    info = leduc.infosets()
    rng = np.random.default_rng(0)
    totals = []
    for seat in (0, 1):
        for _ in range(200):
            decisions, ret = leduc.play(uniform(), uniform(), seat, rng)
            assert decisions and all(info.legal[i, a] for i, a in decisions)
            totals.append(ret)
    assert abs(np.mean(totals)) < 1.0 and max(map(abs, totals)) <= 13  # Leduc's largest pot


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
