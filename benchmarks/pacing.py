"""Pacing: free-running workers, a bounded lead (`max_lead=1`) and synchronous generations
(`sync=True`) on a workload whose members run at different speeds.

    python benchmarks/pacing.py              # 5 seeds (about 3 minutes)
    python benchmarks/pacing.py --seeds 2    # smoke run

The paper's toy problem (`benchmarks/_paced.py`: Q reported with Gaussian noise, sd 0.05),
8 members, 4 local worker processes, one of which runs every step 4× slower; ready every 4
steps, 160 steps, Truncation(0.25) + Perturb. For each seed and mode: the wall time of
`Population.train`, the noiseless Q (held out: members are ranked by the noisy one) of the
member reported best, and the median noiseless Q of all members at the end. Prints a
markdown table (medians over seeds; wins: seeds where the mode's best member beats the
free-running one's on noiseless Q).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # worker processes import `_paced` too

from _paced import PacedToy  # noqa: E402

import popbt  # noqa: E402
from popbt.demos.toy_trainable import SPACE  # noqa: E402

MODES: dict[str, dict[str, Any]] = {
    "free": {}, "max_lead=1": {"max_lead": 1}, "sync": {"sync": True}}
SIZE, WORKERS, STEPS, READY = 8, 4, 160, 4


def run(mode: str, seed: int, folder: Path) -> dict[str, float]:
    """One run of `mode` with `seed`: wall seconds, best member's and median true Q."""
    flag = folder / f"{mode}-{seed}.slow"
    os.environ["POPBT_PACED_FLAG"] = str(flag)
    pop = popbt.create_population(
        name=f"{mode}-{seed}", storage=f"sqlite:///{folder / 'pacing.db'}", space=SPACE,
        size=SIZE, metric="Q", seed=seed, ready=popbt.Every(steps=READY),
        exploit=popbt.Truncation(fraction=0.25), explore=popbt.Perturb(), keep_checkpoints=1,
        **MODES[mode])
    started = time.perf_counter()
    pop.train(PacedToy, steps=STEPS, workers=WORKERS, progress=False)
    wall = time.perf_counter() - started
    best = pop.best
    assert best is not None
    return {"wall": wall, "best": best.metrics["true_Q"],
            "median": statistics.median(m.metrics["true_Q"] for m in pop.members)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for mode in MODES:
                results[mode].append(run(mode, seed, Path(tmp)))
                print(f"seed {seed} {mode}: {results[mode][-1]}", file=sys.stderr)
    print(f"\n{SIZE} members, {WORKERS} workers (one 4× slower), {STEPS} steps, "
          f"{args.seeds} seeds; true Q (noiseless, held out), medians over seeds\n")
    print("| mode | wall s | best member's Q | median member's Q | wins vs free |")
    print("|---|---:|---:|---:|---:|")
    free = results["free"]
    for mode, rows in results.items():
        wins = sum(r["best"] > f["best"] for r, f in zip(rows, free, strict=True))
        print(f"| {mode} | {statistics.median(r['wall'] for r in rows):.1f} | "
              f"{statistics.median(r['best'] for r in rows):.4f} | "
              f"{statistics.median(r['median'] for r in rows):.4f} | "
              f"{'—' if mode == 'free' else f'{wins}/{len(rows)}'} |")


if __name__ == "__main__":
    main()
