"""An MLP on Fashion-MNIST (70,000 28×28 greyscale images of clothing, 10 classes), complete.

    popbt run examples/fashion_mnist.py --population 8 --workers 2 --steps 2000   # the CLI
    python examples/fashion_mnist.py                                             # the API

PBT tunes the learning rate, momentum, weight decay and batch size. The split is fixed
whatever the member: 5,000 of the 60,000 training images (chosen with seed 0) are the
validation set PBT maximises; the official 10,000 test images are used only to report the
best member's test accuracy. Needs `pip install 'popbt[torch]'` and the data set's four IDX
files, which are looked for in this order: the `path` given to `load_data`, the folder in the
environment variable `POPBT_FASHION_MNIST`, then `/usr/share/datasets/fashion-mnist`
(Debian's and Ubuntu's package `dataset-fashion-mnist`). Nothing is downloaded.
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import popbt
from popbt.torch import TorchTrainable

ENV_VAR = "POPBT_FASHION_MNIST"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train_images": "train-images-idx3-ubyte.gz",
         "train_labels": "train-labels-idx1-ubyte.gz",
         "test_images": "t10k-images-idx3-ubyte.gz",
         "test_labels": "t10k-labels-idx1-ubyte.gz"}
VALIDATION = 5000
Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


class DataNotFoundError(FileNotFoundError):
    """The Fashion-MNIST files are missing or unreadable; the message says how to get them."""


def find_data(path: str | Path | None = None) -> Path:
    """The folder holding the four IDX files (see the module's help for the search order).

    Raises:
        DataNotFoundError: none of the candidate folders holds all four files.
    """
    candidates = [Path(p) for p in (path, os.environ.get(ENV_VAR)) if p] + [SYSTEM_DIR]
    for folder in candidates:
        if all((folder / name).is_file() for name in FILES.values()):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise DataNotFoundError(
        f"Fashion-MNIST not found (looked in: {looked}). Install it with "
        f"'apt-get install dataset-fashion-mnist' on Debian or Ubuntu, or put the files "
        f"{', '.join(FILES.values())} (from https://github.com/zalandoresearch/fashion-mnist) "
        f"in a folder and pass its path or set {ENV_VAR}=FOLDER")


def _read_idx(file: Path, magic: int, shape: tuple[int, ...]) -> np.ndarray:
    """An IDX array with the expected magic number; `shape` leaves out the first dimension."""
    try:
        raw = gzip.decompress(file.read_bytes())
    except (OSError, EOFError) as exc:
        raise DataNotFoundError(f"{file}: cannot read it as a gzip file ({exc})") from exc
    header = 8 + 4 * len(shape)
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        raise DataNotFoundError(f"{file}: not an IDX file of the expected kind (magic "
                                f"{found}, expected {magic})")
    count = int.from_bytes(raw[4:8], "big")
    expected = header + count * int(np.prod(shape))
    if len(raw) != expected:
        raise DataNotFoundError(f"{file}: {len(raw)} bytes once unpacked, expected {expected} "
                                f"for {count} items; the file is truncated or damaged")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(count, *shape)


def read_arrays(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The raw arrays: `train_images` [60000, 784] and `test_images` [10000, 784] as uint8,
    `train_labels` and `test_labels` as uint8 class indices."""
    folder = find_data(path)
    out = {}
    for key, name in FILES.items():
        if key.endswith("images"):
            out[key] = _read_idx(folder / name, 2051, (28, 28)).reshape(-1, 784)
        else:
            out[key] = _read_idx(folder / name, 2049, ())
    return out


@functools.cache
def load_data(path: str | None = None) -> Splits:
    """Train (55,000), validation (5,000) and test (10,000) tensors, scaled to [0, 1] and
    standardised with the training split's mean and deviation."""
    arrays = read_arrays(path)
    order = np.random.default_rng(0).permutation(len(arrays["train_labels"]))
    val, train = order[:VALIDATION], order[VALIDATION:]
    x_all = arrays["train_images"].astype(np.float32) / 255.0
    mean, std = float(x_all[train].mean()), float(x_all[train].std())

    def pack(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy((x - mean) / std), torch.from_numpy(y.astype(np.int64))

    return {"train": pack(x_all[train], arrays["train_labels"][train]),
            "val": pack(x_all[val], arrays["train_labels"][val]),
            "test": pack(arrays["test_images"].astype(np.float32) / 255.0,
                         arrays["test_labels"])}


class FashionMLP(TorchTrainable):
    """784 → 128 → 10 MLP, SGD with momentum and weight decay (applied by `TorchTrainable`
    before every interval); the batch size is read at every step."""

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        self.data = {split: self.to_device(xy) for split, xy in load_data().items()}
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=hparams["lr"],
                                    momentum=hparams["momentum"],
                                    weight_decay=hparams["weight_decay"])
        return model, optimizer

    def train_step(self, hparams: dict[str, Any]) -> None:
        x, y = self.data["train"]
        batch = torch.randint(0, len(y), (int(hparams["batch_size"]),), generator=self.generator)
        batch = batch.to(y.device)
        loss = nn.functional.cross_entropy(self.model(x[batch]), y[batch])
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def score(self, split: str) -> dict[str, float]:
        """Accuracy and mean cross-entropy on `split`."""
        x, y = self.data[split]
        self.model.eval()
        with torch.no_grad():
            logits = self.model(x)
        return {"accuracy": float((logits.argmax(1) == y).float().mean()),
                "loss": float(nn.functional.cross_entropy(logits, y))}

    def evaluate(self) -> dict[str, float]:
        return self.score("val")

    def test_accuracy(self) -> float:
        """Accuracy on the official test split (never used for selection)."""
        return self.score("test")["accuracy"]


space = popbt.Space({
    "lr": popbt.LogUniform(1e-3, 0.5),
    "momentum": popbt.Uniform(0.0, 0.99),
    "weight_decay": popbt.LogUniform(1e-6, 1e-2),
    "batch_size": popbt.Choice([16, 32, 64, 128, 256]),
})
metric = "accuracy"
ready = popbt.Every(steps=100)
exploit = popbt.Truncation(fraction=0.25)
explore = popbt.Perturb(factors=(0.8, 1.2), resample_probability=0.25)

if __name__ == "__main__":
    pop = popbt.create_population(
        name="fashion-mnist", storage="sqlite:///popbt.db", space=space, size=8,
        metric=metric, seed=0, ready=ready, exploit=exploit, explore=explore,
        load_if_exists=True)
    best = pop.train(FashionMLP, steps=2000, workers=2)
    model = pop.load(best.member_id)
    print(f"best member {best.member_id}: validation accuracy {best.score:.4f}, "
          f"test accuracy {model.test_accuracy():.4f} at step {best.step}")
    for step, hparams in pop.schedule(best.member_id):
        print(f"  from step {step}: {hparams}")
