"""The CartPole example: a short PBT run with t-test selection improves the mean return."""

from __future__ import annotations

from pathlib import Path

import popbt
from popbt._refs import load_file

cartpole = load_file(Path(__file__).resolve().parent.parent / "examples" / "cartpole.py")


def test_short_pbt_run_improves_the_return_and_exploits(tmp_path: Path):
    pop = popbt.create_population(
        name="cartpole", storage=f"sqlite:///{tmp_path / 'c.db'}", space=cartpole.space,
        size=4, metric=cartpole.metric, seed=0, ready=cartpole.ready,
        exploit=popbt.TTest(window=10, alpha=0.05))
    best = pop.train(cartpole.CartPoleA2C, steps=200)
    first = [s.score for s in pop.scores() if s.step == cartpole.ready.steps]
    assert len(first) == 4
    assert best.score > 1.5 * max(first)
    assert pop.events(kinds=[popbt.EventKind.EXPLOIT])
    restored = pop.load(best.member_id)
    assert restored.evaluate()["mean_return"] == best.score
