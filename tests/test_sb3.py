"""The Stable-Baselines3 adapter: after every exploit, PPO uses the member's current learning
rate, clip range and entropy coefficient in every update; the example passes
`check_trainable`; hyperparameters it does not apply are reported; bad builds are refused."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

import popbt
from checks import intervals_after_exploits
from popbt._refs import load_file
from popbt.errors import ConfigError
from popbt.hparams import Hyperparameters, UnusedHyperparameterWarning
from popbt.sb3 import SB3Trainable, apply_hparams

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sb3_cartpole.py"


example = load_file(EXAMPLE)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Small policies train fastest on one thread (popbt's worker processes use one too)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Observed(example.CartPolePPO):
    """The example, smaller, logging what PPO read at each optimizer step of an interval:
    the optimizer's lr, `clip_range(progress)` (what `PPO.train` clamps the ratio with) and
    `ent_coef` (what it weighs the entropy loss with)."""

    n_envs = 2
    algorithm_kwargs = {"n_steps": 64, "batch_size": 64, "n_epochs": 2}

    def build(self, hparams: dict[str, Any], seed: int) -> PPO:
        model = super().build(hparams, seed)
        self.used: list[tuple[float, float, float]] = []

        def record(optimizer: torch.optim.Optimizer, *_: Any) -> None:
            lrs = {group["lr"] for group in optimizer.param_groups}
            assert len(lrs) == 1
            self.used.append((lrs.pop(), model.clip_range(model._current_progress_remaining),
                              model.ent_coef))

        model.policy.optimizer.register_step_pre_hook(record)
        return model

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        self.used.clear()
        super().train(hparams, steps)
        used = np.array(self.used)
        self.log(updates=len(used), **{f"{name}_{end}": float(f(used[:, i]))
                                       for i, name in enumerate(("lr", "clip", "ent"))
                                       for end, f in (("min", np.min), ("max", np.max))})


def test_ppo_uses_the_members_hyperparameters_in_every_update_after_every_exploit(
        tmp_path: Path):
    pop = popbt.create_population(
        name="sb3", storage=f"sqlite:///{tmp_path / 's.db'}", space=example.space, size=4,
        metric="mean_return", seed=0, ready=popbt.Every(steps=2),
        exploit=popbt.Truncation(fraction=0.25),
        explore=popbt.Perturb(factors=(0.8, 1.2), resample_probability=0.25))
    pop.train(Observed, steps=12)

    expected = intervals_after_exploits(pop, interval=2, explored="learning_rate")
    for score in pop.scores():
        hp, used = expected[score.member_id, score.step], score.metrics
        where = f"member {score.member_id}, interval ending at step {score.step}"
        assert used["updates"] == 2 * 2 * 2, where  # iterations x epochs x minibatches
        for key, name in (("lr", "learning_rate"), ("clip", "clip_range"),
                          ("ent", "ent_coef")):
            assert used[f"{key}_min"] == used[f"{key}_max"] == pytest.approx(
                hp[name], rel=1e-12), f"{where}: {name}"


def test_the_example_passes_check_trainable():
    result = popbt.check_trainable(example.CartPolePPO, example.space, steps=2)
    assert result.ok, str(result)


def test_state_left_out_is_found_by_check_trainable():
    class ForgetsEnvGenerators(Observed):
        def load_env_state(self, venv: Any, state: dict[str, Any]) -> None:
            state = {**state, "envs": [[{**layer, "generators": {}} for layer in env]
                                       for env in state["envs"]]}
            super().load_env_state(venv, state)

    space = popbt.Space({"learning_rate": popbt.LogUniform(1e-4, 1e-2)})
    result = popbt.check_trainable(ForgetsEnvGenerators, space, steps=2)
    assert [f.kind for f in result.findings] == ["state"], str(result)


class NormalizedA2C(SB3Trainable):
    """A2C on normalized observations and rewards: VecNormalize's running statistics are
    state too."""

    def build(self, hparams: dict[str, Any], seed: int) -> A2C:
        env = VecNormalize(make_vec_env("CartPole-v1", n_envs=2, seed=seed))
        return A2C("MlpPolicy", env, n_steps=16, seed=seed, device="cpu")


def test_a2c_under_vec_normalize_passes_check_trainable():
    space = popbt.Space({"learning_rate": popbt.LogUniform(1e-4, 1e-2),
                         "gamma": popbt.Uniform(0.9, 0.999)})
    result = popbt.check_trainable(NormalizedA2C, space, steps=2)
    assert result.ok, str(result)


def test_a_hyperparameter_the_algorithm_does_not_have_is_reported(tmp_path: Path):
    space = popbt.Space({"learning_rate": popbt.LogUniform(1e-4, 1e-2),
                         "clip_range": popbt.Uniform(0.1, 0.3),  # PPO's, not A2C's
                         "lr": popbt.LogUniform(1e-4, 1e-2)})  # SB3 overwrites it
    pop = popbt.create_population(name="a2c", storage=f"sqlite:///{tmp_path / 'a.db'}",
                                  space=space, size=2, metric="mean_return", seed=0,
                                  ready=popbt.Every(steps=1))
    with pytest.warns(UnusedHyperparameterWarning) as caught:
        pop.train(NormalizedA2C, steps=1)
    message = str(caught[0].message)
    assert "'clip_range', 'lr'" in message and "it reads 'learning_rate'" in message
    findings = popbt.check_trainable(NormalizedA2C, space, steps=1).findings
    assert [f.kind for f in findings][:1] == ["unread"]


def test_apply_hparams_sets_what_the_next_update_reads():
    trainable = example.CartPolePPO()
    trainable.setup({}, seed=0)
    model = trainable.model
    hp = Hyperparameters({"learning_rate": 3e-3, "clip_range": 0.15, "gamma": 0.9,
                          "gae_lambda": 0.7, "n_epochs": 2, "batch_size": 32, "eps": 1e-6,
                          "n_steps": 64})
    applied = apply_hparams(model, hp)
    assert sorted(applied) == sorted(hp.read) == sorted(set(hp) - {"n_steps"})
    assert model.lr_schedule(0.5) == 3e-3 and model.clip_range(0.5) == 0.15
    assert model.rollout_buffer.gamma == 0.9 and model.rollout_buffer.gae_lambda == 0.7
    assert model.n_epochs == 2 and model.batch_size == 32
    assert all(g["lr"] == 3e-3 and g["eps"] == 1e-6 for g in model.policy.optimizer.param_groups)
    with pytest.raises(ConfigError, match=r"batch_size=0: must be an integer >= 1"):
        apply_hparams(model, {"batch_size": 0})


def test_the_score_is_nan_before_an_episode_ends():
    trainable = example.CartPolePPO()
    trainable.setup({}, seed=0)
    assert all(math.isnan(v) for v in trainable.evaluate().values())


def test_a_build_that_returns_no_on_policy_algorithm_is_refused():
    class ReturnsTheEnv(SB3Trainable):
        def build(self, hparams: dict[str, Any], seed: int) -> Any:
            return make_vec_env("CartPole-v1")

    with pytest.raises(ConfigError, match=r"ReturnsTheEnv.build must return a "
                                          r"Stable-Baselines3 on-policy algorithm .*DummyVecEnv"):
        ReturnsTheEnv().setup({}, 0)

    class Unset(SB3Trainable):
        env_id = "CartPole-v1"

    with pytest.raises(ConfigError, match=r"Unset: set the class attributes `algorithm`"):
        Unset().setup({}, 0)
