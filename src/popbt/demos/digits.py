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

from popbt.demos.classifier import Classifier, Splits
from popbt.records import EventKind
from popbt.space import Choice, LogUniform, Space, Uniform
from popbt.strategies import Every, Perturb, Truncation

SPACE = Space({
    "lr": LogUniform(1e-3, 0.5),
    "momentum": Uniform(0.0, 0.99),
    "weight_decay": LogUniform(1e-6, 1e-2),
    "batch_size": Choice([16, 32, 64, 128]),
})
METRIC = "accuracy"
READY = Every(steps=100)
EXPLOIT = Truncation(fraction=0.25)
EXPLORE = Perturb(factors=(0.8, 1.2), resample_probability=0.25)


@functools.cache
def load_data() -> Splits:
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


class DigitsMLP(Classifier):
    """64 → 128 → 10 MLP, SGD with momentum and weight decay; batch size a hyperparameter."""

    def splits(self) -> Splits:
        return load_data()

    def network(self) -> nn.Module:
        return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def run_demo(*, storage: str, population: int = 16, workers: int = 2, steps: int = 2000,
             seed: int = 0, progress: bool | None = None) -> dict[str, Any]:
    """Train the digits population (resuming it if `storage` already holds it); return the
    best member's validation and test accuracy, hyperparameters and schedule."""
    from popbt.population import create_population

    pop = create_population(name="digits", storage=storage, space=SPACE, size=population,
                            metric=METRIC, seed=seed, ready=READY,
                            exploit=EXPLOIT, explore=EXPLORE,
                            load_if_exists=True)
    best = pop.train(DigitsMLP, steps=steps, workers=workers, progress=progress)
    assert best is not None
    model = pop.load(best.member_id)
    assert isinstance(model, DigitsMLP)
    return {"member_id": best.member_id, "step": best.step, "val_accuracy": best.score,
            "test_accuracy": model.test_accuracy(), "hparams": best.hparams,
            "schedule": pop.schedule(best.member_id),
            "exploits": len(pop.events(kinds=[EventKind.EXPLOIT]))}
