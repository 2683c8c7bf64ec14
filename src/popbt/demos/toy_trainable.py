"""The paper's toy problem (Jaderberg et al. 2017, Figure 2) as an ordinary Trainable.

The true objective is Q(θ) = 1.2 − (θ0² + θ1²); the learner only sees the surrogate
Q̂(θ | h) = 1.2 − (h0·θ0² + h1·θ1²) and does gradient ascent on it with step size 0.01.
"""

from __future__ import annotations

from typing import Any

from popbt.space import Space, Uniform
from popbt.trainable import Trainable

SPACE = Space({"h0": Uniform(0.0, 1.0), "h1": Uniform(0.0, 1.0)})
INITIAL = [{"h0": 1.0, "h1": 0.0}, {"h0": 0.0, "h1": 1.0}]
STEP_SIZE = 0.01


def q(theta0: Any, theta1: Any) -> Any:
    """The true objective Q(θ), of numbers or (elementwise) of NumPy arrays."""
    return 1.2 - (theta0 ** 2 + theta1 ** 2)


class ToyTrainable(Trainable):
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
