"""The paper's toy problem (Jaderberg et al. 2017, Figure 2), complete.

    popbt run examples/toy.py --population 2 --steps 400    # with the CLI
    python examples/toy.py                                   # with the Python API

Two members start at θ = (0.9, 0.9) with h = (1, 0) and (0, 1). The true objective is
Q(θ) = 1.2 − (θ0² + θ1²); each member only sees the surrogate
Q̂(θ | h) = 1.2 − (h0·θ0² + h1·θ1²) and does gradient ascent on it with step size 0.01, so
with fixed h it stops at Q = 0.39. PBT copies the better member's θ and h and adds Gaussian
noise to h, and reaches Q ≈ 1.2.
"""

from __future__ import annotations

from typing import Any

import popbt

STEP_SIZE = 0.01


def q(theta0: float, theta1: float) -> float:
    """The true objective Q(θ)."""
    return 1.2 - (theta0 ** 2 + theta1 ** 2)


class ToyTrainable(popbt.Trainable):
    """θ starts at (0.9, 0.9); each step ascends the surrogate under the current h.

    `evaluate` returns the true objective Q (the metric) and θ, so trajectories are recorded.
    """

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.theta = [0.9, 0.9]

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        h = (hparams["h0"], hparams["h1"])
        for _ in range(steps):
            # d/dθi of 1.2 − Σ hi θi² is −2 hi θi
            self.theta = [t - STEP_SIZE * 2.0 * hi * t for t, hi in zip(self.theta, h,
                                                                        strict=True)]

    def evaluate(self) -> dict[str, float]:
        return {"Q": q(*self.theta), "theta0": self.theta[0], "theta1": self.theta[1]}

    def state_dict(self) -> dict[str, Any]:
        return {"theta": list(self.theta)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.theta = [float(t) for t in state["theta"]]


space = popbt.Space({"h0": popbt.Uniform(0.0, 1.0), "h1": popbt.Uniform(0.0, 1.0)})
metric = "Q"
mode = "max"
initial = [{"h0": 1.0, "h1": 0.0}, {"h0": 0.0, "h1": 1.0}]
ready = popbt.Every(steps=4)
exploit = popbt.Truncation(fraction=0.5)
explore = popbt.GaussianNoise(sigma=0.1)

if __name__ == "__main__":
    pop = popbt.create_population(
        name="toy", storage="sqlite:///popbt.db", space=space, size=2, metric=metric,
        mode=mode, seed=0, ready=ready, exploit=exploit, explore=explore, initial=initial,
        load_if_exists=True)
    # a step takes microseconds: in one process the two members take turns, as in the
    # paper, where two worker processes would race through their 400 steps one after the other
    best = pop.train(ToyTrainable, steps=400)
    print(f"best member {best.member_id}: Q = {best.score:.4f} at step {best.step}, "
          f"h = {best.hparams}")
