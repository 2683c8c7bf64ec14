"""The paper's toy problem (Jaderberg et al. 2017, Figure 2) as an ordinary Trainable.

The true objective is Q(θ) = 1.2 − (θ0² + θ1²); the learner only sees the surrogate
Q̂(θ | h) = 1.2 − (h0·θ0² + h1·θ1²) and does gradient ascent on it with step size 0.01.
The noisy toy adds Gaussian noise to the Q it reports (see `ToyTrainable`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

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
    The noisy toy is a subclass that sets `noise` (> 0: the standard deviation of Gaussian
    noise added to the reported Q, which then also reports the noise-free value as
    "true_Q") and `samples` (n >= 1: "Q" is a list of n such noisy evaluations, whose mean is
    the score). The noise is drawn from the member's seed and step, so a run repeats exactly.

    Examples:
        >>> class Noisy(ToyTrainable):
        ...     noise, samples = 0.1, 3
        >>> model = Noisy()
        >>> model.setup({"h0": 1.0, "h1": 1.0}, seed=0)
        >>> result = model.evaluate()
        >>> len(result["Q"]), round(result["true_Q"], 2)
        (3, -0.42)
    """

    noise: ClassVar[float] = 0.0
    samples: ClassVar[int] = 0

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.theta = [0.9, 0.9]
        self.seed = seed

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        h = (hparams["h0"], hparams["h1"])
        for _ in range(steps):
            # d/dθi of 1.2 − Σ hi θi² is −2 hi θi
            self.theta = [t - STEP_SIZE * 2.0 * hi * t for t, hi in zip(self.theta, h,
                                                                        strict=True)]

    def evaluate(self) -> dict[str, Any]:
        true_q = q(*self.theta)
        result: dict[str, Any] = {"Q": true_q, "theta0": self.theta[0], "theta1": self.theta[1]}
        if self.noise > 0 or self.samples > 0:
            noise = np.random.default_rng([self.seed, self.member_step]).normal(
                0.0, self.noise, size=max(1, self.samples))
            values = [true_q + float(x) for x in noise]
            result.update(Q=values if self.samples > 0 else values[0], true_Q=true_q)
        return result

    def state_dict(self) -> dict[str, Any]:
        return {"theta": list(self.theta)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.theta = [float(t) for t in state["theta"]]
