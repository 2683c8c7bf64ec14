"""An MLP with dropout on scikit-learn's bundled digits (8×8 images, 10 classes), complete.

    popbt run examples/digits.py --population 16 --workers 2 --steps 2000   # with the CLI
    python examples/digits.py                                               # with the API

A full `popbt.torch.TorchTrainable`: PBT tunes the learning rate, momentum and weight decay
(which `TorchTrainable` applies to the SGD optimizer before every interval), the batch size
(read at every step) and the dropout probability (set on the model's dropout layers before
every interval, so an explore changes it in place). The data split is fixed (60% train, 20%
validation, 20% test, stratified, seed 0) whatever the member: the score PBT maximises is
validation accuracy; test accuracy is reported for the best member at the end. Needs
`pip install 'popbt[torch,examples]'`.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import popbt
from popbt.torch import TorchTrainable

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


@functools.cache
def load_data() -> Splits:
    """Train, validation and test tensors, standardised with the training set's statistics."""
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
    """64 → 128 → 10 MLP with dropout after the hidden layer, trained by SGD.

    Dropout masks come from torch's global generator, which a checkpoint does not hold: each
    interval seeds it from the member's own `self.generator` (which the checkpoint does
    hold), so a member restored by an exploit draws the same masks as its donor would have.
    """

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        self.data = {split: self.to_device(xy) for split, xy in load_data().items()}
        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(hparams["dropout"]),
                              nn.Linear(128, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=hparams["lr"],
                                    momentum=hparams["momentum"],
                                    weight_decay=hparams["weight_decay"])
        return model, optimizer

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        for layer in self.model.modules():
            if isinstance(layer, nn.Dropout):
                layer.p = float(hparams["dropout"])
        seed = int(torch.randint(2**62, (), generator=self.generator))
        with torch.random.fork_rng():  # put torch's global generator back afterwards
            torch.manual_seed(seed)
            super().train(hparams, steps)  # applies lr, momentum, weight_decay; train_step

    def train_step(self, hparams: dict[str, Any]) -> None:
        x, y = self.data["train"]
        batch = torch.randint(0, len(y), (int(hparams["batch_size"]),), generator=self.generator)
        batch = batch.to(y.device)
        loss = nn.functional.cross_entropy(self.model(x[batch]), y[batch])
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def score(self, split: str) -> dict[str, float]:
        """Accuracy and mean cross-entropy on `split`, with dropout off."""
        x, y = self.data[split]
        self.model.eval()
        with torch.no_grad():
            logits = self.model(x)
        return {"accuracy": float((logits.argmax(1) == y).float().mean()),
                "loss": float(nn.functional.cross_entropy(logits, y))}

    def evaluate(self) -> dict[str, float]:
        return self.score("val")

    def test_accuracy(self) -> float:
        """Accuracy on the held-out test split (never used for selection)."""
        return self.score("test")["accuracy"]


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

if __name__ == "__main__":
    pop = popbt.create_population(
        name="digits", storage="sqlite:///popbt.db", space=space, size=16, metric=metric,
        seed=0, ready=ready, exploit=exploit, explore=explore, load_if_exists=True)
    best = pop.train(DigitsMLP, steps=2000, workers=2)
    model = pop.load(best.member_id)
    print(f"best member {best.member_id}: validation accuracy {best.score:.4f}, "
          f"test accuracy {model.test_accuracy():.4f} at step {best.step}")
    for step, hparams in pop.schedule(best.member_id):
        print(f"  from step {step}: {hparams}")
