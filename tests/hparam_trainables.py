"""Trainables that misuse their hyperparameters, importable by worker processes (no torch)."""

from __future__ import annotations

from typing import Any

from trainables import Quadratic


class IgnoresNoise(Quadratic):
    """Quadratic whose `train` never reads `noise`, a name of the tests' space."""

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        for _ in range(steps):
            self.x -= hparams["lr"] * 2 * self.x
            self.steps += 1


class NoiseInSetup(Quadratic):
    """Quadratic that reads `noise` once, in `setup`, and keeps that value for good."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        super().setup(hparams, seed)
        self.noise = hparams["noise"]

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        for _ in range(steps):
            self.x -= hparams["lr"] * 2 * self.x + self.noise * self.rng.normal()
            self.steps += 1
