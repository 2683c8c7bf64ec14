"""Does PBT give a better model for the same compute? PBT against random search and a grid.

    python benchmarks/quality.py                                # every example, 5 seeds
    python benchmarks/quality.py --examples fashion_mnist --seeds 3 --json out.json

For each example and seed, three populations are trained from scratch with `workers`
processes:
- **pbt**: the example's own exploit and explore;
- **random search**: the same population size and the same initial hyperparameters (drawn
  from the same prior with the same seed), never changed, no exploit: the same total steps;
- **grid**: `len(grid)` fixed configurations on a grid over the space, each trained for the
  same number of steps: `len(grid) / population` times the budget.
The best member of each is the one with the best selection score (validation accuracy,
training return, mode score); the table reports its score on data never used for selection:
test accuracy, the mean return of 10 fresh episodes, the mode score of fresh noise.
Medians, the spread (min–max over seeds) and the median wall time of training are printed
as a markdown table. `--quick` divides every run's steps by 5 (a smoke test, not a result).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import popbt
from popbt.space import Choice, Space
from popbt.trainable import Trainable

METHODS = ("pbt", "random search", "grid")


@dataclass(frozen=True)
class Task:
    """One example as the benchmark runs it."""

    name: str
    trainable: type[Trainable]
    space: Space
    metric: str
    ready: popbt.Every
    exploit: Any
    explore: Any
    population: int
    steps: int
    grid_levels: dict[str, int]
    final: Callable[[Any], float]
    final_name: str


def grid(space: Space, levels: dict[str, int]) -> list[dict[str, Any]]:
    """Every combination of `levels[name]` values per hyperparameter: evenly spaced options of
    a `Choice`, the centres of `levels` equal slices (on the domain's own scale) of a range."""
    axes = []
    for name, domain in space.items():
        n = levels[name]
        if isinstance(domain, Choice):
            picks = np.linspace(0, len(domain.values) - 1, n).round().astype(int)
            axes.append([domain.values[i] for i in dict.fromkeys(picks.tolist())])
        else:
            axes.append([domain.from_unit((i + 0.5) / n) for i in range(n)])
    return [dict(zip(space, combo, strict=True)) for combo in itertools.product(*axes)]


def tasks() -> dict[str, Task]:
    """The tasks: `popbt demo digits`'s population and three files of examples/, imported only
    when called (they need torch, and gymnasium for cartpole)."""
    from popbt._refs import load_file
    from popbt.demos import digits

    examples = Path(__file__).resolve().parent.parent / "examples"
    cartpole, fashion_mnist, gan = (load_file(examples / f"{name}.py")
                                    for name in ("cartpole", "fashion_mnist", "gan"))

    return {
        "digits": Task("digits", digits.DigitsMLP, digits.SPACE, digits.METRIC, digits.READY,
                       digits.EXPLOIT, digits.EXPLORE, population=8, steps=1000,
                       grid_levels={"lr": 3, "momentum": 2, "weight_decay": 2, "batch_size": 2},
                       final=lambda m: m.test_accuracy(), final_name="test accuracy"),
        "fashion_mnist": Task(
            "fashion_mnist", fashion_mnist.FashionMLP, fashion_mnist.space,
            fashion_mnist.metric, fashion_mnist.ready, fashion_mnist.exploit,
            fashion_mnist.explore,
            population=8, steps=2000,
            grid_levels={"lr": 3, "momentum": 2, "weight_decay": 2, "batch_size": 2},
            final=lambda m: m.test_accuracy(), final_name="test accuracy"),
        "cartpole": Task("cartpole", cartpole.CartPoleA2C, cartpole.space, cartpole.metric,
                         cartpole.ready, cartpole.exploit, cartpole.explore,
                         population=8, steps=400,
                         grid_levels={"lr": 3, "entropy_coef": 2, "gamma": 2, "gae_lambda": 2},
                         final=lambda m: m.test_return(), final_name="return, 10 new episodes"),
        "gan": Task("gan", gan.MixtureGAN, gan.space, gan.metric, gan.ready, gan.exploit,
                    gan.explore, population=8, steps=2000,
                    grid_levels={"generator_lr": 4, "discriminator_lr": 3, "beta1": 2},
                    final=lambda m: m.test_score(), final_name="mode score, new noise"),
    }


def run_one(task: Task, method: str, seed: int, steps: int, workers: int,
            folder: Path) -> dict[str, Any]:
    """Train one population; return its best member's held-out score and the wall time."""
    if method == "pbt":
        kwargs: dict[str, Any] = {"exploit": task.exploit, "explore": task.explore}
        size, initial = task.population, []
    else:
        kwargs = {"exploit": popbt.NoExploit(), "explore": None}
        initial = grid(task.space, task.grid_levels) if method == "grid" else []
        size = len(initial) if method == "grid" else task.population
    pop = popbt.create_population(
        name=f"{task.name}-{method.replace(' ', '-')}-{seed}",
        storage=f"sqlite:///{folder / 'quality.db'}", space=task.space, size=size,
        metric=task.metric, seed=seed, ready=task.ready, initial=initial, **kwargs)
    start = time.perf_counter()
    best = pop.train(task.trainable, steps=steps, workers=workers, progress=False)
    wall = time.perf_counter() - start
    assert best is not None
    return {"example": task.name, "method": method, "seed": seed, "members": size,
            "member_steps": size * steps, "selection_score": best.score,
            "score": task.final(pop.load(best.member_id)), "wall_s": wall,
            "exploits": len(pop.events(kinds=[popbt.EventKind.EXPLOIT])),
            "best_hparams": best.hparams}


def table(results: Sequence[dict[str, Any]], chosen: dict[str, Task]) -> str:
    """The markdown table: one row per example and method."""
    lines = ["| example | held-out score | method | budget | median | min – max | "
             "median wall s |", "|---|---|---|---|---|---|---|"]
    for name, task in chosen.items():
        for method in METHODS:
            rows = [r for r in results if r["example"] == name and r["method"] == method]
            if not rows:
                continue
            scores = [r["score"] for r in rows]
            budget = rows[0]["members"] / task.population
            lines.append(
                f"| {name} | {task.final_name} | {method} | {budget:g}× | "
                f"{statistics.median(scores):.3f} | {min(scores):.3f} – {max(scores):.3f} | "
                f"{statistics.median(r['wall_s'] for r in rows):.1f} |")
    return "\n".join(lines)


def verdicts(results: Sequence[dict[str, Any]]) -> list[str]:
    """Per example: PBT against random search seed by seed, and against the grid's median."""
    out = []
    for name in dict.fromkeys(r["example"] for r in results):
        by = {m: {r["seed"]: r["score"] for r in results
                  if r["example"] == name and r["method"] == m} for m in METHODS}
        seeds = sorted(by["pbt"])
        wins = sum(by["pbt"][s] > by["random search"].get(s, float("inf")) for s in seeds)
        pbt, rnd, grd = (statistics.median(by[m].values()) if by[m] else float("nan")
                         for m in METHODS)
        out.append(f"- {name}: PBT beat random search in {wins}/{len(seeds)} seeds; "
                   f"medians PBT {pbt:.3f}, random search {rnd:.3f}, grid {grd:.3f}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default="digits,fashion_mnist,cartpole,gan",
                        help="comma-separated, from: digits, fashion_mnist, cartpole, gan")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated, from: " + ", ".join(METHODS))
    parser.add_argument("--quick", action="store_true", help="steps ÷ 5: a smoke test")
    parser.add_argument("--json", type=Path, help="also write every run's result here")
    args = parser.parse_args(argv)
    available = tasks()
    names = [n.strip() for n in args.examples.split(",") if n.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for bad, valid, what in ((set(names) - set(available), available, "example"),
                             (set(methods) - set(METHODS), METHODS, "method")):
        if bad:
            parser.error(f"unknown {what} {', '.join(sorted(bad))}; "
                         f"choose from {', '.join(valid)}")
    if args.seeds < 1 or args.workers < 1:
        parser.error("--seeds and --workers must be at least 1")
    chosen = {n: available[n] for n in names}
    results = []
    with tempfile.TemporaryDirectory(prefix="popbt-quality-") as tmp:
        for task in chosen.values():
            steps = max(task.ready.steps, task.steps // 5) if args.quick else task.steps
            for seed, method in itertools.product(range(args.seeds), methods):
                folder = Path(tmp) / f"{task.name}-{method.replace(' ', '-')}-{seed}"
                folder.mkdir()
                result = run_one(task, method, seed, steps, args.workers, folder)
                results.append(result)
                print(f"{task.name:14s} {method:14s} seed {seed}: {result['score']:.4f} "
                      f"(selection {result['selection_score']:.4f}, "
                      f"{result['exploits']} exploits, {result['wall_s']:.1f} s)",
                      file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(table(results, chosen))
    print()
    print("\n".join(verdicts(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
