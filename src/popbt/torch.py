"""PyTorch without boilerplate (extra `torch`): a Trainable around a module and an optimizer.

Subclass `TorchTrainable`, return the model and optimizer from `build`, do one training step
in `train_step` and score in `evaluate`. The base class then gives you:
- `state_dict` / `load_state_dict` of the model, the optimizer, the step counter and the
  random state (a `torch.Generator` and a NumPy generator owned by the member), so an exploit
  copies everything and a restored member continues exactly as the original would;
- hyperparameters named like optimizer settings applied to every param group at the start of
  each `train` call: any key the optimizer has in its defaults (`lr`, `momentum`,
  `weight_decay`, `eps`, `dampening`, `alpha`, ...), and `beta1` / `beta2` for `betas`.
Checkpoints of tensors are written with `torch.save` and read with `weights_only=True`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np

from popbt.trainable import Trainable

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("popbt.torch needs PyTorch: pip install 'popbt[torch]'") from exc


def apply_hparams(optimizer: torch.optim.Optimizer, hparams: Mapping[str, Any]) -> list[str]:
    """Set the optimizer settings named in `hparams` on every param group; return their names.

    `beta1` and `beta2` replace the matching element of `betas`.
    """
    applied = []
    for name, value in hparams.items():
        if name in ("beta1", "beta2") and "betas" in optimizer.defaults:
            which = 0 if name == "beta1" else 1
            for group in optimizer.param_groups:
                betas = list(group["betas"])
                betas[which] = float(value)
                group["betas"] = tuple(betas)
            applied.append(name)
        elif name in optimizer.defaults and name != "params":
            for group in optimizer.param_groups:
                group[name] = value
            applied.append(name)
    return applied


class TorchTrainable(Trainable):
    """A Trainable holding `self.model` and `self.optimizer`.

    Attributes available in `build`, `train_step` and `evaluate`: `self.generator` (a
    `torch.Generator` seeded per member: pass it to sampling calls), `self.rng` (a NumPy
    generator, also per member) and `self.step` (steps trained so far).

    Example:
        >>> class Regression(TorchTrainable):
        ...     def build(self, hparams, seed):
        ...         model = torch.nn.Linear(3, 1)
        ...         return model, torch.optim.SGD(model.parameters(), lr=hparams["lr"])
        ...     def train_step(self, hparams):
        ...         x = torch.randn(16, 3, generator=self.generator)
        ...         loss = (self.model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        ...         self.optimizer.zero_grad()
        ...         loss.backward()
        ...         self.optimizer.step()
        ...     def evaluate(self):
        ...         return -float(self.model.weight.sub(1).pow(2).sum())
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer

    @abc.abstractmethod
    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        """Create the model and its optimizer (and load data); called once per live object."""

    @abc.abstractmethod
    def train_step(self, hparams: dict[str, Any]) -> None:
        """One training step under `hparams` (already applied to the optimizer)."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.step = 0
        with torch.random.fork_rng():
            torch.manual_seed(seed)  # parameter initialisation is seeded per member too
            self.model, self.optimizer = self.build(hparams, seed)

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        apply_hparams(self.optimizer, hparams)
        self.model.train()
        for _ in range(steps):
            self.train_step(hparams)
            self.step += 1

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "step": self.step, "torch_rng": self.generator.get_state(),
                "numpy_rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.generator.set_state(state["torch_rng"])
        self.rng.bit_generator.state = state["numpy_rng"]
