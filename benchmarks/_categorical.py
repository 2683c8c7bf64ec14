"""Fashion-MNIST with an unordered categorical hyperparameter: the space PB2-Mix is measured on
in `benchmarks/quality.py` (task `fashion_mnist_activation`).

Contract:
- `FashionActivationMLP` is `examples/fashion_mnist.py`'s `FashionMLP` (784 → 128 → 10, SGD)
  whose hidden activation is the hyperparameter `activation`, one of `ACTIVATIONS`: read at
  `setup` and before every training step, so a member explored to another activation trains
  and is evaluated with it from its next interval on, on the weights it had (the activation
  has no parameters: checkpoints are the example's).
- `SPACE` is the example's space plus `activation`, an unordered `Choice`: PBT's `Perturb`
  resamples it, PB2 refuses it, PB2-Mix picks it with its bandit.
- The example file is imported by path (`popbt._refs.load_file`), so worker processes rebuild
  the class from this file's path; it needs torch and the Fashion-MNIST files, as the example.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

import popbt
from popbt._refs import load_file

EXAMPLE = load_file(Path(__file__).resolve().parent.parent / "examples" / "fashion_mnist.py")

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "identity": nn.Identity}

SPACE = popbt.Space({**EXAMPLE.space,
                     "activation": popbt.Choice(list(ACTIVATIONS), ordered=False)})


class FashionActivationMLP(EXAMPLE.FashionMLP):  # type: ignore[misc, name-defined]
    """The example's MLP with the hidden activation `hparams["activation"]`."""

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        model, optimizer = super().build(hparams, seed)
        model[1] = ACTIVATIONS[hparams["activation"]]()
        return model, optimizer

    def train_step(self, hparams: dict[str, Any]) -> None:
        wanted = ACTIVATIONS[hparams["activation"]]
        if type(self.model[1]) is not wanted:
            self.model[1] = wanted()
        super().train_step(hparams)
