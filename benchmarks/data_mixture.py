"""Does PBT learn a data-mixture schedule worth having? `examples/data_mixture.py` at equal
training steps per model, against fixed mixtures.

    python benchmarks/data_mixture.py                 # 5 seeds, 15-30 minutes on 2 cores
    python benchmarks/data_mixture.py --quick         # a smoke run (short, not a result)

For each seed, every model trains `--steps` steps of the example's byte-level model on a
mixture of `code`, `docs` and the target `email` (its training split), scored by bits per
byte on the target's validation split:
- **uniform**: one third of each source, fixed;
- **target only**: the target's training split alone;
- **best of a grid**: every mixture whose weights are multiples of 1/4 (15 models: 15 times
  the budget of one), the one with the best validation loss;
- **PBT**: 8 members (8 times the budget of one), the example's settings: the mixture
  explored by Dirichlet moves around it, truncation 25%, ready every 100 steps; the best
  member.
Each is reported by its loss on the target's *test* split (never used for selection): the
median over seeds, and per seed whether PBT's was lower. Then the PBT best member's schedule
(seed 0's, and every seed's) is replayed on `LargerMixtureLM` (twice the width, a longer
context) against that larger model on the uniform mixture, same seeds. `--plot FILE` draws
seed 0's learned schedule (stacked weights over steps).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import popbt
from popbt._refs import load_file
from popbt.replay import replay, replay_member

HERE = Path(__file__).resolve().parent
example = load_file(HERE.parent / "examples" / "data_mixture.py")
SOURCES = example.SOURCES
UNIFORM = {s: 1 / len(SOURCES) for s in SOURCES}
GRID = [dict(zip(SOURCES, (a / 4, b / 4, (4 - a - b) / 4), strict=True))
        for a, b in itertools.product(range(5), repeat=2) if a + b <= 4]


def fixed(mixtures: list[dict[str, float]], steps: int, seed: int, folder: Path,
          tag: str) -> list[tuple[float, float]]:
    """(validation, test) loss of one model per fixed mixture (a population that never
    exploits or explores, so each member keeps its mixture)."""
    pop = popbt.create_population(
        name=f"{tag}-{seed}", storage=f"sqlite:///{folder / 'mix.db'}",
        space=example.space, size=max(2, len(mixtures)), metric=example.metric,
        mode=example.mode, seed=seed, ready=example.ready,
        exploit=popbt.NoExploit(explore=False), explore=None,
        initial=[{"mix": m} for m in mixtures] * (2 if len(mixtures) == 1 else 1))
    pop.train(example.MixtureLM, steps=steps, workers=2, progress=False)
    return [(float(m.score or 0.0), pop.load(m.member_id).test_loss())
            for m in pop.members[:len(mixtures)]]


def pbt(steps: int, seed: int, folder: Path) -> tuple[popbt.Population, float, float]:
    """The example's PBT population: (population, best's validation loss, its test loss)."""
    pop = popbt.create_population(
        name=f"pbt-{seed}", storage=f"sqlite:///{folder / 'mix.db'}", space=example.space,
        size=8, metric=example.metric, mode=example.mode, seed=seed, ready=example.ready,
        exploit=example.exploit, explore=example.explore)
    best = pop.train(example.MixtureLM, steps=steps, workers=2, progress=False)
    assert best is not None and best.score is not None
    return pop, best.score, pop.load(best.member_id).test_loss()


def larger(pop: popbt.Population, steps: int, seed: int) -> tuple[float, float]:
    """Test loss of `LargerMixtureLM` replaying the PBT best member's schedule, and of the
    same model on the uniform mixture."""
    best = pop.best
    assert best is not None
    learned = replay_member(pop, best.member_id, example.LargerMixtureLM, seed=seed)
    uniform = replay(example.LargerMixtureLM, [(0, {"mix": UNIFORM})], steps=steps,
                     ready_every=example.ready.steps, metric=example.metric, seed=seed)
    return learned.trainable.test_loss(), uniform.trainable.test_loss()


def run(seeds: int, steps: int, folder: Path, plot: str | None) -> str:
    rows: dict[str, list[float]] = {k: [] for k in (
        "uniform", "target only", "best of a grid (15×)", "PBT (8 members)")}
    replays: list[tuple[float, float]] = []
    schedules = []
    for seed in range(seeds):
        (uniform,) = fixed([UNIFORM], steps, seed, folder, "uniform")
        (target,) = fixed([{s: float(s == example.TARGET) for s in SOURCES}], steps, seed,
                          folder, "target")
        grid = fixed(GRID, steps, seed, folder, "grid")
        pop, _, pbt_test = pbt(steps, seed, folder)
        for key, value in zip(rows, (uniform[1], target[1], min(grid)[1], pbt_test),
                              strict=True):
            rows[key].append(value)
        replays.append(larger(pop, steps, seed))
        best = pop.best
        assert best is not None
        schedules.append(pop.schedule(best.member_id))
        if seed == 0 and plot:
            from popbt.report import plot_schedule

            plot_schedule(pop, best.member_id, plot)
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in rows.items())
              + f"; larger model: learned {replays[-1][0]:.3f}, uniform {replays[-1][1]:.3f}",
              file=sys.stderr, flush=True)
    pbt_losses = rows["PBT (8 members)"]
    lines = [f"| {seeds} seeds, {steps} steps per model | test bits per byte (median) | "
             "min – max | PBT lower |", "|---|---:|---|---:|"]
    for name, losses in rows.items():
        wins = "" if name.startswith("PBT") else \
            f"{sum(p < x for p, x in zip(pbt_losses, losses, strict=True))}/{seeds}"
        lines.append(f"| {name} | {statistics.median(losses):.3f} | {min(losses):.3f} – "
                     f"{max(losses):.3f} | {wins} |")
    learned = [a for a, _ in replays]
    uniform = [b for _, b in replays]
    lines += ["", f"- replayed on LargerMixtureLM: learned schedule "
              f"{statistics.median(learned):.3f} vs uniform "
              f"{statistics.median(uniform):.3f} bits per byte (median); learned "
              f"lower in {sum(a < b for a, b in replays)}/{seeds} seeds",
              "- seed 0's learned schedule (from step: code / docs / email):"]
    for step, hparams in schedules[0]:
        lines.append(f"  - {step}: " + " / ".join(f"{hparams['mix'][s]:.2f}" for s in SOURCES))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2000, help="training steps per model")
    parser.add_argument("--quick", action="store_true", help="1 seed, 200 steps: a smoke run")
    parser.add_argument("--plot", help="draw seed 0's learned schedule to this image file")
    args: Any = parser.parse_args(argv)
    if args.seeds < 1 or args.steps < 100:
        parser.error("--seeds must be at least 1 and --steps at least 100")
    seeds, steps = (1, 200) if args.quick else (args.seeds, args.steps)
    with tempfile.TemporaryDirectory(prefix="popbt-mixture-") as tmp:
        print(run(seeds, steps, Path(tmp), args.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
