"""benchmarks/vs_ray_tune.py: a quick run of popbt against Ray Tune, end to end.

Needs Ray Tune (the `test` extra installs it): without it this test fails rather than skips.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "vs_ray_tune.py"


@pytest.mark.ray
@pytest.mark.slow
def test_a_quick_run_compares_both_frameworks_on_both_problems(tmp_path: Path):
    assert importlib.util.find_spec("ray") is not None, \
        "Ray Tune is missing: pip install 'popbt[test]' (or 'ray[tune]')"
    out = tmp_path / "vs.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stderr[-5000:]
    results = json.loads(out.read_text())
    runs = {(r["problem"], r["framework"]): r for r in results}
    assert sorted(runs) == sorted((p, f) for p in ("toy", "digits")
                                  for f in ("popbt", "Ray Tune"))
    for (problem, framework), r in runs.items():
        where = f"{problem} / {framework}"
        assert r["wall_s"] > 0 and r["busy_s"] > 0, where
        assert math.isfinite(r["overhead_s"]) and r["overhead_s"] < r["wall_s"], where
        assert r["member_steps"] > 0, where
        if problem == "toy":
            assert -1.0 < r["score"] <= 1.2, where  # Q = 1.2 − |θ|², θ starts at (0.9, 0.9)
        else:
            assert 0.0 <= r["score"] <= 1.0, where
    assert runs[("toy", "Ray Tune")]["ray_synch"] is True
    assert runs[("toy", "popbt")]["workers"] == 1  # in the driver, popbt's default for it
    assert runs[("digits", "popbt")]["workers"] == runs[("toy", "Ray Tune")]["workers"] == 2
    for problem, popbt_workers in (("toy", 1), ("digits", 2)):
        assert f"| {problem} | popbt | {popbt_workers} | 1 |" in done.stdout
        assert f"| {problem} | Ray Tune | 2 | 1 |" in done.stdout
        assert f"- {problem}: overhead popbt ÷ Ray Tune = " in done.stdout
    assert "Overhead = wall − busy / workers" in done.stdout
