"""The noisy toy: does a noise-robust exploit reach the optimum more often than plain truncation?

    python benchmarks/noisy_toy.py                            # σ = 0.1, 8 members, 200 steps
    python benchmarks/noisy_toy.py --size 2 --steps 400       # the paper's two members
    python benchmarks/noisy_toy.py --noise 0.2 --seeds 30 --json out.json

The toy is the paper's Figure 2 (`popbt.demos.toy`: Q = 1.2 − θ0² − θ1², gradient ascent on
a surrogate weighted by h, ready every 4 steps, explore by Gaussian noise σ = 0.1 on h),
with Gaussian noise of standard deviation `--noise` added to every Q a member reports.
Members 0 and 1 start from the paper's h = (1, 0) and (0, 1), the others from h drawn from
the prior. Every option trains the same populations (same seeds, same initial h); an option
with samples reports `--samples` noisy values of Q per evaluation (its score is their mean:
that many times the evaluations of the others). A seed counts as reaching the optimum when
the true, noise-free Q of the member the run reports as best (by its noisy score) is ≥ 1.19
after `--steps` steps; "any member" counts seeds where some member got there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import popbt
from popbt.demos.toy import TARGET_Q, ToyRun, run_variant
from popbt.storage import get_storage

NOISE, STEPS, SIZE, SAMPLES, SEEDS = 0.1, 200, 8, 8, 20  # the defaults of `main`

# name → (the exploit given the noise's standard deviation, samples per evaluation, noisy)
OPTIONS: dict[str, tuple[Callable[[float], popbt.Exploit], int, bool]] = {
    "truncation, no noise (reference)": (lambda s: popbt.Truncation(fraction=0.25), 0, False),
    "truncation": (lambda s: popbt.Truncation(fraction=0.25), 0, True),
    "truncation, margin=σ": (lambda s: popbt.Truncation(fraction=0.25, margin=s), 0, True),
    "truncation, margin_se=1 (recent scores)":
        (lambda s: popbt.Truncation(fraction=0.25, margin_se=1.0), 0, True),
    "TTest (window 10, α 0.05)": (lambda s: popbt.TTest(), 0, True),
    "truncation on the mean of the samples":
        (lambda s: popbt.Truncation(fraction=0.25), -1, True),
    "truncation, margin_se=2 (samples)":
        (lambda s: popbt.Truncation(fraction=0.25, margin_se=2.0), -1, True),
    "TTest on the samples (α 0.05)": (lambda s: popbt.TTest(), -1, True),
}


def _any_member_q(run: ToyRun) -> float:
    return max(points[-1][3] for points in run.trace.values())


def noisy_toy(*, noise: float, seeds: int, steps: int, size: int, samples: int,
              options: Sequence[str] = tuple(OPTIONS),
              on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Every option of `options` on seeds 0..seeds-1; one row per option (see the module
    docstring), in one temporary SQLite file."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="popbt-noisy-toy-") as tmp:
        storage = get_storage(f"sqlite:///{Path(tmp) / 'toy.db'}")
        try:
            for index, option in enumerate(options):
                make, n, noisy = OPTIONS[option]
                n = samples if n < 0 else n
                runs = [run_variant("pbt", seed, steps=steps, storage=storage,
                                    noise=noise if noisy else 0.0, samples=n,
                                    exploit=make(noise), size=size, name=f"o{index}-s{seed}")
                        for seed in range(seeds)]
                row = {"option": option, "evaluations": max(1, n), "seeds": seeds,
                       "reached": sum(r.true_q >= TARGET_Q for r in runs),
                       "reached_any": sum(_any_member_q(r) >= TARGET_Q for r in runs),
                       "median_true_q": statistics.median(r.true_q for r in runs),
                       "true_q": [r.true_q for r in runs]}
                rows.append(row)
                if on_row is not None:
                    on_row(row)
        finally:
            storage.close()
    return rows


PLAIN = "truncation"  # what the robust options are measured against
REFERENCE = "truncation, no noise (reference)"


def table(rows: Sequence[dict[str, Any]], *, noise: float, steps: int, size: int) -> str:
    """A markdown table of `noisy_toy`'s rows, then (when plain truncation is among them) the
    robust options that reached the target in more seeds than it."""
    lines = [f"Noisy toy: σ = {noise:g} on every reported Q, {size} members, {steps} steps, "
             f"{rows[0]['seeds']} seeds; true Q of the reported best member",
             "",
             f"| option | evaluations per interval | reached Q ≥ {TARGET_Q} | any member "
             f"reached | median final true Q |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['option']} | {r['evaluations']} | {r['reached']}/{r['seeds']} | "
                     f"{r['reached_any']}/{r['seeds']} | {r['median_true_q']:.4f} |")
    plain = next((r for r in rows if r["option"] == PLAIN), None)
    if plain is not None:
        better = [f"{r['option']} ({r['reached']}/{r['seeds']})" for r in rows
                  if r["option"] not in (PLAIN, REFERENCE) and r["reached"] > plain["reached"]]
        lines += ["", f"- robust options reaching Q ≥ {TARGET_Q} in more seeds than plain "
                  f"truncation ({plain['reached']}/{plain['seeds']}): "
                  f"{', '.join(better) or 'none'} (issue: at least one)"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, default=NOISE,
                        help=f"standard deviation of the noise on the reported Q ({NOISE})")
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--size", type=int, default=SIZE,
                        help=f"members ({SIZE}; the paper's: 2)")
    parser.add_argument("--samples", type=int, default=SAMPLES,
                        help="noisy values of Q per evaluation for the options with samples")
    parser.add_argument("--options", nargs="+", choices=list(OPTIONS), default=list(OPTIONS))
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    rows = noisy_toy(noise=args.noise, seeds=args.seeds, steps=args.steps, size=args.size,
                     samples=args.samples, options=args.options,
                     on_row=lambda r: print(f"{r['option']}: {r['reached']}/{r['seeds']}",
                                            file=sys.stderr, flush=True))
    print(table(rows, noise=args.noise, steps=args.steps, size=args.size))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
