"""Trainables of the tests of stop rules, callbacks and loggers; importable by worker
processes (tests/ is on sys.path)."""

from __future__ import annotations

import time
from typing import Any

import popbt

SPACE = popbt.Space({"lr": popbt.LogUniform(0.5, 2.0),
                     "width": popbt.Choice([16, 32, 64], ordered=True)})
space = SPACE  # as `popbt run` reads it
CAP = 20  # steps after which `Saturating` scores no better


class Saturating(popbt.Trainable):
    """Scores min(steps, CAP) / CAP (and 1 minus that as "gap"): every member improves until
    step CAP, then stays at 1.0 (a plateau). It logs its member id and step with every
    evaluation, and a training loss and the hyperparameters it read with `log`."""

    sleep_per_step = 0.0

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.steps = 0
        self.setup_as = (self.member_id, self.member_step)

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        start = self.member_step
        for _ in range(steps):
            self.steps += 1
            if self.sleep_per_step:
                time.sleep(self.sleep_per_step)
        self.log(loss=1.0 / (1 + self.steps), trained_from=start, lr_seen=hparams["lr"],
                 width_seen=hparams["width"])

    def evaluate(self) -> dict[str, float]:
        assert self.member_id is not None
        self.log(member=self.member_id, evaluated_at=self.member_step)
        score = min(self.steps, CAP) / CAP
        return {"score": score, "gap": 1.0 - score, "steps": float(self.steps)}

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])


class SlowSaturating(Saturating):
    """`Saturating` that sleeps 20 ms per step."""

    sleep_per_step = 0.02
