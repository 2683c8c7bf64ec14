"""How fast does a population train as one batched model? Loop vs worker processes vs vmap.

    python benchmarks/vectorized.py               # speed, digits quality, reinforcement learning
    python benchmarks/vectorized.py --sections rl,rl-quality  # CartPole, loop vs vectorized
    python benchmarks/vectorized.py --quick       # a smoke run (short, not a result)

Speed: member-steps per second (one member-step = one SGD-with-momentum step of one member on
a batch of 64 digits images) for populations of 8, 32 and 128, on the digits MLP
(64→128→10) and a larger MLP (64→512→512→10), three ways in one run:
- **loop**: P ordinary modules and `torch.optim.SGD` optimizers in one Python loop (one
  process), training only, with 1 thread and with torch's default threads (the ratios use the
  faster);
- **workers**: a popbt population trained by 2 worker processes (`TorchTrainable`, ready
  every 100 steps with evaluation, checkpoints and records), start-up included;
- **vectorized**: `VectorizedPopulation` (ready every 100 steps with evaluation, snapshots and
  records), in one process.
Achieved GFLOP/s count 6 × batch × weights per member-step (forward and backward matmuls)
against the machine's ceiling: a 2048×2048 float32 matmul on the same threads.

Quality: PBT on digits (16 members, 1,000 steps, ready every 100) by the worker loop and by
the vectorized trainer, over seeds 0–4: the best member's test accuracy.

Reinforcement learning (see `benchmarks/_vectorized_rl.py`): the CartPole example's A2C
population by the worker loop and by `VectorizedActorCritic`: environment steps per second
for each of `--rl-sizes` (section `rl`), and PBT's test return at equal steps per member for
`--rl-quality-size` members over `--seeds` seeds (section `rl-quality`); PPO on Acrobot with
the default agent (separate actor and critic) against a shared trunk (section `rl-acrobot`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

import popbt
from popbt._refs import load_file
from popbt.demos.digits import EXPLOIT, EXPLORE, READY, SPACE, DigitsMLP, load_data
from popbt.torch import TorchTrainable
from popbt.vectorized import VectorizedPopulation

HERE = Path(__file__).resolve().parent
SECTIONS = ("speed", "quality", "rl", "rl-quality", "rl-acrobot")
BATCH = 64
SPEED_SPACE = popbt.Space({"lr": popbt.LogUniform(1e-3, 0.1),
                           "momentum": popbt.Uniform(0.5, 0.99)})
SHAPES = {"digits MLP": (64, 128, 10), "larger MLP": (64, 512, 512, 10)}


def mlp(*sizes: int) -> nn.Module:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


def digits_mlp() -> nn.Module:
    return mlp(*SHAPES["digits MLP"])


def larger_mlp() -> nn.Module:
    return mlp(*SHAPES["larger MLP"])


MODELS: dict[str, Callable[[], nn.Module]] = {"digits MLP": digits_mlp,
                                              "larger MLP": larger_mlp}


class SpeedMLP(TorchTrainable):
    """The speed test's member for the worker path: SGD with momentum, a fixed batch."""

    model_fn: Callable[[], nn.Module] = digits_mlp

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        self.data = load_data()
        model = type(self).model_fn()
        return model, torch.optim.SGD(model.parameters(), lr=hparams["lr"],
                                      momentum=hparams["momentum"])

    def train_step(self, hparams: dict[str, Any]) -> None:
        x, y = self.data["train"]
        idx = torch.randint(0, len(y), (BATCH,), generator=self.generator)
        loss = nn.functional.cross_entropy(self.model(x[idx]), y[idx])
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def evaluate(self) -> dict[str, float]:
        x, y = self.data["val"]
        with torch.no_grad():
            return {"accuracy": float((self.model(x).argmax(1) == y).float().mean())}


class SpeedLargerMLP(SpeedMLP):
    model_fn = larger_mlp


TRAINABLES = {"digits MLP": SpeedMLP, "larger MLP": SpeedLargerMLP}


def flops_per_member_step(shape: Sequence[int]) -> float:
    weights = sum(a * b for a, b in zip(shape[:-1], shape[1:], strict=True))
    return 6.0 * BATCH * weights


def ceiling_gflops() -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    start = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * 2048**3 / (time.perf_counter() - start) / 1e9


def loop_speed(model: str, size: int, steps: int) -> tuple[float, float]:
    """Member-steps per second of the plain loop with 1 thread and with the default."""
    default = torch.get_num_threads()
    speeds = []
    for threads in (1, default):
        torch.set_num_threads(threads)
        try:
            speeds.append(_loop(model, size, steps))
        finally:
            torch.set_num_threads(default)
    return speeds[0], speeds[1]


