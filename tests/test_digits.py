"""The digits example: a short PBT run improves validation accuracy and exploits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import popbt
from popbt.demos.digits import METRIC, SPACE, DigitsMLP


def test_short_pbt_run_improves_and_exploits(tmp_path: Path):
    pop = popbt.create_population(
        name="digits", storage=f"sqlite:///{tmp_path / 'd.db'}", space=SPACE, size=6,
        metric=METRIC, seed=0, ready=popbt.Every(steps=50), exploit=popbt.Truncation(0.25))
    best = pop.train(DigitsMLP, steps=300)
    first = [s.score for s in pop.scores() if s.step == 50]
    assert best.score > max(first)
    assert pop.events(kinds=[popbt.EventKind.EXPLOIT])
    assert best.score > 0.85
    model = pop.load(best.member_id)
    assert model.step == best.step and model.test_accuracy() > 0.8
    assert pop.storage.checkpoint(pop.row, best.checkpoint_id).path.endswith(".pt")


def test_demo_digits_command(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "popbt", "demo", "digits", "--population", "4",
                           "--steps", "200", "--workers", "2", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["step"] == 200 and 0.5 < result["test_accuracy"] <= 1.0
    assert result["schedule"][0]["step"] == 0
