"""The paper's toy problem (Figure 2) as a correctness test, through the public API."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from popbt.demos import toy


@pytest.fixture(scope="module")
def runs() -> list[toy.ToyRun]:
    return toy.run_toy(seeds=20, steps=400)


def _of(runs: list[toy.ToyRun], variant: str) -> list[toy.ToyRun]:
    return [r for r in runs if r.variant == variant]


@pytest.mark.slow
def test_grid_search_is_stuck_at_039(runs):
    for r in _of(runs, "grid search") + _of(runs, "exploit only"):
        assert r.final_q == pytest.approx(0.39, abs=1e-4)
        assert r.first_step is None


@pytest.mark.slow
def test_pbt_reaches_1_19_and_beats_explore_only(runs):
    pbt = _of(runs, "pbt")
    reached = [r.first_step for r in pbt if r.first_step is not None and r.first_step <= 400]
    assert len(reached) >= 18, f"PBT reached Q >= 1.19 in only {len(reached)} of 20 seeds"
    explore = [r.first_step for r in _of(runs, "explore only") if r.first_step is not None]
    assert statistics.median(reached) < statistics.median(explore)
    assert statistics.median(r.final_q for r in pbt) > 1.199


@pytest.mark.slow
def test_summary_table(runs):
    rows = {r["variant"]: r for r in toy.summarize(runs)}
    assert rows["grid search"]["median_final_q"] == pytest.approx(0.39, abs=1e-4)
    assert rows["pbt"]["reached"] >= 18
    text = toy.table(list(rows.values()), 400)
    assert "| grid search | 0.3900 | 0/20 | never |" in text


def test_demo_command_prints_table_and_writes_figure(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "popbt", "demo", "toy", "--seeds", "2",
                           "--steps", "120", "--out", "fig.png", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["variant"] for r in rows] == list(toy.VARIANTS)
    figure = tmp_path / "fig.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 20_000
