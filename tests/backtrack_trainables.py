"""A trainable that overshoots (importable by worker processes: tests/ is on sys.path)."""

from __future__ import annotations

from typing import Any

import popbt

SPACE = popbt.Space({"rate": popbt.Uniform(0.2, 1.0)})


class Overshoot(popbt.Trainable):
    """θ grows by `rate` per step from 0; the score -(θ - 5)² peaks at θ = 5 and falls after,
    so every member's best checkpoint is behind it by the end."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.theta = 0.0

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        self.theta += hparams["rate"] * steps

    def evaluate(self) -> dict[str, float]:
        return {"score": -(self.theta - 5.0) ** 2}

    def state_dict(self) -> dict[str, Any]:
        return {"theta": self.theta}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.theta = float(state["theta"])
