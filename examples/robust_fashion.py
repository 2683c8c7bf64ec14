"""Two objectives at once: clean accuracy and accuracy under attack on Fashion-MNIST
(multi-objective PBT's robustness task, Dushatskiy et al. 2023, shrunk to two CPU cores).

    popbt run examples/robust_fashion.py --population 8 --workers 2 --steps 1000   # the CLI
    python examples/robust_fashion.py                                             # the API

An MLP (784 → 256 → 10, Adam) trains on batches of 128 images, a share of which
(`adv_share`, a hyperparameter) are replaced by their FGSM adversarial versions against the
current model (one signed-gradient step of `EPSILON` in pixel units, kept inside the pixel
range). Training on more adversarial images buys accuracy under attack with clean accuracy:
no single setting is best at both. The population has two objectives, `accuracy` (clean) and
`robust_accuracy` (under the same FGSM attack), both on 2,000 validation images; exploit
ranks members by Pareto front and crowding distance, and the result is the front of
trade-offs (`pop.front`). `evaluate` also reports `mean_accuracy`, their mean, for a
single-objective baseline (`benchmarks/robust_front.py`). `test_scores()` measures both on
the official test images, never used for selection. Needs `pip install 'popbt[torch]'` and
Fashion-MNIST, found as `examples/fashion_mnist.py` finds it (this file reads it through
that one).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

import popbt
from popbt.torch import TorchTrainable

EPSILON = 0.1  # the attack's step, in pixel units (pixels lie in [0, 1])
BATCH = 128
VALIDATION = 2000  # validation images scored at every evaluation


def _fashion() -> ModuleType:
    """examples/fashion_mnist.py, the data's loader, imported from beside this file."""
    name = "popbt_example_fashion_mnist"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().with_name("fashion_mnist.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, step: float,
         low: float, high: float) -> torch.Tensor:
    """`x` moved by `step` along the sign of the loss's gradient, clipped to [low, high]."""
    x = x.detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return (x + step * grad.sign()).clamp(low, high).detach()


class RobustMLP(TorchTrainable):
    """The MLP, trained on a share `adv_share` of adversarial images (see the module)."""

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        fashion = _fashion()
        data = fashion.load_data()
        self.data = {split: self.to_device(xy) for split, xy in data.items()}
        # the images are standardised: the attack's step and the pixel range in those units
        x_val = self.data["val"][0]
        scale = float((x_val.max() - x_val.min()).item())
        self.step_size, self.low, self.high = EPSILON * scale, x_val.min().item(), \
            x_val.max().item()
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        return model, torch.optim.Adam(model.parameters(), lr=hparams["lr"])

    def train_step(self, hparams: dict[str, Any]) -> None:
        x, y = self.data["train"]
        batch = torch.randint(0, len(y), (BATCH,), generator=self.generator).to(y.device)
        xb, yb = x[batch], y[batch]
        k = round(hparams["adv_share"] * BATCH)
        if k:
            xb = torch.cat([fgsm(self.model, xb[:k], yb[:k], self.step_size, self.low,
                                 self.high), xb[k:]])
        loss = nn.functional.cross_entropy(self.model(xb), yb)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def scores(self, split: str, limit: int | None = None) -> dict[str, float]:
        """Clean and attacked accuracy on `split` (its first `limit` images)."""
        x, y = self.data[split]
        x, y = x[:limit], y[:limit]
        self.model.eval()
        attacked = fgsm(self.model, x, y, self.step_size, self.low, self.high)
        with torch.no_grad():
            clean = float((self.model(x).argmax(1) == y).float().mean())
            robust = float((self.model(attacked).argmax(1) == y).float().mean())
        self.model.train()
        return {"accuracy": clean, "robust_accuracy": robust,
                "mean_accuracy": (clean + robust) / 2}

    def evaluate(self) -> dict[str, float]:
        return self.scores("val", VALIDATION)

    def test_scores(self) -> dict[str, float]:
        """Both accuracies on the official 10,000 test images (never used for selection)."""
        return self.scores("test")


space = popbt.Space({"lr": popbt.LogUniform(3e-4, 3e-3), "adv_share": popbt.Uniform(0.0, 1.0)})
objectives = [("accuracy", "max", 0.0), ("robust_accuracy", "max", 0.0)]
ready = popbt.Every(steps=100)
exploit = popbt.Truncation(fraction=0.25)
explore = popbt.Perturb()

if __name__ == "__main__":
    pop = popbt.create_population(
        name="robust-fashion", storage="sqlite:///popbt.db", space=space, size=8,
        objectives=objectives, seed=0, ready=ready, exploit=exploit, explore=explore,
        load_if_exists=True)
    pop.train(RobustMLP, steps=1000, workers=2)
    print(f"front of {len(pop.front)} members, hypervolume {pop.hypervolume:.4f}:")
    for member in pop.front:
        test = pop.load(member.member_id).test_scores()
        print(f"  member {member.member_id} (adv_share {member.hparams['adv_share']:.2f}): "
              f"test accuracy {test['accuracy']:.3f}, under attack "
              f"{test['robust_accuracy']:.3f}")
