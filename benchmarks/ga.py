"""popbt's genetic population against EvoTorch's genetic algorithm, side by side in one run.

    python benchmarks/ga.py                       # MountainCar, 256 members, 5 seeds
    python benchmarks/ga.py --task breakout       # MinAtar's Breakout (pip install minatar)
    python benchmarks/ga.py --seeds 1 --episodes-budget 5120   # a quick look

Both evolve the same network (`examples/mountaincar_ga.py`'s MLP, or one of 400 inputs, 64
hidden units and 3 outputs for Breakout; PyTorch's default initialisation under one seed per
member) on the same task (the example's MountainCar-v0 with scaled observations:
gymnasium's dynamics step for step; or MinAtar's Breakout, `popbt.ga.minatar`), with the
same population,
mutation strength and evaluation: every evaluation is one greedy episode, played by popbt's
batched evaluator for both (EvoTorch through a `Problem` that evaluates a whole batch).
EvoTorch's `GeneticAlgorithm` runs with its defaults (elitist: the best `popsize` of parents
and children survive; parents re-evaluated every generation) and Gaussian mutation; popbt's
is the Deep GA (the top `parents` breed; the 10 best scores play 30 more episodes each, which
choose the one elite, and count towards its evaluations). They stop at the same number of
evaluations (episodes). At a quarter, half, three quarters and all of the budget, each
method's current best (by its own scores) plays 20 held-out episodes (initial
states no run has seen); the table gives medians over seeds and per-seed wins, wall time,
peak memory (each method runs in a process of its own) and storage per genome.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from popbt._refs import load_file
from popbt.ga import Episodes, GeneticPopulation, Policy
from popbt.ga.genome import initial_weights
from popbt.ga.minatar import MinAtarEpisodes

example = load_file(Path(__file__).resolve().parent.parent / "examples" / "mountaincar_ga.py")
HELD_OUT_SEED = 10 ** 6  # evaluation seeds of the held-out episodes (runs draw others)
CHECKS = (0.25, 0.5, 0.75, 1.0)


def breakout_network() -> nn.Module:
    """MinAtar Breakout's 400 observations (10 × 10 × 4) to its 3 actions' scores."""
    return nn.Sequential(nn.Linear(400, 64), nn.Tanh(), nn.Linear(64, 3))


class Task(NamedTuple):
    """A task: the network both methods evolve, an evaluation, and the held-out test."""

    title: str
    model: Callable[[], nn.Module]
    evaluate: Any
    test: Any


TASKS = {
    "mountaincar": Task("MountainCar-v0 (scaled observations)", example.policy_network,
                        Episodes(example.ScaledMountainCar),
                        Episodes(example.ScaledMountainCar, episodes=20)),
    "breakout": Task("MinAtar Breakout", breakout_network, MinAtarEpisodes("breakout"),
                     MinAtarEpisodes("breakout", episodes=20)),
}


def held_out(task: Task, weights: torch.Tensor, seed: int) -> float:
    """The mean return of 20 held-out episodes played by `weights`."""
    out = task.test(Policy.of(task.model, weights[None]), HELD_OUT_SEED + seed)
    return float(out["return"].mean())


def run_popbt(task: Task, seed: int, size: int, budget: int, sigma: float, parents: int,
              elite_episodes: int, crossover: float = 0.0) -> dict[str, Any]:
    """popbt's GA to `budget` episodes (the elite's extra episodes counted); the best
    member's held-out return at each check."""
    folder = Path(tempfile.mkdtemp())
    ga = GeneticPopulation(model_fn=task.model, evaluate=task.evaluate, size=size,
                           parents=parents, crossover=crossover,
                           elite_candidates=10, elite_episodes=elite_episodes,
                           sigma=sigma, seed=seed, name=f"ga-{seed}",
                           storage=f"sqlite:///{folder / 'ga.db'}",
                           checkpoints=folder / "checkpoints")
    checks, start = [], time.perf_counter()
    per_generation = size + 10 * elite_episodes
    generations = budget // per_generation
    marks = {max(1, round(f * generations)) for f in CHECKS}
    for g in range(1, generations + 1):
        best = ga.run(generations=g)
        if g in marks:
            assert best is not None
            checks.append((g * per_generation,
                           held_out(task, ga.weights(best.member_id), seed)))
    wall = time.perf_counter() - start
    return {"checks": checks, "wall_s": wall, "storage": ga.storage_per_member()}


