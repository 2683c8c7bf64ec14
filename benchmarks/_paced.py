"""The trainable of benchmarks/pacing.py; a module of its own so worker processes import it.

`PacedToy` is the paper's toy problem (`popbt.demos.toy_trainable`) that reports its true
objective Q with Gaussian noise (sd `$POPBT_PACED_NOISE`, default 0.05) as `Q` and the
noiseless value as `true_Q`, and sleeps `$POPBT_PACED_STEP_S` seconds per step, times
`$POPBT_PACED_SLOW` in the one worker process that first creates the file
`$POPBT_PACED_FLAG` (the slow worker).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from popbt.demos.toy_trainable import ToyTrainable, q


class PacedToy(ToyTrainable):
    """The toy with a noisy reported score, at a worker-dependent pace."""

    slow: bool | None = None  # whether this process is the slow worker (decided once)

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        super().setup(hparams, seed)
        self.rng = np.random.default_rng(seed)

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        if PacedToy.slow is None:
            try:
                os.close(os.open(os.environ["POPBT_PACED_FLAG"], os.O_CREAT | os.O_EXCL))
                PacedToy.slow = True
            except FileExistsError:
                PacedToy.slow = False
        pace = float(os.environ.get("POPBT_PACED_STEP_S", "0.005"))
        time.sleep(steps * pace * (float(os.environ.get("POPBT_PACED_SLOW", "4"))
                                   if PacedToy.slow else 1.0))
        super().train(hparams, steps)

    def evaluate(self) -> dict[str, float]:
        true = float(q(*self.theta))
        noise = float(os.environ.get("POPBT_PACED_NOISE", "0.05"))
        return {"Q": true + float(self.rng.normal(0.0, noise)), "true_Q": true}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rng.bit_generator.state = state["rng"]
