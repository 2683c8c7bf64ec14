"""benchmarks/league.py: naive self-play's harness, a short league run, and the table."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from checks import load_script

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "league.py"
bench = load_script(SCRIPT)


def test_naive_self_play_plays_a_frozen_copy_of_the_learner_as_it_is_now():
    hparams = {"lr": 0.01, "entropy": 0.01}
    learner = bench.leduc.LeducPolicy()
    learner.setup(hparams, 0)
    learner.league = league = bench.LatestSelf(learner, hparams, 0)
    learner.train(hparams, 3)
    opponent = league.sample()
    assert opponent.trainable is not learner
    mine, theirs = learner.model.state_dict(), opponent.trainable.model.state_dict()
    assert all((mine[k] == theirs[k]).all() for k in mine)
    curve = bench.naive(hparams, seed=0, steps=4, every=2)
    assert len(curve) == 2 and all(0 < v < 10 for v in curve)


def test_a_league_run_hands_over_its_highest_rated_member(tmp_path: Path):
    space = bench.leduc.space
    initial = [{"lr": 0.01, "entropy": 0.01}, {"lr": 0.003, "entropy": 0.05}]
    assert all(space.validate(h) == h for h in initial)
    curve, mixture = bench.league_run("PBT league", initial, seed=0, steps=10, ready=5,
                                      snapshot=5, workers=1, folder=tmp_path)
    assert len(curve) == 2 and all(0 < v < 10 for v in curve) and 0 < mixture < 10


def test_the_table_counts_wins_against_naive_self_play(capsys: pytest.CaptureFixture[str]):
    curves = {"naive self-play": [[4.0, 3.0], [4.0, 3.5]],
              "PBT league": [[4.0, 2.5], [4.0, 3.6]]}
    args = argparse.Namespace(members=4, steps=40, seeds=2)
    bench.report(curves, list(curves), 1280, args, {"PBT league": [2.0, 3.8]})
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| naive self-play | 3.250 | 3.000 – 3.500 | — |")
    assert rows[2].startswith("| PBT league | 3.050 | 2.500 – 3.600 | 1/2 |")
    assert rows[4] == "| PBT league | 2.900 | 2.000 – 3.800 | 1/2 |"
