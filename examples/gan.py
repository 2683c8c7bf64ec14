"""A GAN on a 2-D mixture of eight Gaussians on a ring (the paper's GAN experiment, shrunk to
two CPU cores), complete.

    popbt run examples/gan.py --population 8 --workers 2 --steps 2000   # with the CLI
    python examples/gan.py                                             # with the API

One training step is one discriminator update and one generator update (non-saturating loss,
Adam). PBT tunes both learning rates and Adam's β1 with binary tournament selection and
×0.5 / ×2 perturbations, as the paper does for GANs; `TorchTrainable` applies
`generator_lr` and `discriminator_lr` to the optimizer of that name, `beta1` to both. Needs
`pip install 'popbt[torch]'`.

The score (`mode_score`, higher is better, at most `MODES`) is an inception-style score that
needs no trained classifier: the mixture's own nearest-mode classifier labels a fixed set of
generated samples. A sample is *on a mode* when it lies within `ON_MODE_STDS` standard
deviations of its nearest mode. The score is the fraction of samples on a mode times the
effective number of modes they cover (the exponential of the entropy of their mode
histogram): 8 for a generator that puts every sample on a mode and covers all eight evenly;
a generator that collapses onto one mode scores at most 1. The best member's score on noise
never used for selection is reported at the end.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

import popbt
from popbt.torch import TorchTrainable

MODES = 8
RADIUS = 2.0
STD = 0.05
ON_MODE_STDS = 3.0
NOISE = 8
BATCH = 128
EVAL_SAMPLES = 2000
EVAL_SEED = 12345
TEST_SAMPLES = 10_000
TEST_SEED = 54321


def mode_centres() -> torch.Tensor:
    """The `MODES` means, evenly spaced on a circle of radius `RADIUS`."""
    angles = torch.arange(MODES, dtype=torch.float32) * (2 * math.pi / MODES)
    return RADIUS * torch.stack([angles.cos(), angles.sin()], 1)


def sample_mixture(n: int, generator: torch.Generator) -> torch.Tensor:
    """`n` samples of the target distribution."""
    which = torch.randint(0, MODES, (n,), generator=generator)
    return mode_centres()[which] + STD * torch.randn(n, 2, generator=generator)


def mode_metrics(samples: torch.Tensor) -> dict[str, float]:
    """`mode_score`, `on_mode` (fraction of samples on a mode) and `modes` (modes holding at
    least 1% of the samples) of a [n, 2] tensor of generated points."""
    distances = torch.cdist(samples, mode_centres())
    nearest, which = distances.min(1)
    on = nearest < ON_MODE_STDS * STD
    on_mode = float(on.float().mean())
    counts = torch.bincount(which[on], minlength=MODES).float()
    if counts.sum() == 0:
        return {"mode_score": 0.0, "on_mode": 0.0, "modes": 0.0}
    p = counts / counts.sum()
    entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
    return {"mode_score": on_mode * math.exp(entropy), "on_mode": on_mode,
            "modes": float((counts >= 0.01 * len(samples)).sum())}


def _mlp(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, outputs))


class MixtureGAN(TorchTrainable):
    """Generator (8-d noise → 2-d point) and discriminator, two Adam optimizers."""

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[nn.Module, dict[str, torch.optim.Optimizer]]:
        model = nn.ModuleDict({"generator": _mlp(NOISE, 2), "discriminator": _mlp(2, 1)})
        betas = (hparams["beta1"], 0.999)
        return model, {
            "generator": torch.optim.Adam(model["generator"].parameters(),
                                          lr=hparams["generator_lr"], betas=betas),
            "discriminator": torch.optim.Adam(model["discriminator"].parameters(),
                                              lr=hparams["discriminator_lr"], betas=betas)}

    def _models(self) -> nn.ModuleDict:
        """`self.model`: what `build` returned, a `ModuleDict` of the two networks."""
        assert isinstance(self.model, nn.ModuleDict)
        return self.model

    def train_step(self, hparams: dict[str, Any]) -> None:
        models = self._models()
        generator, discriminator = models["generator"], models["discriminator"]
        bce = nn.functional.binary_cross_entropy_with_logits
        real = sample_mixture(BATCH, self.generator)
        fake = generator(torch.randn(BATCH, NOISE, generator=self.generator))
        real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
        d_loss = (bce(real_logits, torch.ones_like(real_logits))
                  + bce(fake_logits, torch.zeros_like(fake_logits)))
        self.optimizers["discriminator"].zero_grad()
        d_loss.backward()
        self.optimizers["discriminator"].step()
        fake_logits = discriminator(fake)
        g_loss = bce(fake_logits, torch.ones_like(fake_logits))  # non-saturating
        self.optimizers["generator"].zero_grad()
        g_loss.backward()
        self.optimizers["generator"].step()

    def samples(self, n: int = EVAL_SAMPLES, seed: int = EVAL_SEED) -> torch.Tensor:
        """`n` generated points from the noise drawn with `seed` (the same for every member)."""
        noise = torch.randn(n, NOISE, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return self._models()["generator"](noise)

    def evaluate(self) -> dict[str, float]:
        return mode_metrics(self.samples())

    def test_score(self) -> float:
        """`mode_score` on `TEST_SAMPLES` points from noise never used for selection."""
        return mode_metrics(self.samples(TEST_SAMPLES, TEST_SEED))["mode_score"]


space = popbt.Space({
    "generator_lr": popbt.LogUniform(1e-5, 1e-2),
    "discriminator_lr": popbt.LogUniform(1e-5, 1e-2),
    "beta1": popbt.Uniform(0.0, 0.9),
})
metric = "mode_score"
ready = popbt.Every(steps=100)
exploit = popbt.Tournament()
explore = popbt.Perturb(factors=(0.5, 2.0), resample_probability=0.25)

if __name__ == "__main__":
    pop = popbt.create_population(
        name="gan", storage="sqlite:///popbt.db", space=space, size=8, metric=metric,
        seed=0, ready=ready, exploit=exploit, explore=explore, load_if_exists=True)
    best = pop.train(MixtureGAN, steps=2000, workers=2)
    model = pop.load(best.member_id)
    print(f"best member {best.member_id}: mode score {best.score:.2f} of {MODES}, "
          f"{model.test_score():.2f} on new noise")
    for step, hparams in pop.schedule(best.member_id):
        print(f"  from step {step}: {hparams}")
