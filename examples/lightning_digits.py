"""A PyTorch Lightning MLP with dropout on scikit-learn's bundled digits, complete.

    popbt run examples/lightning_digits.py --population 8 --workers 2 --steps 1000  # CLI
    python examples/lightning_digits.py                                             # API

An ordinary `LightningModule` (training_step, validation_step, configure_optimizers) and
`LightningDataModule`, trained by `popbt.lightning.LightningTrainable`. PBT tunes the learning
rate, momentum and weight decay (which popbt sets on the SGD optimizer after Lightning has
restored it, in every interval), the dropout probability (the module's `on_hparams`) and the
batch size (the data module's `on_hparams`). The data split is the one of `digits.py` (60%
train, 20% validation, 20% test, stratified, seed 0): the score PBT maximises is validation
accuracy; test accuracy is reported for the best member at the end. Needs
`pip install 'popbt[lightning,examples]'`.
"""

from __future__ import annotations

import functools
from typing import Any

import lightning.pytorch as pl
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

import popbt
from popbt.lightning import LightningTrainable


@functools.cache
def splits() -> dict[str, TensorDataset]:
    """Train, validation and test sets (60/20/20, stratified, seed 0), standardised with the
    training set's statistics; loaded once per process."""
    x, y = load_digits(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, random_state=0,
                                                        stratify=y)
    x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5,
                                                    random_state=0, stratify=y_rest)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6

    def pack(a: Any, b: Any) -> TensorDataset:
        return TensorDataset(torch.tensor((a - mean) / std, dtype=torch.float32),
                             torch.tensor(b, dtype=torch.long))

    return {"train": pack(x_train, y_train), "val": pack(x_val, y_val),
            "test": pack(x_test, y_test)}


class DigitsData(pl.LightningDataModule):
    def __init__(self, batch_size: int = 32) -> None:
        super().__init__()
        self.batch_size = batch_size

    def on_hparams(self, hparams: dict[str, Any]) -> None:  # popbt calls it every interval
        self.batch_size = int(hparams["batch_size"])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(splits()["train"], batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(splits()["val"], batch_size=512)


class DigitsMLP(pl.LightningModule):
    def __init__(self, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 1e-4,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.dropout = nn.Dropout(dropout)
        self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), self.dropout,
                                 nn.Linear(128, 10))

    def on_hparams(self, hparams: dict[str, Any]) -> None:  # popbt calls it every interval
        self.dropout.p = hparams["dropout"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("accuracy", (logits.argmax(1) == y).float().mean())
        self.log("loss", F.cross_entropy(logits, y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # popbt sets lr, momentum and weight_decay on it again after every restore
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr,
                               momentum=self.hparams.momentum,
                               weight_decay=self.hparams.weight_decay)


class LightningDigits(LightningTrainable):
    def build(self, hparams: dict[str, Any], seed: int) -> DigitsMLP:
        return DigitsMLP(lr=hparams["lr"], momentum=hparams["momentum"],
                         weight_decay=hparams["weight_decay"], dropout=hparams["dropout"])

    def data(self, hparams: dict[str, Any], seed: int) -> DigitsData:
        return DigitsData(batch_size=hparams["batch_size"])

    def test_accuracy(self) -> float:
        """Accuracy on the held-out test set (never used for selection)."""
        x, y = splits()["test"].tensors
        self.module.eval()
        with torch.no_grad():
            return float((self.module(x).argmax(1) == y).float().mean())


space = popbt.Space({
    "lr": popbt.LogUniform(1e-3, 0.5),
    "momentum": popbt.Uniform(0.0, 0.99),
    "weight_decay": popbt.LogUniform(1e-6, 1e-2),
    "batch_size": popbt.Choice([16, 32, 64, 128]),
    "dropout": popbt.Uniform(0.0, 0.6),
})
metric = "accuracy"
ready = popbt.Every(steps=100)
exploit = popbt.Truncation(fraction=0.25)
explore = popbt.Perturb(factors=(0.8, 1.2), resample_probability=0.25)

if __name__ == "__main__":  # worker processes import this file: train only when it runs
    pop = popbt.create_population(
        name="lightning-digits", storage="sqlite:///popbt.db", space=space, size=8,
        metric=metric, seed=0, ready=ready, exploit=exploit, explore=explore,
        load_if_exists=True)
    best = pop.train(LightningDigits, steps=1000, workers=2)
    model = pop.load(best.member_id)
    print(f"best member {best.member_id}: validation accuracy {best.score:.4f}, "
          f"test accuracy {model.test_accuracy():.4f} at step {best.step}")
    for step, hparams in pop.schedule(best.member_id):
        print(f"  from step {step}: {hparams}")
