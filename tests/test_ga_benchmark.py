"""benchmarks/ga.py: popbt's genetic population and EvoTorch's genetic algorithm (the real
library) run side by side at equal evaluations, and the table compares them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "ga.py"


def test_both_methods_run_to_the_same_budget_and_the_table_compares_them(tmp_path: Path):
    budget = 4 * (32 + 10 * 3)  # four popbt generations: 32 members, 10 candidates × 3
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--seeds", "1", "--size", "32", "--parents", "5",
         "--elite-episodes", "3", "--episodes-budget", str(budget)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"^\| (\d+)% \(([\d,]+)–([\d,]+) episodes\) \| (-?[\d.]+) \| (-?[\d.]+) \|",
                      done.stdout, flags=re.M)
    assert [int(r[0]) for r in rows] == [25, 50, 75, 100]
    low, high = (int(x.replace(",", "")) for x in rows[-1][1:3])
    assert budget - 64 <= low <= high <= budget + 64  # both stopped at the budget
    assert all(-200 <= float(r[i]) <= -1 for r in rows for i in (3, 4))
    sizes = re.search(r"^\| bytes per genome \(mean\) \| ([\d,]+) \| ([\d,]+) \|", done.stdout,
                      flags=re.M)
    assert sizes is not None
    assert int(sizes[1].replace(",", "")) < int(sizes[2].replace(",", ""))
