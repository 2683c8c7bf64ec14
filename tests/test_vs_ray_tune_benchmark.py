"""benchmarks/vs_ray_tune.py: quick runs of popbt against Ray Tune (PBT and PB2) and Syne Tune,
end to end, and the rows of a framework that cannot run.

Needs Ray Tune with scikit-learn and Syne Tune (the `test` extra installs them): without them
these tests fail rather than skip.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from checks import load_script

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "vs_ray_tune.py"


def _load():
    return load_script(SCRIPT)


def _quick(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str],
                                                dict[tuple[str, str], dict]]:
    out = tmp_path / "vs.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out), *args],
                          capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stderr[-5000:]
    return done, {(r["problem"], r["framework"]): r for r in json.loads(out.read_text())}


def _check_numbers(runs: dict[tuple[str, str], dict]) -> None:
    for (problem, framework), r in runs.items():
        where = f"{problem} / {framework}"
        assert "unavailable" not in r, (where, r.get("unavailable"))
        assert r["wall_s"] > 0 and r["busy_s"] > 0 and r["busy_cpu_s"] > 0, where
        assert math.isfinite(r["overhead_s"]) and r["overhead_s"] < r["wall_s"], where
        assert math.isfinite(r["overhead_cpu_s"]) and r["overhead_cpu_s"] < r["wall_s"], where
        assert r["member_steps"] > 0, where
        if problem == "toy":
            assert -1.0 < r["score"] <= 1.2, where  # Q = 1.2 − |θ|², θ starts at (0.9, 0.9)
        else:
            assert 0.0 <= r["score"] <= 1.0, where


@pytest.mark.ray
@pytest.mark.slow
def test_a_quick_run_compares_both_frameworks_on_both_problems(tmp_path: Path):
    assert importlib.util.find_spec("ray") is not None, \
        "Ray Tune is missing: pip install 'popbt[test]' (or 'ray[tune]')"
    done, runs = _quick(tmp_path, "--frameworks", "popbt,Ray Tune")
    assert sorted(runs) == sorted((p, f) for p in ("toy", "digits")
                                  for f in ("popbt", "Ray Tune"))
    _check_numbers(runs)
    assert runs[("toy", "Ray Tune")]["ray_synch"] is True
    assert runs[("toy", "popbt")]["workers"] == 1  # in the driver, popbt's default for it
    assert runs[("digits", "popbt")]["workers"] == runs[("toy", "Ray Tune")]["workers"] == 2
    for problem, popbt_workers in (("toy", 1), ("digits", 2)):
        assert f"| {problem} | popbt | {popbt_workers} | 1 |" in done.stdout
        assert f"| {problem} | Ray Tune | 2 | 1 |" in done.stdout
        assert f"- {problem}: overhead popbt ÷ Ray Tune = " in done.stdout
    assert "Overhead = wall − busy / workers" in done.stdout


@pytest.mark.ray
@pytest.mark.slow
def test_a_quick_run_compares_popbt_pb2_with_ray_tunes_pb2(tmp_path: Path):
    for module in ("ray", "sklearn"):
        assert importlib.util.find_spec(module) is not None, \
            f"{module} is missing: pip install 'popbt[test]' (Ray's PB2 needs scikit-learn)"
    done, runs = _quick(tmp_path, "--frameworks", "popbt PB2,Ray Tune PB2")
    assert sorted(runs) == sorted((p, f) for p in ("toy", "digits")
                                  for f in ("popbt PB2", "Ray Tune PB2"))
    _check_numbers(runs)
    assert runs[("toy", "popbt PB2")]["exploits"] > 0  # one worker in the driver: repeatable
    for problem in ("toy", "digits"):
        assert f"| {problem} | Ray Tune PB2 | 2 | 1 |" in done.stdout
        assert f"- {problem}: overhead popbt PB2 ÷ Ray Tune PB2 = " in done.stdout


@pytest.mark.slow
def test_a_quick_run_compares_popbt_with_syne_tune_on_the_toy(tmp_path: Path):
    assert importlib.util.find_spec("syne_tune") is not None, \
        "Syne Tune is missing: pip install 'popbt[test]' (or 'syne-tune')"
    done, runs = _quick(tmp_path, "--problems", "toy", "--frameworks", "popbt,Syne Tune")
    assert sorted(runs) == [("toy", "Syne Tune"), ("toy", "popbt")]
    _check_numbers(runs)
    syne = runs[("toy", "Syne Tune")]
    assert syne["trials"] >= 2 and syne["workers"] == 2
    assert syne["member_steps"] >= 2 * syne["steps"]  # both members trained to the end
    assert "| toy | Syne Tune | 2 | 1 |" in done.stdout
    assert "- toy: overhead (CPU basis) popbt ÷ Syne Tune = " in done.stdout
    assert "HYPERPARAMETER OPTIMIZATION COMPLETE" not in done.stdout  # its report: on stderr


def test_a_framework_that_cannot_run_says_why_instead_of_numbers():
    vs = _load()
    reason = "RuntimeError: Please install scikit-learn to use PB2."
    results = [{"problem": "digits", "framework": "popbt PB2", "seed": 0, "wall_s": 10.0,
                "busy_s": 8.0, "setup_s": 4.0, "busy_cpu_s": 8.0, "overhead_s": 6.0,
                "overhead_without_setup_s": 8.0, "overhead_cpu_s": 6.0,
                "overhead_cpu_without_setup_s": 8.0, "score": 0.95, "budget_used": 1.0,
                "exploits": 3, "workers": 2, "final_name": "test accuracy of the best"},
               {"problem": "digits", "framework": "Ray Tune PB2", "seed": 0,
                "unavailable": reason}]
    rows = vs.summarize(results)
    text = vs.table(rows)
    assert f"| digits | Ray Tune PB2 | not run: {reason} |" in text
    assert all(line.count("|") == text.splitlines()[0].count("|")
               for line in text.splitlines())
    assert vs.verdicts(rows, results) == [
        f"- digits: popbt PB2 vs Ray Tune PB2: Ray Tune PB2 not run ({reason})"]
