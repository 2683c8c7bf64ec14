"""An MLP on scikit-learn's bundled digits (8×8 images, 10 classes), trained with PBT.

Needs the extras `torch` and `examples` (scikit-learn). The data split is fixed (60% train,
20% validation, 20% test, stratified, seed 0) whatever the member: the score PBT maximises
is validation accuracy; test accuracy is reported for the best member at the end.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from popbt.records import EventKind
from popbt.space import Choice, LogUniform, Space, Uniform
from popbt.strategies import Every
from popbt.torch import TorchTrainable

SPACE = Space({
    "lr": LogUniform(1e-3, 0.5),
    "momentum": Uniform(0.0, 0.99),
    "weight_decay": LogUniform(1e-6, 1e-2),
    "batch_size": Choice([16, 32, 64, 128]),
})
METRIC = "accuracy"
READY = Every(steps=100)


@functools.cache
def load_data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Train, validation and test tensors, standardised with the training set's statistics."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise ImportError("the digits example needs scikit-learn: "
                          "pip install 'popbt[examples]'") from exc
    x, y = load_digits(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, random_state=0,
                                                        stratify=y)
    x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5,
                                                    random_state=0, stratify=y_rest)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6

    def pack(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.tensor((a - mean) / std, dtype=torch.float32),
                torch.tensor(b, dtype=torch.long))

    return {"train": pack(x_train, y_train), "val": pack(x_val, y_val),
            "test": pack(x_test, y_test)}


class DigitsMLP(TorchTrainable):
    """64 → 128 → 10 MLP, SGD with momentum and weight decay; batch size a hyperparameter."""

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        self.data = load_data()
        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
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


def run_demo(*, storage: str, population: int = 16, workers: int = 2, steps: int = 2000,
             seed: int = 0, progress: bool | None = None) -> dict[str, Any]:
    """Train the digits population (resuming it if `storage` already holds it); return the
    best member's validation and test accuracy, hyperparameters and schedule."""
    from popbt.population import create_population
    from popbt.strategies import Perturb, Truncation

    pop = create_population(name="digits", storage=storage, space=SPACE, size=population,
                            metric=METRIC, seed=seed, ready=READY,
                            exploit=Truncation(fraction=0.25), explore=Perturb(),
                            load_if_exists=True)
    best = pop.train(DigitsMLP, steps=steps, workers=workers, progress=progress)
    assert best is not None
    model = pop.load(best.member_id)
    assert isinstance(model, DigitsMLP)
    return {"member_id": best.member_id, "step": best.step, "val_accuracy": best.score,
            "test_accuracy": model.test_accuracy(), "hparams": best.hparams,
            "schedule": pop.schedule(best.member_id),
            "exploits": len(pop.events(kinds=[EventKind.EXPLOIT]))}
