"""benchmarks/quality.py: its grid, its arguments, and a quick run end to end."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "quality.py"


def _load():
    spec = importlib.util.spec_from_file_location("quality", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["quality"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


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


def test_a_quick_run_prints_the_table_and_writes_every_result(tmp_path: Path):
    out = tmp_path / "q.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--examples", "digits",
                           "--seeds", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    by_method = {r["method"]: r for r in results}
    assert sorted(by_method) == ["grid", "pbt", "random search"]
    assert by_method["grid"]["member_steps"] == 3 * by_method["pbt"]["member_steps"]
    assert by_method["random search"]["member_steps"] == by_method["pbt"]["member_steps"]
    assert by_method["pbt"]["exploits"] > 0 and by_method["random search"]["exploits"] == 0
    assert all(0.5 < r["score"] <= 1.0 for r in results)
    assert "| digits | test accuracy | grid | 3× |" in done.stdout
    assert "PBT beat random search in" in done.stdout


def test_an_unknown_example_is_refused_with_the_choices():
    done = subprocess.run([sys.executable, str(SCRIPT), "--examples", "mnist"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown example mnist" in done.stderr and "fashion_mnist" in done.stderr
