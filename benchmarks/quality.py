"""Does PBT (or PB2) give a better model for the same compute? Against random search and a grid.

    python benchmarks/quality.py                                # every example, 5 seeds
    python benchmarks/quality.py --examples fashion_mnist --seeds 3 --json out.json
    python benchmarks/quality.py --examples cartpole,fashion_mnist,gan --population 4,8 \\
        --methods "pbt,pb2,random search" --seeds 10 --json pb2.json   # resumable
    python benchmarks/quality.py --examples fashion_mnist_activation --population 4,8 \\
        --methods "pbt,pb2mix,random search" --seeds 10 --json pb2.json
    python benchmarks/quality.py --examples noisy_toy --population 8 --seeds 10

For each example, population size and seed, populations are trained from scratch with
`workers` processes:
- **pbt**: the example's own exploit and explore;
- **pb2**: `popbt.PB2()` as the explore with the example's own exploit, so that only the
  explore differs from **pbt**; not for a space with an unordered Choice, which PB2 refuses;
- **pb2mix**: `popbt.PB2Mix()` the same way; only for a space with an unordered Choice
  (elsewhere it is PB2);
- **random search**: the same population size and the same initial hyperparameters (drawn
  from the same prior with the same seed), never changed, no exploit: the same total steps;
- **grid**: `len(grid)` fixed configurations on a grid over the space, each trained for the
  same number of steps, whatever `--population` says.
The examples are examples/*.py (digits: `popbt demo digits`'s population) and
`fashion_mnist_activation`, Fashion-MNIST with the hidden activation as an unordered Choice
(`benchmarks/_categorical.py`), the space for PB2-Mix. The best member of each run is the one
with the best selection score (validation accuracy, training return, mode score); the table
reports its score on data never used for selection: test accuracy, the mean return of 10
fresh episodes, the mode score of fresh noise. Per example, population and method: the median,
the spread (min–max over seeds) and the median wall time of training, as a markdown table;
then per example and population the seeds where PB2 (PB2-Mix) beat PBT and random search,
and the medians. `--population` (comma-separated) overrides the examples' 8 members.

`--json FILE` writes every run's result to FILE as soon as it finishes; when FILE exists its
runs (same example, population, method, seed and steps) are not run again, so an interrupted
benchmark goes on where it stopped, and the table covers every result in FILE.
`--examples noisy_toy` runs `benchmarks/noisy_toy.py`'s comparison of noise-robust exploits
(its defaults: σ = 0.1, 200 steps, 8 samples) with `--seeds` seeds for each population, and
prints its table. The expected time is printed (stderr) at the start, from per-step times
measured on a 2-core machine. `--quick` divides every run's steps by 5 (a smoke test, not a
result).
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import popbt
from popbt.space import Choice, Space
from popbt.trainable import Trainable

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # for `noisy_toy`

METHODS = ("pbt", "pb2", "pb2mix", "random search", "grid")
LABELS = {"pbt": "PBT", "pb2": "PB2", "pb2mix": "PB2-Mix", "random search": "random search",
          "grid": "grid"}
NOISY_TOY = "noisy_toy"
CATEGORICAL = "fashion_mnist_activation"
TARGET_EXAMPLES = ("cartpole", "fashion_mnist", "gan", CATEGORICAL)  # the four problems
TOY_RUN_S = 0.7  # seconds per noisy-toy run of 200 steps and 8 members, measured
KEY = ("example", "population", "method", "seed", "steps")
TOY_KEY = ("example", "population", "option", "seeds", "steps")


@dataclass(frozen=True)
class Task:
    """One example as the benchmark runs it; `start_s` and `step_s`: the seconds a run takes
    beyond its steps (processes, imports, data) and per member-step on one worker process,
    measured on a 2-core machine, for the time estimate."""

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
    start_s: float
    step_s: float

    @property
    def categorical(self) -> bool:
        """Whether the space holds an unordered Choice."""
        return any(isinstance(d, Choice) and not d.ordered for d in self.space.values())


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
    """The tasks: `popbt demo digits`'s population, three files of examples/ and the
    categorical variant of Fashion-MNIST, imported only when called (they need torch, and
    gymnasium for cartpole)."""
    from popbt._refs import load_file
    from popbt.demos import digits

    cartpole, fashion_mnist, gan = (load_file(HERE.parent / "examples" / f"{name}.py")
                                    for name in ("cartpole", "fashion_mnist", "gan"))
    categorical = load_file(HERE / "_categorical.py")
    fashion_levels = {"lr": 3, "momentum": 2, "weight_decay": 2, "batch_size": 2}

    return {
        "digits": Task("digits", digits.DigitsMLP, digits.SPACE, digits.METRIC, digits.READY,
                       digits.EXPLOIT, digits.EXPLORE, population=8, steps=1000,
                       grid_levels={"lr": 3, "momentum": 2, "weight_decay": 2, "batch_size": 2},
                       final=lambda m: m.test_accuracy(), final_name="test accuracy",
                       start_s=8.0, step_s=0.0015),
        "fashion_mnist": Task(
            "fashion_mnist", fashion_mnist.FashionMLP, fashion_mnist.space,
            fashion_mnist.metric, fashion_mnist.ready, fashion_mnist.exploit,
            fashion_mnist.explore, population=8, steps=2000, grid_levels=fashion_levels,
            final=lambda m: m.test_accuracy(), final_name="test accuracy", start_s=10.0,
            step_s=0.0020),
        "cartpole": Task("cartpole", cartpole.CartPoleA2C, cartpole.space, cartpole.metric,
                         cartpole.ready, cartpole.exploit, cartpole.explore,
                         population=8, steps=400,
                         grid_levels={"lr": 3, "entropy_coef": 2, "gamma": 2, "gae_lambda": 2},
                         final=lambda m: m.test_return(), final_name="return, 10 new episodes",
                         start_s=5.0, step_s=0.0070),
        "gan": Task("gan", gan.MixtureGAN, gan.space, gan.metric, gan.ready, gan.exploit,
                    gan.explore, population=8, steps=2000,
                    grid_levels={"generator_lr": 4, "discriminator_lr": 3, "beta1": 2},
                    final=lambda m: m.test_score(), final_name="mode score, new noise",
                    start_s=5.0, step_s=0.0029),
        CATEGORICAL: Task(
            CATEGORICAL, categorical.FashionActivationMLP, categorical.SPACE,
            fashion_mnist.metric, fashion_mnist.ready, fashion_mnist.exploit,
            fashion_mnist.explore, population=8, steps=2000,
            grid_levels={"lr": 3, "momentum": 1, "weight_decay": 1, "batch_size": 2,
                         "activation": 4},
            final=lambda m: m.test_accuracy(), final_name="test accuracy", start_s=10.0,
            step_s=0.0021),
    }


def unsuited(task: Task, method: str) -> str | None:
    """Why `method` is not run on `task` (None: it is)."""
    if method == "pb2" and task.categorical:
        return "PB2 takes no unordered Choice (PB2-Mix does)"
    if method == "pb2mix" and not task.categorical:
        return "no unordered Choice in the space: PB2-Mix would be PB2"
    return None


def strategies(task: Task, method: str) -> tuple[Any, Any]:
    """The exploit and explore `method` trains `task` with."""
    if method == "pbt":
        return task.exploit, task.explore
    if method in ("pb2", "pb2mix"):
        return task.exploit, popbt.PB2() if method == "pb2" else popbt.PB2Mix()
    return popbt.NoExploit(), None


def run_one(task: Task, method: str, population: int, seed: int, steps: int, workers: int,
            folder: Path) -> dict[str, Any]:
    """Train one population; return its best member's held-out score and the wall time
    (`population` is None in the result of a grid, which has its own size)."""
    exploit, explore = strategies(task, method)
    initial = grid(task.space, task.grid_levels) if method == "grid" else []
    size = len(initial) if method == "grid" else population
    pop = popbt.create_population(
        name=f"{task.name}-{method.replace(' ', '-')}-{population}-{seed}",
        storage=f"sqlite:///{folder / 'quality.db'}", space=task.space, size=size,
        metric=task.metric, seed=seed, ready=task.ready, initial=initial, exploit=exploit,
        explore=explore)
    start = time.perf_counter()
    best = pop.train(task.trainable, steps=steps, workers=workers, progress=False)
    wall = time.perf_counter() - start
    assert best is not None
    return {"example": task.name, "population": None if method == "grid" else population,
            "method": method, "seed": seed, "steps": steps, "members": size,
            "member_steps": size * steps, "selection_score": best.score,
            "score": task.final(pop.load(best.member_id)), "final_name": task.final_name,
            "wall_s": wall, "exploits": len(pop.events(kinds=[popbt.EventKind.EXPLOIT])),
            "exploit": repr(exploit), "explore": repr(explore), "best_hparams": best.hparams}


def key(result: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two results the same run (a rerun skips it)."""
    return tuple(result[k] for k in (TOY_KEY if result["example"] == NOISY_TOY else KEY))


