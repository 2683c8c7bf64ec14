"""Does PBT translate better for the same compute? The translation example, against the same
model trained with fixed hyperparameters.

    python benchmarks/translation.py                    # 3 seeds, about 12 minutes
    python benchmarks/translation.py --seeds 5 --json out.json

For each seed, two populations of `examples/translation.py`'s `EnglishToFrench` are trained
from scratch with `workers` processes:
- **pbt**: the example's own ready, exploit (truncation 25%) and explore (×0.8/×1.2);
- **fixed**: the same size and the same initial hyperparameters (drawn from the same prior
  with the same seed), never changed, no exploit: the same steps per member.
The best member of each is the one with the best validation BLEU (the population's metric);
the table reports its BLEU on the 1,000 test sentences, never used for selection, seed by
seed, with the medians, the number of seeds PBT won and the median wall time of training.
`--quick` divides the steps by 4 (a smoke test, not a result).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import popbt
from popbt._refs import load_file

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "translation.py"
METHODS = ("pbt", "fixed")


def run_one(example: Any, method: str, seed: int, size: int, steps: int, workers: int,
            folder: Path) -> dict[str, Any]:
    """Train one population; return its best member's validation and test BLEU."""
    kwargs: dict[str, Any] = (
        {"exploit": example.exploit, "explore": example.explore} if method == "pbt"
        else {"exploit": popbt.NoExploit(), "explore": None})
    pop = popbt.create_population(
        name=f"translation-{method}-{seed}", storage=f"sqlite:///{folder / 'bench.db'}",
        space=example.space, size=size, metric=example.metric, mode=example.mode, seed=seed,
        ready=example.ready, checkpoints=folder / "checkpoints", **kwargs)
    start = time.perf_counter()
    best = pop.train(example.EnglishToFrench, steps=steps, workers=workers, progress=False)
    wall = time.perf_counter() - start
    assert best is not None
    model = pop.load(best.member_id, trainable=example.EnglishToFrench)
    return {"method": method, "seed": seed, "members": size, "steps": steps,
            "validation_bleu": best.score, "test_bleu": model.test_bleu(), "wall_s": wall,
            "exploits": len(pop.events(kinds=[popbt.EventKind.EXPLOIT])),
            "best_hparams": best.hparams}


def table(results: Sequence[dict[str, Any]]) -> str:
    """The markdown table: one row per seed, then the medians."""
    by = {(r["method"], r["seed"]): r for r in results}
    seeds = sorted({r["seed"] for r in results})
    lines = ["| seed | PBT test BLEU | fixed test BLEU | PBT validation | fixed validation | "
             "PBT exploits |", "|---|---|---|---|---|---|"]
    for seed in seeds:
        pbt, fixed = by["pbt", seed], by["fixed", seed]
        lines.append(f"| {seed} | {pbt['test_bleu']:.1f} | {fixed['test_bleu']:.1f} | "
                     f"{pbt['validation_bleu']:.1f} | {fixed['validation_bleu']:.1f} | "
                     f"{pbt['exploits']} |")
    medians = {m: [statistics.median(by[m, s][k] for s in seeds)
                   for k in ("test_bleu", "validation_bleu")] for m in METHODS}
    lines.append(f"| median | {medians['pbt'][0]:.1f} | {medians['fixed'][0]:.1f} | "
                 f"{medians['pbt'][1]:.1f} | {medians['fixed'][1]:.1f} | |")
    wins = sum(by["pbt", s]["test_bleu"] > by["fixed", s]["test_bleu"] for s in seeds)
    walls = {m: statistics.median(by[m, s]["wall_s"] for s in seeds) for m in METHODS}
    return "\n".join(lines) + (
        f"\n\nPBT beat fixed hyperparameters on test BLEU in {wins}/{len(seeds)} seeds "
        f"(median wall time of training: PBT {walls['pbt']:.0f} s, fixed "
        f"{walls['fixed']:.0f} s).")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--population", type=int, default=4)
    parser.add_argument("--steps", type=int, default=400, help="steps per member")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="steps ÷ 4: a smoke test")
    parser.add_argument("--json", type=Path, help="also write every run's result here")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.workers < 1 or args.population < 2 or args.steps < 1:
        parser.error("--seeds, --workers and --steps must be at least 1, --population 2")
    example = load_file(EXAMPLE)
    steps = max(example.ready.steps, args.steps // 4) if args.quick else args.steps
    results = []
    with tempfile.TemporaryDirectory(prefix="popbt-translation-") as tmp:
        for seed in range(args.seeds):
            for method in METHODS:
                folder = Path(tmp) / f"{method}-{seed}"
                folder.mkdir()
                result = run_one(example, method, seed, args.population, steps, args.workers,
                                 folder)
                results.append(result)
                print(f"{method:6s} seed {seed}: test BLEU {result['test_bleu']:.2f} "
                      f"(validation {result['validation_bleu']:.2f}, {result['exploits']} "
                      f"exploits, {result['wall_s']:.0f} s)", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(f"{args.population} members x {steps} steps each, {args.workers} workers\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
