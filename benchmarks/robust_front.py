"""Does multi-objective PBT find a better trade-off front? `examples/robust_fashion.py`'s
clean accuracy against accuracy under FGSM attack, three ways at equal budgets.

    python benchmarks/robust_front.py                 # 5 seeds, 10-20 minutes on 2 cores
    python benchmarks/robust_front.py --quick         # a smoke run (short, not a result)

For each seed, 8 members train `--steps` steps each (the example's model, space, ready
interval, truncation 25% and `Perturb`), by:
- **multi-objective PBT**: the example's `objectives` (accuracy, robust accuracy), ranked by
  Pareto front and crowding distance;
- **PBT on a weighted sum**: one objective, `mean_accuracy` (the two accuracies' mean,
  weights fixed in advance);
- **random search**: the same members, never exploiting or exploring.
The score of a run is the hypervolume (reference point (0, 0)) of the front of its members'
final models measured on the official *test* images (never used for selection): the area
of (clean, robust) accuracy pairs some member reaches on both. Medians over seeds, and per
seed whether multi-objective PBT's was larger. `--plot FILE` draws seed 0's three test fronts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import popbt
from popbt._refs import load_file
from popbt.pareto import fronts, hypervolume

HERE = Path(__file__).resolve().parent
example = load_file(HERE.parent / "examples" / "robust_fashion.py")
METHODS = ("multi-objective PBT", "PBT on the mean", "random search")


def run_method(method: str, steps: int, seed: int, folder: Path) -> np.ndarray:
    """Every member's final (clean, robust) test accuracy, [8, 2]."""
    common: dict[str, Any] = {
        "name": f"{method.split()[0]}-{seed}", "storage": f"sqlite:///{folder / 'r.db'}",
        "space": example.space, "size": 8, "seed": seed, "ready": example.ready}
    if method == "multi-objective PBT":
        pop = popbt.create_population(**common, objectives=example.objectives,
                                      exploit=example.exploit, explore=example.explore)
    elif method == "PBT on the mean":
        pop = popbt.create_population(**common, metric="mean_accuracy",
                                      exploit=example.exploit, explore=example.explore)
    else:
        pop = popbt.create_population(**common, metric="mean_accuracy",
                                      exploit=popbt.NoExploit(explore=False), explore=None)
    pop.train(example.RobustMLP, steps=steps, workers=2, progress=False)
    tests = [pop.load(m.member_id).test_scores() for m in pop.members]
    return np.array([[t["accuracy"], t["robust_accuracy"]] for t in tests])


def front_of(points: np.ndarray) -> np.ndarray:
    return points[fronts(points)[0]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1000, help="training steps per member")
    parser.add_argument("--quick", action="store_true", help="1 seed, 200 steps: a smoke run")
    parser.add_argument("--plot", help="draw seed 0's test fronts to this image file")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.steps < 100:
        parser.error("--seeds must be at least 1 and --steps at least 100")
    seeds, steps = (1, 200) if args.quick else (args.seeds, args.steps)
    volumes: dict[str, list[float]] = {m: [] for m in METHODS}
    first: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="popbt-robust-") as tmp:
        for seed in range(seeds):
            for method in METHODS:
                points = run_method(method, steps, seed, Path(tmp))
                volumes[method].append(hypervolume(front_of(points), np.zeros(2)))
                if seed == 0:
                    first[method] = points
            print(f"seed {seed}: " + ", ".join(f"{m} {v[-1]:.4f}" for m, v in volumes.items()),
                  file=sys.stderr, flush=True)
    mo = volumes[METHODS[0]]
    lines = [f"| {seeds} seeds, 8 members × {steps} steps | test hypervolume (median) | "
             "min – max | multi-objective PBT larger |", "|---|---:|---|---:|"]
    for method, values in volumes.items():
        wins = "" if method == METHODS[0] else \
            f"{sum(a > b for a, b in zip(mo, values, strict=True))}/{seeds}"
        lines.append(f"| {method} | {statistics.median(values):.4f} | {min(values):.4f} – "
                     f"{max(values):.4f} | {wins} |")
    print("\n".join(lines))
    if args.plot:
        _plot(first, args.plot)
    return 0


def _plot(points: dict[str, np.ndarray], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for (method, p), colour in zip(points.items(), ("#d9480f", "#1c7ed6", "#868e96"),
                                   strict=True):
        front = front_of(p)
        front = front[np.argsort(front[:, 0])]
        ax.scatter(p[:, 0], p[:, 1], s=14, color=colour, alpha=0.5)
        ax.plot(front[:, 0], front[:, 1], "o-", color=colour, label=method)
    ax.set_xlabel("test accuracy")
    ax.set_ylabel("test accuracy under FGSM attack")
    ax.set_title("Fashion-MNIST, seed 0: each method's members and front")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