def load_results(path: Path | None) -> list[dict[str, Any]]:
    """The results in `path` (none when it is None or missing).

    Raises:
        SystemExit: the file is not a list of this script's results.
    """
    if path is None or not path.exists():
        return []
    try:
        results = json.loads(path.read_text())
        for r in results:
            key(r)
    except (ValueError, TypeError, KeyError) as exc:
        raise SystemExit(f"{path}: not a results file of this script ({exc!r}); give "
                         f"another --json file") from None
    assert isinstance(results, list)
    return results


def save_results(path: Path | None, results: Sequence[dict[str, Any]]) -> None:
    """Write `results` to `path` through a temporary file, so that an interrupted write leaves
    the previous contents."""
    if path is not None:
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(list(results), indent=1))
        partial.replace(path)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _groups(results: Sequence[dict[str, Any]]) -> list[tuple[str, int | None]]:
    """(example, population) pairs in the order met, each example's grid last."""
    pairs = dict.fromkeys((r["example"], r["population"]) for r in results
                          if r["example"] != NOISY_TOY)
    examples = dict.fromkeys(name for name, _ in pairs)
    return [(name, p) for name in examples
            for p in sorted((p for n, p in pairs if n == name), key=lambda p: p or math.inf)]


def table(results: Sequence[dict[str, Any]]) -> str:
    """The markdown table: one row per example, population and method."""
    lines = ["| example | held-out score | population | method | members × steps | seeds | "
             "median | min – max | median wall s |", "|---|---|---|---|---|---|---|---|---|"]
    for name, population in _groups(results):
        for method in METHODS:
            rows = [r for r in results if r["example"] == name
                    and r["population"] == population and r["method"] == method]
            for steps in sorted({r["steps"] for r in rows}):
                mine = [r for r in rows if r["steps"] == steps]
                scores = [r["score"] for r in mine]
                lines.append(
                    f"| {name} | {mine[0]['final_name']} | {population or '—'} | {method} | "
                    f"{mine[0]['members']} × {steps} | {len(mine)} | "
                    f"{statistics.median(scores):.3f} | {min(scores):.3f} – "
                    f"{max(scores):.3f} | {statistics.median(r['wall_s'] for r in mine):.1f} |")
    return "\n".join(lines)


