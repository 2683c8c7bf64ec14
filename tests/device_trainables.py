"""Trainables of the device tests; importable by worker processes (tests/ is on sys.path)."""

from __future__ import annotations

import os
import time
from typing import Any

import torch

from popbt.torch import TorchTrainable
from trainables import SlowQuadratic


class EnvRecorder(SlowQuadratic):
    """SlowQuadratic that appends "pid CUDA_VISIBLE_DEVICES POPBT_ASSIGNED_GPUS" ("-" for
    unset) to the file named by $POPBT_TEST_DEVICES when it is set up.

    With $POPBT_TEST_DEVICES_PROCESSES=n, setup then waits (up to 60 s) until n distinct
    processes have written, so that on a loaded machine one worker cannot finish the whole
    run before the others start."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        super().setup(hparams, seed)
        seen = [os.environ.get(v, "-") for v in ("CUDA_VISIBLE_DEVICES", "POPBT_ASSIGNED_GPUS")]
        path = os.environ["POPBT_TEST_DEVICES"]
        with open(path, "a") as log:
            log.write(f"{os.getpid()} {' '.join(seen)}\n")
        wanted = int(os.environ.get("POPBT_TEST_DEVICES_PROCESSES", "1"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(path) as log:
                if len({line.split()[0] for line in log if line.strip()}) >= wanted:
                    return
            time.sleep(0.05)


class Regression(TorchTrainable):
    """A linear model learning y = x·1 with Adam, batches moved with `to_device`."""

    def build(self, hparams: dict[str, Any], seed: int):
        model = torch.nn.Linear(3, 1)
        return model, torch.optim.Adam(model.parameters(), lr=hparams["lr"])

    def train_step(self, hparams: dict[str, Any]) -> None:
        x = self.to_device(torch.randn(16, 3, generator=self.generator))
        loss = (self.model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def evaluate(self) -> float:
        return -float(self.model.weight.detach().sub(1).pow(2).sum())
