"""The GAN example: the mode score means what it says, and a short PBT run with binary
tournament selection improves it and exploits."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import popbt
from popbt._refs import load_file

gan = load_file(Path(__file__).resolve().parent.parent / "examples" / "gan.py")
MODES, ON_MODE_STDS, STD = gan.MODES, gan.ON_MODE_STDS, gan.STD
mode_centres, mode_metrics, sample_mixture = gan.mode_centres, gan.mode_metrics, gan.sample_mixture


def test_the_target_distribution_scores_nearly_perfectly():
    metrics = mode_metrics(sample_mixture(20_000, torch.Generator().manual_seed(0)))
    inside = 1 - math.exp(-ON_MODE_STDS**2 / 2)  # a 2-D Gaussian's mass within the radius
    assert metrics["on_mode"] == pytest.approx(inside, abs=0.003)
    assert metrics["modes"] == MODES
    assert metrics["mode_score"] == pytest.approx(MODES, rel=0.02)


def test_a_collapsed_generator_scores_at_most_one():
    one_mode = mode_centres()[3] + STD * torch.randn(5000, 2)
    metrics = mode_metrics(one_mode)
    assert metrics["modes"] == 1 and metrics["mode_score"] <= 1.0


def test_samples_off_the_modes_lower_the_score():
    gen = torch.Generator().manual_seed(1)
    good = sample_mixture(4000, gen)
    off = torch.zeros(4000, 2)  # the centre of the ring, far from every mode
    metrics = mode_metrics(torch.cat([good, off]))
    assert metrics["on_mode"] == pytest.approx(0.5, abs=0.01)
    assert metrics["mode_score"] == pytest.approx(MODES / 2, rel=0.03)
    assert mode_metrics(torch.zeros(10, 2)) == {"mode_score": 0.0, "on_mode": 0.0,
                                                "modes": 0.0}
    assert ON_MODE_STDS * STD < 2.0  # the centre is never on a mode


def test_short_pbt_run_with_tournament_improves_and_exploits(tmp_path: Path):
    pop = popbt.create_population(
        name="gan", storage=f"sqlite:///{tmp_path / 'g.db'}", space=gan.space, size=4,
        metric=gan.metric, seed=0, ready=popbt.Every(steps=100), exploit=popbt.Tournament(),
        explore=popbt.Perturb(factors=(0.5, 2.0)),
        initial=[{"generator_lr": 3e-3, "discriminator_lr": 2e-3, "beta1": 0.5}] * 2)
    best = pop.train(gan.MixtureGAN, steps=1500)  # in-process: deterministic
    first = [s.score for s in pop.scores() if s.step == 100]
    assert len(first) == 4 and best.score > max(first) + 1.0
    assert pop.events(kinds=[popbt.EventKind.EXPLOIT])
    model = pop.load(best.member_id)
    assert model.evaluate()[gan.metric] == best.score
    assert model.test_score() > 1.0