def _wins(mine: dict[int, float], theirs: dict[int, float]) -> str:
    """How often `mine` beat `theirs` (and tied with it) over the seeds both have."""
    common = sorted(set(mine) & set(theirs))
    wins = sum(mine[s] > theirs[s] for s in common)
    ties = sum(mine[s] == theirs[s] for s in common)
    return f"{wins}/{len(common)} seeds" + (f" ({ties} tied)" if ties else "")


def verdicts(results: Sequence[dict[str, Any]]) -> list[str]:
    """Per example and population, at the most steps it was run with: PBT against random
    search seed by seed; PB2 (PB2-Mix) against PBT and random search; the medians (the grid's
    too); then per population the issue's target (PB2 or PB2-Mix median ≥ PBT's on at least
    3 of `TARGET_EXAMPLES`)."""
    out = []
    reached: dict[int, list[bool]] = {}
    for name, population in _groups(results):
        mine = [r for r in results if r["example"] == name and r["population"] == population]
        if population is None or not mine:
            continue
        steps = max(r["steps"] for r in mine)
        by = {m: {r["seed"]: r["score"] for r in results if r["example"] == name and
                  r["method"] == m and r["steps"] == steps and
                  r["population"] in (population, None)} for m in METHODS}
        parts = []
        if by["pbt"] and by["random search"]:
            parts.append(f"PBT beat random search in {_wins(by['pbt'], by['random search'])}")
        for new in ("pb2", "pb2mix"):
            if by[new]:
                against = [f"{LABELS[m]} in {_wins(by[new], by[m])}"
                           for m in ("pbt", "random search") if by[m]]
                parts.append(f"{LABELS[new]} beat " + ", ".join(against) if against
                             else f"{LABELS[new]} alone")
                if by["pbt"] and name in TARGET_EXAMPLES:
                    reached.setdefault(population, []).append(
                        _median(list(by[new].values())) >= _median(list(by["pbt"].values())))
        medians = ", ".join(f"{LABELS[m]} {_median(list(by[m].values())):.3f}"
                            for m in METHODS if by[m])
        out.append(f"- {name}, population {population}, {steps} steps: " + "; ".join(
            parts + [f"medians {medians}"]))
    for population, met in sorted(reached.items()):
        out.append(f"- target at population {population}: PB2 (PB2-Mix) median ≥ PBT's on "
                   f"{sum(met)}/{len(met)} of {', '.join(TARGET_EXAMPLES)} (issue: 3 of 4: "
                   f"{'met' if sum(met) >= 3 else 'NOT met'})")
    return out


