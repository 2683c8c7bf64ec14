"""benchmarks/quality.py: its grid, its tasks and arguments, quick runs end to end (PB2, PB2-Mix,
a resumed results file, the noisy toy)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from checks import load_script

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "quality.py"


def _load():
    return load_script(SCRIPT)


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout)


def test_the_grid_covers_every_combination_inside_the_space():
    from popbt._refs import load_file

    SPACE = load_file(SCRIPT.parent.parent / "examples" / "fashion_mnist.py").space
    quality = _load()
    levels = {"lr": 3, "momentum": 2, "weight_decay": 2, "batch_size": 2}
    points = quality.grid(SPACE, levels)
    assert len(points) == 24
    assert len({tuple(sorted(p.items())) for p in points}) == 24
    for p in points:
        assert SPACE.validate(p) == p
    lrs = sorted({p["lr"] for p in points})
    assert len(lrs) == 3 and math.isclose(lrs[1], math.sqrt(1e-3 * 0.5))  # log-scale centre
    assert {p["batch_size"] for p in points} == {16, 256}  # the ends of an ordered choice


def test_every_task_grid_is_a_whole_multiple_of_its_population():
    quality = _load()
    for task in quality.tasks().values():
        size = len(quality.grid(task.space, task.grid_levels))
        assert size == 3 * task.population, task.name


def test_pb2_and_pb2mix_go_where_they_can_with_the_example_s_own_exploit():
    import popbt

    quality = _load()
    available = quality.tasks()
    categorical = available["fashion_mnist_activation"]
    assert categorical.categorical and not available["cartpole"].categorical
    assert "PB2-Mix" in quality.unsuited(categorical, "pb2")
    assert quality.unsuited(available["cartpole"], "pb2mix") is not None
    assert quality.unsuited(categorical, "pb2mix") is None
    exploit, explore = quality.strategies(available["cartpole"], "pb2")  # its own: a t-test
    assert exploit is available["cartpole"].exploit and isinstance(exploit, popbt.TTest)
    assert isinstance(explore, popbt.PB2)
    exploit, explore = quality.strategies(categorical, "pb2mix")
    assert exploit is categorical.exploit and isinstance(explore, popbt.PB2Mix)
    assert {p["activation"] for p in quality.grid(categorical.space, categorical.grid_levels)} \
        == {"relu", "tanh", "sigmoid", "identity"}


@pytest.mark.slow
def test_a_quick_run_writes_each_result_and_a_rerun_does_only_what_is_missing(tmp_path: Path):
    out = tmp_path / "q.json"
    first = _run("--quick", "--examples", "digits", "--population", "4", "--seeds", "1",
                 "--workers", "1", "--methods", "pbt,pb2,grid", "--json", str(out))
    assert first.returncode == 0, first.stderr
    assert "3 runs to do (0 results already in" in first.stderr
    assert "min on a 2-core machine" in first.stderr
    by_method = {r["method"]: r for r in json.loads(out.read_text())}
    assert sorted(by_method) == ["grid", "pb2", "pbt"]
    assert by_method["grid"]["member_steps"] == 6 * by_method["pbt"]["member_steps"]
    assert by_method["pb2"]["member_steps"] == by_method["pbt"]["member_steps"] == 4 * 200
    assert by_method["pbt"]["population"] == 4 and by_method["grid"]["population"] is None
    assert by_method["pb2"]["explore"].startswith("PB2(")
    assert all(0.5 < r["score"] <= 1.0 for r in by_method.values())
    assert "| digits | test accuracy | 4 | pb2 | 4 × 200 | 1 |" in first.stdout
    assert "| digits | test accuracy | — | grid | 24 × 200 | 1 |" in first.stdout
    assert "PBT beat random search" not in first.stdout  # none was run
    assert "- digits, population 4, 200 steps: PB2 beat PBT in " in first.stdout
    assert "target at population" not in first.stdout  # digits is none of the four

    again = _run("--quick", "--examples", "digits", "--population", "4", "--seeds", "2",
                 "--workers", "1", "--methods", "pbt", "--json", str(out))
    assert again.returncode == 0, again.stderr
    assert "1 runs to do (3 results already in" in again.stderr
    results = json.loads(out.read_text())
    assert sorted((r["method"], r["seed"]) for r in results) == [
        ("grid", 0), ("pb2", 0), ("pbt", 0), ("pbt", 1)]
    assert "| digits | test accuracy | 4 | pbt | 4 × 200 | 2 |" in again.stdout
    assert "| digits | test accuracy | 4 | pb2 | 4 × 200 | 1 |" in again.stdout


@pytest.mark.slow
def test_pb2mix_trains_the_categorical_space_and_the_noisy_toy_prints_its_table(
        tmp_path: Path):
    out = tmp_path / "q.json"
    done = _run("--quick", "--examples", "fashion_mnist_activation,noisy_toy", "--population",
                "4", "--seeds", "1", "--methods", "pb2,pb2mix", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "fashion_mnist_activation: pb2 left out: PB2 takes no unordered Choice" in done.stderr
    results = json.loads(out.read_text())
    [mix] = [r for r in results if r["example"] == "fashion_mnist_activation"]
    assert mix["method"] == "pb2mix" and mix["explore"].startswith("PB2Mix(")
    assert mix["best_hparams"]["activation"] in ("relu", "tanh", "sigmoid", "identity")
    assert 0.5 < mix["score"] <= 1.0
    toy = [r for r in results if r["example"] == "noisy_toy"]
    assert len(toy) == 8 and {r["population"] for r in toy} == {4}
    assert all(r["seeds"] == 1 and r["steps"] == 40 for r in toy)
    assert "| fashion_mnist_activation | test accuracy | 4 | pb2mix | 4 × 400 | 1 |" in done.stdout
    assert "- fashion_mnist_activation, population 4, 400 steps: PB2-Mix alone" in done.stdout
    assert "Noisy toy: σ = 0.1 on every reported Q, 4 members, 40 steps, 1 seeds" in done.stdout
    assert "| TTest on the samples (α 0.05) | 8 |" in done.stdout
    assert "- robust options reaching Q ≥ 1.19 in more seeds than plain truncation (" \
        in done.stdout


def test_unknown_examples_and_bad_populations_are_refused_with_the_choices():
    done = _run("--examples", "mnist", timeout=120)
    assert done.returncode == 2
    assert "unknown example mnist" in done.stderr and "fashion_mnist" in done.stderr
    assert "noisy_toy" in done.stderr
    for bad, said in (("1,8", "every size must be at least 2"), ("4,x", "whole numbers")):
        done = _run("--population", bad, timeout=120)
        assert done.returncode == 2 and said in done.stderr, done.stderr


def test_a_file_that_is_not_a_results_file_is_refused(tmp_path: Path):
    out = tmp_path / "other.json"
    out.write_text(json.dumps([{"example": "digits", "method": "pbt"}]))
    done = _run("--examples", "digits", "--json", str(out), timeout=120)
    assert done.returncode != 0 and "not a results file of this script" in done.stderr
