"""`popbt demo toy`: the paper's Figure 2 through the public API, four variants over seeds.

Variants (two members from θ = (0.9, 0.9), h = (1, 0) and (0, 1), ready every 4 steps):
- pbt: the worse member copies θ and h of the better (ties at random), then adds Gaussian
  noise (σ = 0.1) to h, clipped to [0, 1];
- exploit only: copies, never explores;
- explore only: never copies, explores its own h at every ready point;
- grid search: neither (h stays fixed).

The noisy toy (`run_variant(..., noise=σ)`) adds Gaussian noise of standard deviation σ to
every Q a member reports, or reports `samples` such noisy values per evaluation; what is
measured is then the true, noise-free Q.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from popbt.demos.toy_trainable import INITIAL, SPACE, ToyTrainable, q
from popbt.strategies import Every, GaussianNoise, NoExploit, Truncation

if TYPE_CHECKING:
    from popbt.storage import Storage
    from popbt.strategies import Exploit

TARGET_Q = 1.19
VARIANTS: dict[str, tuple[Any, Any]] = {
    "pbt": (Truncation(fraction=0.5), GaussianNoise(sigma=0.1)),
    "exploit only": (Truncation(fraction=0.5), None),
    "explore only": (NoExploit(explore=True), GaussianNoise(sigma=0.1)),
    "grid search": (NoExploit(), None),
}


@dataclass(frozen=True)
class ToyRun:
    """One variant on one seed: the step Q ≥ 1.19 was first reached (None if never), the
    final Q of the best member, and every member's (step, θ0, θ1, Q) in commit order; `true_q`
    is the noise-free Q of the best member (`final_q` is the Q it reported: the same without
    noise). Steps and traces use the noise-free Q."""

    variant: str
    seed: int
    first_step: int | None
    final_q: float
    trace: dict[int, list[tuple[int, float, float, float]]]
    true_q: float


def toy_trainable(*, noise: float = 0.0, samples: int = 0) -> type[ToyTrainable]:
    """`ToyTrainable`, or with `noise` or `samples` the noisy toy (see `ToyTrainable`), a
    class for training in this process.

    Raises:
        ConfigError: `noise` is not a finite number >= 0, or `samples` not an integer >= 0.
    """
    from popbt.errors import ConfigError

    if isinstance(noise, bool) or not isinstance(noise, int | float) \
            or not 0.0 <= noise < float("inf"):
        raise ConfigError(f"noise={noise!r}: must be a finite number >= 0 (the standard "
                          f"deviation of the noise on the reported Q)")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
        raise ConfigError(f"samples={samples!r}: must be an integer >= 0 (0: one value of Q "
                          f"per evaluation)")
    if noise == 0 and samples == 0:
        return ToyTrainable

    class NoisyToyTrainable(ToyTrainable):
        pass

    NoisyToyTrainable.noise, NoisyToyTrainable.samples = float(noise), samples
    return NoisyToyTrainable


def run_variant(variant: str, seed: int, *, steps: int, storage: Storage,
                noise: float = 0.0, samples: int = 0, exploit: Exploit | None = None,
                size: int = 2, name: str | None = None) -> ToyRun:
    """Train the toy population of `variant` with `seed` in `storage`: with `noise` and
    `samples` the noisy toy (see `toy_trainable`), with `exploit` in place of the
    variant's, with `size` members (those after the paper's two start from h drawn from the
    prior), as population `name` (default: from the variant and seed).

    Raises:
        ConfigError: as `toy_trainable`, or `size` below 2.
    """
    from popbt.population import create_population

    default, explore = VARIANTS[variant]
    trainable = toy_trainable(noise=noise, samples=samples)
    pop = create_population(
        name=name or f"toy-{variant.replace(' ', '-')}-{seed}", storage=storage, space=SPACE,
        size=size, metric="Q", seed=seed, ready=Every(steps=4), exploit=exploit or default,
        explore=explore, initial=INITIAL, keep_checkpoints=1)
    pop.train(trainable, steps=steps, progress=False)
    trace: dict[int, list[tuple[int, float, float, float]]] = {m: [] for m in range(size)}
    for mid in trace:
        trace[mid].append((0, 0.9, 0.9, q(0.9, 0.9)))
    first = None
    for s in pop.scores():
        true_q = q(s.metrics["theta0"], s.metrics["theta1"])
        trace[s.member_id].append((s.step, s.metrics["theta0"], s.metrics["theta1"], true_q))
        if first is None and true_q >= TARGET_Q:
            first = s.step
    best = pop.best
    assert best is not None and best.score is not None
    return ToyRun(variant=variant, seed=seed, first_step=first, final_q=best.score, trace=trace,
                  true_q=q(best.metrics["theta0"], best.metrics["theta1"]))


def summarize(runs: list[ToyRun]) -> list[dict[str, Any]]:
    """Per variant: seeds, how many reached Q ≥ 1.19, median step to it, median final Q (the
    true Q of the best member: on the noisy toy, not the noisy value it reported)."""
    rows = []
    for variant in VARIANTS:
        mine = [r for r in runs if r.variant == variant]
        reached = [r.first_step for r in mine if r.first_step is not None]
        rows.append({
            "variant": variant, "seeds": len(mine), "reached": len(reached),
            "median_step_to_1.19": statistics.median(reached) if reached else None,
            "median_final_q": statistics.median(r.true_q for r in mine)})
    return rows


def table(rows: list[dict[str, Any]], steps: int) -> str:
    """A markdown table of `summarize`'s rows."""
    lines = [f"| variant | final Q (median) | reached Q ≥ {TARGET_Q} within {steps} steps | "
             f"median step to Q ≥ {TARGET_Q} |", "|---|---|---|---|"]
    for r in rows:
        step = r["median_step_to_1.19"]
        lines.append(f"| {r['variant']} | {r['median_final_q']:.4f} | "
                     f"{r['reached']}/{r['seeds']} | {'never' if step is None else f'{step:g}'} |")
    return "\n".join(lines)