def _noisy_toy() -> ModuleType:
    return importlib.import_module("noisy_toy")


def run_noisy_toy(populations: Sequence[int], seeds: int, quick: bool,
                  results: list[dict[str, Any]], json_path: Path | None) -> None:
    """`benchmarks/noisy_toy.py`'s options with its defaults for each population, skipping the
    rows already in `results`; each row is added (and saved) as soon as it is done."""
    toy = _noisy_toy()
    steps = toy.STEPS // 5 if quick else toy.STEPS
    for population in populations:
        done = {key(r) for r in results}
        missing = [o for o in toy.OPTIONS
                   if (NOISY_TOY, population, o, seeds, steps) not in done]

        def keep(row: dict[str, Any], population: int = population) -> None:
            results.append({**row, "example": NOISY_TOY, "population": population,
                            "steps": steps, "noise": toy.NOISE, "samples": toy.SAMPLES})
            save_results(json_path, results)
            print(f"noisy toy, {population} members, {row['option']}: reached "
                  f"{row['reached']}/{row['seeds']}", file=sys.stderr, flush=True)

        if missing:
            toy.noisy_toy(noise=toy.NOISE, seeds=seeds, steps=steps, size=population,
                          samples=toy.SAMPLES, options=missing, on_row=keep)


def noisy_toy_tables(results: Sequence[dict[str, Any]]) -> list[str]:
    """`noisy_toy.table` for each (population, steps, seeds) in `results`, options in the
    script's order."""
    rows = [r for r in results if r["example"] == NOISY_TOY]
    if not rows:
        return []
    toy = _noisy_toy()
    order = {o: i for i, o in enumerate(toy.OPTIONS)}
    out = []
    for population, steps, seeds in sorted({(r["population"], r["steps"], r["seeds"])
                                            for r in rows}):
        mine = sorted((r for r in rows if (r["population"], r["steps"], r["seeds"])
                       == (population, steps, seeds)), key=lambda r: order.get(r["option"], 99))
        out.append(toy.table(mine, noise=mine[0]["noise"], steps=steps, size=population))
    return out