def run_evotorch(task: Task, seed: int, size: int, budget: int, sigma: float
                 ) -> dict[str, Any]:
    """EvoTorch's GeneticAlgorithm to `budget` episodes; its population's best's held-out
    return at each check."""
    from evotorch import Problem, SolutionBatch
    from evotorch.algorithms import GeneticAlgorithm
    from evotorch.operators import GaussianMutation

    model, evaluate = task.model, task.evaluate
    length = sum(p.numel() for p in model().parameters())

    class Task(Problem):
        def __init__(self) -> None:
            super().__init__("max", solution_length=length, dtype=torch.float32,
                             initial_bounds=(-1.0, 1.0), seed=seed)
            self.episodes = self.filled = 0

        def _fill(self, values: torch.Tensor) -> None:  # the same initial networks as popbt's
            for row in values:
                row.copy_(initial_weights(model, seed * 100_000 + self.filled))
                self.filled += 1

        def _evaluate_batch(self, batch: SolutionBatch) -> None:
            values = batch.values.detach().as_subclass(torch.Tensor).float().clone()
            out = evaluate(Policy.of(model, values), seed * 100_000 + self.episodes)
            self.episodes += len(values)
            batch.set_evals(out["return"].mean(1))

    problem = Task()
    searcher = GeneticAlgorithm(problem, operators=[GaussianMutation(problem, stdev=sigma)],
                                popsize=size)
    checks, start, marks = [], time.perf_counter(), [f * budget for f in CHECKS]
    while marks:
        searcher.step()
        while marks and problem.episodes >= marks[0]:
            marks.pop(0)
            best = searcher.population.values[int(searcher.population.argbest())]
            weights = torch.from_numpy(np.array(best.detach().cpu(), dtype=np.float32))
            checks.append((problem.episodes, held_out(task, weights, seed)))
    wall = time.perf_counter() - start
    return {"checks": checks, "wall_s": wall,
            "storage": {"genome_mean": float(length * 4), "genome_max": float(length * 4),
                        "checkpoint": float(length * 4)}}


def child(args: argparse.Namespace) -> None:
    """One (method, seed) run in this process; prints its result and peak memory as JSON."""
    torch.set_num_threads(1)
    task = TASKS[args.task]
    if args.child == "popbt":
        out = run_popbt(task, args.seed, args.size, args.episodes_budget, args.sigma,
                        args.parents, args.elite_episodes, args.crossover)
    else:
        out = run_evotorch(task, args.seed, args.size, args.episodes_budget, args.sigma)
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="mountaincar")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--episodes-budget", type=int, default=256 * 80)
    parser.add_argument("--sigma", type=float, default=0.05)
    parser.add_argument("--parents", type=int, default=20)
    parser.add_argument("--elite-episodes", type=int, default=30,
                        help="popbt: extra episodes of each of the 10 elite candidates")
    parser.add_argument("--crossover", type=float, default=0.0,
                        help="popbt: the probability that a child has two parents")
    parser.add_argument("--child", choices=("popbt", "evotorch"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    results: dict[str, list[dict[str, Any]]] = {"popbt": [], "evotorch": []}
    for seed in range(args.seeds):
        for method in results:
            done = subprocess.run(
                [sys.executable, __file__, "--child", method, "--seed", str(seed),
                 "--task", args.task,
                 "--size", str(args.size), "--episodes-budget", str(args.episodes_budget),
                 "--sigma", str(args.sigma), "--parents", str(args.parents),
                 "--elite-episodes", str(args.elite_episodes),
                 "--crossover", str(args.crossover)],
                capture_output=True, text=True, check=True)
            results[method].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"seed {seed} {method}: {results[method][-1]['checks']}", flush=True)
    report(results, args)


def report(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    """The side-by-side table: held-out return of the best at equal evaluations, time,
    memory, storage."""
    ours, theirs = results["popbt"], results["evotorch"]
    print(f"\n{TASKS[args.task].title}, population {args.size}, sigma {args.sigma}, elite "
          f"episodes {args.elite_episodes}, popbt crossover {args.crossover}, {args.seeds} "
          f"seeds, held-out return of each method's best (20 new episodes; higher is better)")
    print("| budget | popbt GA (median) | EvoTorch GA (median) | popbt better |")
    print("|---|---|---|---|")
    for k, fraction in enumerate(CHECKS):
        a = [r["checks"][k][1] for r in ours]
        b = [r["checks"][k][1] for r in theirs]
        wins = sum(x > y for x, y in zip(a, b, strict=True))
        ties = sum(x == y for x, y in zip(a, b, strict=True))
        spent = [r["checks"][k][0] for r in (*ours, *theirs)]
        print(f"| {fraction:.0%} ({min(spent):,}–{max(spent):,} episodes) | {np.median(a):.1f} | "
              f"{np.median(b):.1f} | {wins}/{len(a)}" + (f" ({ties} ties)" if ties else "")
              + " |")
    print("\n| | popbt GA | EvoTorch GA |\n|---|---|---|")
    for label, key in (("wall time, s (median)", "wall_s"), ("peak memory, MiB", "peak_mib")):
        print(f"| {label} | {np.median([r[key] for r in ours]):.1f} | "
              f"{np.median([r[key] for r in theirs]):.1f} |")
    genome = np.median([r["storage"]["genome_mean"] for r in ours])
    print(f"| bytes per genome (mean) | {genome:,.0f} | "
          f"{theirs[0]['storage']['genome_mean']:,.0f} |")
    total = np.median([r["storage"]["total_mean"] for r in ours])
    print(f"| bytes per member with its weight files (mean) | {total:,.0f} | "
          f"{theirs[0]['storage']['genome_mean']:,.0f} |")
    print(f"| a full weight checkpoint, bytes | {ours[0]['storage']['checkpoint']:,.0f} | |")
    print("| lineage, resume from storage | yes | no |")


if __name__ == "__main__":
    main()
