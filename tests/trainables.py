"""Trainables the tests train; importable by worker processes (tests/ is on sys.path)."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

import popbt

SPACE = popbt.Space({"lr": popbt.LogUniform(1e-3, 1.0), "noise": popbt.Uniform(0.0, 0.1)})


class Quadratic(popbt.Trainable):
    """Minimises x² by noisy gradient descent; score = -x² (higher is better).

    The RNG state, the position and a step counter are in the state dict, so a restored
    member continues exactly as the original would have.
    """

    sleep_per_step = 0.0

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.x = 5.0
        self.steps = 0

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        for _ in range(steps):
            self.x -= hparams["lr"] * 2 * self.x + hparams["noise"] * self.rng.normal()
            self.steps += 1
            if self.sleep_per_step:
                time.sleep(self.sleep_per_step)

    def evaluate(self) -> dict[str, float]:
        return {"score": -self.x * self.x, "x": self.x, "steps": float(self.steps)}

    def state_dict(self) -> dict[str, Any]:
        return {"x": self.x, "steps": self.steps, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.x = float(state["x"])
        self.steps = int(state["steps"])
        self.rng.bit_generator.state = state["rng"]


class SlowQuadratic(Quadratic):
    """Quadratic that sleeps 20 ms per step, so a worker can be killed mid-interval."""

    sleep_per_step = 0.02


class IntervalLog(SlowQuadratic):
    """SlowQuadratic that appends "seed pid start end" for every `train` call to the file named
    by $POPBT_TEST_INTERVALS (the seed identifies the member: it is derived from its id)."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.seed = seed
        super().setup(hparams, seed)

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        start = time.time()
        super().train(hparams, steps)
        with open(os.environ["POPBT_TEST_INTERVALS"], "a") as log:
            log.write(f"{self.seed} {os.getpid()} {start:.6f} {time.time():.6f}\n")


class Flaky(Quadratic):
    """Raises in `train` whenever lr > 0.3 (a deterministic failure of some members)."""

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        if hparams["lr"] > 0.3:
            raise RuntimeError(f"lr {hparams['lr']:.3f} diverged")
        super().train(hparams, steps)


class AlwaysFails(Quadratic):
    """Every member raises on its first interval."""

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        raise ZeroDivisionError("broken training code")


class NanForSmallLr(Quadratic):
    """Scores NaN whenever lr < 0.05."""

    def evaluate(self) -> dict[str, float]:
        result = super().evaluate()
        if self.last_lr < 0.05:
            result["score"] = math.nan
        return result

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        self.last_lr = hparams["lr"]
        super().train(hparams, steps)


class WrongMetric(Quadratic):
    """Returns a dict without the population's metric."""

    def evaluate(self) -> dict[str, float]:
        return {"accuracy": 0.5}


class Unstorable(Quadratic):
    """state_dict() holds an object the safe format refuses."""

    def state_dict(self) -> dict[str, Any]:
        return {"x": self.x, "handle": object()}


class CountsSetups(Quadratic):
    """Counts `setup` calls in this process (to see the worker's cache at work)."""

    setups = 0

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        type(self).setups += 1
        super().setup(hparams, seed)


MIX_TARGET = {"web": 0.6, "code": 0.3, "books": 0.1}
MIX_SPACE = popbt.Space({"mix": popbt.Simplex(list(MIX_TARGET), floor=0.02),
                         "lr": popbt.Uniform(0.5, 1.0)})


class Mixture(popbt.Trainable):
    """A stand-in for training on a data mixture: each step adds `lr` × (1 − the squared
    distance of the mixture `mix` from `MIX_TARGET`) to the score, so members whose mixture
    is nearer the target gain faster."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.quality = 0.0

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        mix = hparams["mix"]
        gap = sum((mix[k] - MIX_TARGET[k]) ** 2 for k in MIX_TARGET)
        self.quality += steps * hparams["lr"] * (1.0 - gap)

    def evaluate(self) -> dict[str, float]:
        return {"score": self.quality}

    def state_dict(self) -> dict[str, Any]:
        return {"quality": self.quality}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.quality = float(state["quality"])


TRADE_SPACE = popbt.Space({"share": popbt.Uniform(0.0, 1.0), "lr": popbt.Uniform(0.5, 1.0)})


class TradeOff(popbt.Trainable):
    """Two objectives that pull apart: every step adds `lr` × `share` to "left" and
    `lr` × (1 − `share`) to "right" (both maximised), so no setting of `share` is best at
    both and the front spans the shares; `lr` helps both."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.left = self.right = 0.0

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        self.left += steps * hparams["lr"] * hparams["share"]
        self.right += steps * hparams["lr"] * (1.0 - hparams["share"])

    def evaluate(self) -> dict[str, float]:
        return {"left": self.left, "right": self.right}

    def state_dict(self) -> dict[str, Any]:
        return {"left": self.left, "right": self.right}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.left, self.right = float(state["left"]), float(state["right"])


class OneObjective(TradeOff):
    """TradeOff that forgets to report "right"."""

    def evaluate(self) -> dict[str, float]:
        return {"left": self.left}
