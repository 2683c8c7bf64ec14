"""Trainables for the fault tests; importable by worker processes (tests/ is on sys.path)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from trainables import IntervalLog, Quadratic


class BadLoad(Quadratic):
    """Trains, but can never be restored from a checkpoint."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise ValueError("cannot restore this state")


class MixedState(Quadratic):
    """A state holding torch tensors beside a NumPy array and a NumPy scalar."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        import torch

        super().setup(hparams, seed)
        self.w = torch.zeros(3)
        self.history = np.zeros(2)

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        super().train(hparams, steps)
        self.w += steps
        self.history = np.append(self.history[1:], self.x)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "w": self.w.clone(), "history": self.history.copy(),
                "best": np.float64(-self.x * self.x)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        assert isinstance(state["history"], np.ndarray) and state["history"].shape == (2,)
        assert isinstance(state["best"], np.floating)
        self.w = state["w"].clone()
        self.history = state["history"].copy()


class SlowIntervalLog(IntervalLog):
    """IntervalLog at 0.1 s a step (one 1 s interval every 10 steps)."""

    sleep_per_step = 0.1


class Uneven(Quadratic):
    """Odd members (by seed) take four times as long per step as even ones."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        super().setup(hparams, seed)
        self.sleep_per_step = 0.008 if seed % 2 else 0.002


class Chaos(Quadratic):
    """Sleeps a random 0-40 ms per step (the member's own generator stays untouched), holds
    1 MB of ballast in its state (so kills also land in checkpoint writes), and appends
    "seed pid start end" per `train` call to $POPBT_TEST_INTERVALS."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.seed = seed
        self.timing = np.random.default_rng()
        self.ballast = np.zeros(1 << 17)
        super().setup(hparams, seed)

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        start = time.time()
        for _ in range(steps):
            super().train(hparams, 1)
            time.sleep(float(self.timing.uniform(0.0, 0.04)))
        with open(os.environ["POPBT_TEST_INTERVALS"], "a") as log:
            log.write(f"{self.seed} {os.getpid()} {start:.6f} {time.time():.6f}\n")

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "ballast": self.ballast}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.ballast = state["ballast"]
