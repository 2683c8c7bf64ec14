"""Every file in examples/ runs through `popbt run` with its own settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# file: (exploit type the file sets, steps for a short run: at least two ready points)
SHORT_RUNS = {"toy.py": ("Truncation", 8), "digits.py": ("Truncation", 200),
              "fashion_mnist.py": ("Truncation", 200), "cartpole.py": ("TTest", 20),
              "gan.py": ("Tournament", 200)}


def test_every_example_file_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(SHORT_RUNS)
    listed = (EXAMPLES / "README.md").read_text()
    assert all(f"`{name}`" in listed for name in SHORT_RUNS)


@pytest.mark.parametrize("name", sorted(SHORT_RUNS))
def test_popbt_run_trains_the_example(name: str, tmp_path: Path):
    exploit, steps = SHORT_RUNS[name]
    done = subprocess.run(
        [sys.executable, "-m", "popbt", "run", str(EXAMPLES / name), "--population", "4",
         "--workers", "2", "--steps", str(steps), "--storage", f"sqlite:///{tmp_path / 'e.db'}",
         "--name", "example", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["steps"] == [steps] * 4 and status["error"] is None
    assert status["trainer"] == "workers"
    assert status["settings"]["exploit"]["type"] == exploit
    assert status["best"]["score"] is not None