def run_toy(*, seeds: int = 20, steps: int = 400, noise: float = 0.0,
            on_run: Callable[[ToyRun], None] | None = None) -> list[ToyRun]:
    """Every variant on seeds 0..seeds-1, as populations of one temporary SQLite file; with
    `noise`, on the noisy toy (see `run_variant`).

    Raises:
        ConfigError: `seeds` or `steps` is not an integer >= 1, or see `toy_trainable`.
    """
    from popbt.errors import ConfigError
    from popbt.storage import get_storage

    for name, value in (("seeds", seeds), ("steps", steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}={value!r}: must be an integer >= 1")
    runs = []
    with tempfile.TemporaryDirectory(prefix="popbt-toy-") as tmp:
        storage = get_storage(f"sqlite:///{Path(tmp) / 'toy.db'}")
        try:
            for variant in VARIANTS:
                for seed in range(seeds):
                    run = run_variant(variant, seed, steps=steps, storage=storage,
                                      noise=noise)
                    runs.append(run)
                    if on_run is not None:
                        on_run(run)
        finally:
            storage.close()
    return runs


def plot(runs: list[ToyRun], path: str | Path, *, seed: int = 0) -> Path:
    """The paper's Figure 2 for one seed: θ over the Q contours (top), Q against step (bottom).

    Raises:
        ImportError: matplotlib is missing (pip install 'popbt[plot]').
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError as exc:
        raise ImportError("the figure needs matplotlib: pip install 'popbt[plot]'") from exc
    fig, axes = plt.subplots(2, len(VARIANTS), figsize=(4 * len(VARIANTS), 7.5))
    grid = np.linspace(-0.1, 1.0, 200)
    t0, t1 = np.meshgrid(grid, grid)
    for col, variant in enumerate(VARIANTS):
        run = next(r for r in runs if r.variant == variant and r.seed == seed)
        top, bottom = axes[0][col], axes[1][col]
        top.contourf(t0, t1, q(t0, t1), levels=20, cmap="viridis", alpha=0.6)
        for mid, color in ((0, "tab:red"), (1, "tab:blue")):
            pts = run.trace[mid]
            top.plot([p[1] for p in pts], [p[2] for p in pts], ".-", color=color, ms=2,
                     lw=0.8, label=f"member {mid}")
            bottom.plot([p[0] for p in pts], [p[3] for p in pts], color=color, lw=1,
                        label=f"member {mid}")
        top.set_title(variant)
        top.set_xlabel("θ0")
        top.set_ylabel("θ1")
        top.set_xlim(-0.1, 1.0)
        top.set_ylim(-0.1, 1.0)
        bottom.axhline(1.2, color="grey", ls="--", lw=0.8)
        bottom.set_ylim(-0.5, 1.25)
        bottom.set_xlabel("step")
        bottom.set_ylabel("Q")
        bottom.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"PBT toy problem (Jaderberg et al. 2017, Fig. 2), seed {seed}")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
