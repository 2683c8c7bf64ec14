"""The classifier behind `popbt demo digits`: SGD on fixed data splits.

The score PBT maximises is validation accuracy; test accuracy is only reported.
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn

from popbt.torch import TorchTrainable

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


class Classifier(TorchTrainable):
    """SGD with momentum and weight decay on `train`, scored on `val`; `batch_size` is a
    hyperparameter read at every step. Subclasses give the splits and the network."""

    @abc.abstractmethod
    def splits(self) -> Splits:
        """`train`, `val` and `test` as (inputs, class indices); the same for every member."""

    @abc.abstractmethod
    def network(self) -> nn.Module:
        """A fresh network mapping a batch of inputs to class logits."""

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        self.data = self.splits()
        model = self.network()
        optimizer = torch.optim.SGD(model.parameters(), lr=hparams["lr"],
                                    momentum=hparams["momentum"],
                                    weight_decay=hparams["weight_decay"])
        return model, optimizer

    def train_step(self, hparams: dict[str, Any]) -> None:
        x, y = self.data["train"]
        idx = torch.randint(0, len(y), (int(hparams["batch_size"]),), generator=self.generator)
        loss = nn.functional.cross_entropy(self.model(x[idx]), y[idx])
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def _score(self, split: str) -> dict[str, float]:
        x, y = self.data[split]
        self.model.eval()
        with torch.no_grad():
            logits = self.model(x)
        return {"accuracy": float((logits.argmax(1) == y).float().mean()),
                "loss": float(nn.functional.cross_entropy(logits, y))}

    def evaluate(self) -> dict[str, float]:
        return self._score("val")

    def test_accuracy(self) -> float:
        """Accuracy on the held-out test split (never used for selection)."""
        return self._score("test")["accuracy"]
