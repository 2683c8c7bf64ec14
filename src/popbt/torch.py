"""PyTorch without boilerplate (extra `torch`): a Trainable around a module and an optimizer.

Subclass `TorchTrainable`, return the model and optimizer from `build`, do one training step
in `train_step` and score in `evaluate`. The base class then gives you:
- `state_dict` / `load_state_dict` of the model, the optimizer, the step counter and the
  random state (a `torch.Generator` and a NumPy generator owned by the member), so an exploit
  copies everything and a restored member continues exactly as the original would;
- hyperparameters named like optimizer settings applied to every param group at the start of
  each `train` call: any key the optimizer has in its defaults (`lr`, `momentum`,
  `weight_decay`, `eps`, `dampening`, `alpha`, ...), and `beta1` / `beta2` for `betas`.
Models trained by several optimizers (a GAN's generator and discriminator, say) return a dict
of named optimizers from `build`; a hyperparameter `NAME_SETTING` (`generator_lr`) then sets
one optimizer's setting, and a plain `SETTING` sets it on all of them.
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


def apply_hparams(optimizer: torch.optim.Optimizer, hparams: Mapping[str, Any],
                  prefix: str | None = None) -> list[str]:
    """Set the optimizer settings named in `hparams` on every param group; return the names
    of the hyperparameters applied.

    `beta1` and `beta2` replace the matching element of `betas`. With a `prefix`, a key
    `PREFIX_SETTING` sets that setting too, and wins over a plain `SETTING`.
    """
    keys = [(name, name) for name in hparams]
    if prefix is not None:
        keys += [(name, name[len(prefix) + 1:]) for name in hparams
                 if name.startswith(prefix + "_")]
    applied = []
    for name, setting in keys:
        value = hparams[name]
        if setting in ("beta1", "beta2") and "betas" in optimizer.defaults:
            which = 0 if setting == "beta1" else 1
            for group in optimizer.param_groups:
                betas = list(group["betas"])
                betas[which] = float(value)
                group["betas"] = tuple(betas)
            applied.append(name)
        elif setting in optimizer.defaults and setting != "params":
            for group in optimizer.param_groups:
                group[setting] = value
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
    optimizers: dict[str, torch.optim.Optimizer]

    @abc.abstractmethod
    def build(self, hparams: dict[str, Any], seed: int) -> tuple[
            torch.nn.Module, torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer]]:
        """Create the model and its optimizer (and load data); called once per live object.

        Return one optimizer (then `self.optimizer`), or a dict of named optimizers (then
        `self.optimizers`; the names prefix their hyperparameters, see the module's help).
        """

    @abc.abstractmethod
    def train_step(self, hparams: dict[str, Any]) -> None:
        """One training step under `hparams` (already applied to the optimizer)."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.step = 0
        with torch.random.fork_rng():
            torch.manual_seed(seed)  # parameter initialisation is seeded per member too
            self.model, optimizer = self.build(hparams, seed)
        if isinstance(optimizer, torch.optim.Optimizer):
            self.optimizer = optimizer
            self.optimizers = {}
        elif (isinstance(optimizer, Mapping) and optimizer
              and all(isinstance(o, torch.optim.Optimizer) for o in optimizer.values())):
            self.optimizers = dict(optimizer)
        else:
            raise TypeError(f"{type(self).__name__}.build must return (model, optimizer) with "
                            f"an optimizer or a non-empty dict of optimizers, not {optimizer!r}")

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        if self.optimizers:
            for name, optimizer in self.optimizers.items():
                apply_hparams(optimizer, hparams, prefix=name)
        else:
            apply_hparams(self.optimizer, hparams)
        self.model.train()
        for _ in range(steps):
            self.train_step(hparams)
            self.step += 1

    def state_dict(self) -> dict[str, Any]:
        optimizer = ({name: o.state_dict() for name, o in self.optimizers.items()}
                     if self.optimizers else self.optimizer.state_dict())
        return {"model": self.model.state_dict(), "optimizer": optimizer,
                "step": self.step, "torch_rng": self.generator.get_state(),
                "numpy_rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.optimizers:
            for name, optimizer in self.optimizers.items():
                optimizer.load_state_dict(state["optimizer"][name])
        else:
            self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.generator.set_state(state["torch_rng"])
        self.rng.bit_generator.state = state["numpy_rng"]