def _loop(model: str, size: int, steps: int) -> float:
    x, y = load_data()["train"]
    models = []
    for i in range(size):
        torch.manual_seed(i)
        models.append(MODELS[model]())
    opts = [torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for m in models]
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(steps):
        for m, opt in zip(models, opts, strict=True):
            idx = torch.randint(0, len(y), (BATCH,), generator=gen)
            loss = nn.functional.cross_entropy(m(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return size * steps / (time.perf_counter() - start)


def worker_speed(model: str, size: int, steps: int, folder: Path) -> float:
    pop = popbt.create_population(
        name=f"speed-{model}-{size}".replace(" ", "-"),
        storage=f"sqlite:///{folder / 'speed.db'}", space=SPEED_SPACE, size=size,
        metric="accuracy", ready=popbt.Every(steps=100), exploit=popbt.Truncation(0.25))
    start = time.perf_counter()
    pop.train(TRAINABLES[model], steps=steps, workers=2, progress=False)
    return size * steps / (time.perf_counter() - start)


def vectorized_speed(model: str, size: int, steps: int, folder: Path) -> float:
    data = load_data()
    vp = VectorizedPopulation(
        model_fn=MODELS[model], size=size, space=SPEED_SPACE, optimizer="sgd",
        metric="accuracy", ready=popbt.Every(steps=100), exploit=popbt.Truncation(0.25),
        batch_size=BATCH, name=f"vec-{model}-{size}".replace(" ", "-"),
        storage=f"sqlite:///{folder / 'speed.db'}")
    start = time.perf_counter()
    vp.train({"train": data["train"], "val": data["val"]}, steps=steps)
    return size * steps / (time.perf_counter() - start)


def speed_table(sizes: Sequence[int], quick: bool, folder: Path) -> str:
    ceiling = ceiling_gflops()
    lines = [f"ceiling: {ceiling:.1f} GFLOP/s (2048² float32 matmul, "
             f"{torch.get_num_threads()} threads)", "",
             f"| model | P | loop, 1 thread | loop, {torch.get_num_threads()} threads | "
             "workers (2 processes) | vectorized | vectorized ÷ best loop | "
             "vectorized ÷ workers | vectorized GFLOP/s (% of ceiling) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for model, shape in SHAPES.items():
        for size in sizes:
            budget = 2_000 if quick else 20_000 if model == "digits MLP" else 6_000
            steps = max(100, budget // size // 100 * 100)
            single, default = loop_speed(model, size, max(10, steps // 4))
            workers = worker_speed(model, size, steps, folder)
            vec = vectorized_speed(model, size, steps, folder)
            gflops = vec * flops_per_member_step(shape) / 1e9
            lines.append(f"| {model} | {size} | {single:,.0f} | {default:,.0f} | "
                         f"{workers:,.0f} | {vec:,.0f} | {vec / max(single, default):.1f}× | "
                         f"{vec / workers:.1f}× | {gflops:.1f} ({100 * gflops / ceiling:.0f}%) |")
            print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def quality(seeds: int, steps: int, folder: Path) -> str:
    data = load_data()
    x_test, y_test = data["test"]
    results: dict[str, list[float]] = {"worker loop (2 processes)": [], "vectorized": []}
    walls: dict[str, list[float]] = {k: [] for k in results}
    for seed in range(seeds):
        storage = f"sqlite:///{folder / 'quality.db'}"
        pop = popbt.create_population(
            name=f"workers-{seed}", storage=storage, space=SPACE, size=16, metric="accuracy",
            seed=seed, ready=READY, exploit=EXPLOIT, explore=EXPLORE)
        start = time.perf_counter()
        best = pop.train(DigitsMLP, steps=steps, workers=2, progress=False)
        walls["worker loop (2 processes)"].append(time.perf_counter() - start)
        results["worker loop (2 processes)"].append(pop.load(best.member_id).test_accuracy())
        vp = VectorizedPopulation(
            model_fn=digits_mlp, size=16, space=SPACE, optimizer="sgd", metric="accuracy",
            seed=seed, ready=READY, exploit=EXPLOIT, explore=EXPLORE, name=f"vec-{seed}",
            storage=storage)
        start = time.perf_counter()
        best = vp.train({"train": data["train"], "val": data["val"]}, steps=steps)
        walls["vectorized"].append(time.perf_counter() - start)
        with torch.no_grad():
            logits = vp.member_model(best.member_id)(x_test)
        results["vectorized"].append(float((logits.argmax(1) == y_test).float().mean()))
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in results.items()),
              file=sys.stderr, flush=True)
    lines = ["| digits PBT, 16 members | test accuracy (median) | min – max | "
             "median wall s |", "|---|---|---|---|"]
    for name, accs in results.items():
        lines.append(f"| {name} | {statistics.median(accs):.4f} | {min(accs):.4f} – "
                     f"{max(accs):.4f} | {statistics.median(walls[name]):.1f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test")
    parser.add_argument("--sizes", default="8,32,128", help="population sizes")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the quality checks")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help="comma-separated, from: " + ", ".join(SECTIONS))
    parser.add_argument("--rl-sizes", default="8,32,128", help="population sizes, RL speed")
    parser.add_argument("--rl-quality-size", type=int, default=32,
                        help="population size of the RL quality check")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",")]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {unknown}; choose from {', '.join(SECTIONS)}")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        rl_sizes = [int(s) for s in args.rl_sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes {args.sizes!r}, --rl-sizes {args.rl_sizes!r}: give "
                     f"comma-separated integers")
    if any(s < 2 for s in sizes + rl_sizes + [args.rl_quality_size]) or args.seeds < 1:
        parser.error("population sizes must be at least 2 and --seeds at least 1")
    seeds = 1 if args.quick else args.seeds
    with tempfile.TemporaryDirectory(prefix="popbt-vectorized-") as tmp:
        if "speed" in sections:
            print(speed_table(sizes, args.quick, Path(tmp)), end="\n\n")
        if "quality" in sections:
            print(quality(seeds, 200 if args.quick else 1000, Path(tmp)), end="\n\n")
        if {"rl", "rl-quality", "rl-acrobot"} & set(sections):
            rl = load_file(HERE / "_vectorized_rl.py")
        if "rl" in sections:
            print(rl.speed_table(rl_sizes, 10 if args.quick else 50, Path(tmp)), end="\n\n")
        if "rl-quality" in sections:
            print(rl.quality(args.rl_quality_size, 40 if args.quick else 400, seeds, Path(tmp)),
                  end="\n\n")
        if "rl-acrobot" in sections:
            print(rl.acrobot(8, 20 if args.quick else 100, seeds, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