def estimate_s(task: Task, method: str, population: int, steps: int, workers: int) -> float:
    """Expected wall seconds of one run on a 2-core machine like the one `step_s` was
    measured on."""
    members = len(grid(task.space, task.grid_levels)) if method == "grid" else population
    return task.start_s + members * steps * task.step_s / min(workers, members)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default=f"digits,fashion_mnist,cartpole,gan,{CATEGORICAL}",
                        help=f"comma-separated, from: digits, fashion_mnist, cartpole, gan, "
                             f"{CATEGORICAL}, {NOISY_TOY}")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated, from: " + ", ".join(METHODS))
    parser.add_argument("--population", default="",
                        help="comma-separated member counts (each at least 2), e.g. 4,8; "
                             "default: each example's own (8)")
    parser.add_argument("--quick", action="store_true", help="steps ÷ 5: a smoke test")
    parser.add_argument("--json", type=Path,
                        help="results file: each run is added as it finishes, runs already "
                             "in it are skipped, the table covers all of it")
    args = parser.parse_args(argv)
    available = tasks()
    names = _split(args.examples)
    methods = _split(args.methods)
    for bad, valid, what in ((set(names) - set(available) - {NOISY_TOY},
                              [*available, NOISY_TOY], "example"),
                             (set(methods) - set(METHODS), METHODS, "method")):
        if bad:
            parser.error(f"unknown {what} {', '.join(sorted(bad))}; "
                         f"choose from {', '.join(valid)}")
    try:
        populations = [int(p) for p in _split(args.population)]
    except ValueError:
        parser.error(f"--population {args.population!r}: give whole numbers, e.g. 4,8")
    if any(p < 2 for p in populations):
        parser.error(f"--population {args.population!r}: every size must be at least 2")
    if args.seeds < 1 or args.workers < 1:
        parser.error("--seeds and --workers must be at least 1")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json {args.json}: no folder {args.json.parent}")
    results = load_results(args.json)
    done = {key(r) for r in results}
    plan = []
    for name in names:
        if name == NOISY_TOY:
            continue
        task = available[name]
        steps = max(task.ready.steps, task.steps // 5) if args.quick else task.steps
        kept = []
        for method in methods:
            reason = unsuited(task, method)
            if reason is None:
                kept.append(method)
            else:
                print(f"{name}: {method} left out: {reason}", file=sys.stderr)
        for seed in range(args.seeds):  # seed by seed: an interrupted run leaves pairs
            for method in kept:
                for population in ([None] if method == "grid"
                                   else populations or [task.population]):
                    if (name, population, method, seed, steps) not in done:
                        plan.append((task, method, population, seed, steps))
    toy = _noisy_toy()
    toy_populations = populations or [toy.SIZE]
    toy_steps = toy.STEPS // 5 if args.quick else toy.STEPS
    toy_s = sum(TOY_RUN_S * args.seeds * population / 8 * toy_steps / 200
                for population in toy_populations for option in toy.OPTIONS
                if NOISY_TOY in names
                and (NOISY_TOY, population, option, args.seeds, toy_steps) not in done)
    expected = toy_s + sum(estimate_s(task, method, population or task.population, steps,
                                      args.workers)
                           for task, method, population, _, steps in plan)
    where = f" ({len(results)} results already in {args.json})" if args.json else ""
    print(f"{len(plan)} runs to do{where}; expected about {expected / 60:.0f} min on a 2-core "
          f"machine", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="popbt-quality-") as tmp:
        for index, (task, method, population, seed, steps) in enumerate(plan):
            folder = Path(tmp) / str(index)
            folder.mkdir()
            result = run_one(task, method, population or task.population, seed, steps,
                             args.workers, folder)
            results.append(result)
            save_results(args.json, results)
            print(f"{task.name:14s} P={population or '-'} {method:14s} seed {seed}: "
                  f"{result['score']:.4f} (selection {result['selection_score']:.4f}, "
                  f"{result['exploits']} exploits, {result['wall_s']:.1f} s)",
                  file=sys.stderr, flush=True)
    if NOISY_TOY in names:
        run_noisy_toy(toy_populations, args.seeds, args.quick, results, args.json)
    if any(r["example"] != NOISY_TOY for r in results):
        print(table(results))
        print()
        print("\n".join(verdicts(results)))
    for text in noisy_toy_tables(results):
        print()
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
