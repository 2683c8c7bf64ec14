"""`SB3Trainable`: an SB3 on-policy algorithm as a member (see `popbt.sb3`)."""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from popbt.errors import ConfigError
from popbt.sb3._apply import apply_hparams
from popbt.sb3._envstate import _base, _layers, _observation, _restore, _snapshot
from popbt.torch import resolve_device
from popbt.trainable import Trainable


class SB3Trainable(Trainable):
    """A Trainable holding a Stable-Baselines3 on-policy algorithm in `self.model`.

    Class attributes for the default `build` (or override `build`):
    - `algorithm`: the algorithm's class (`stable_baselines3.PPO`, `A2C`, ...);
    - `env_id`: a gymnasium environment id, made `n_envs` times (default 1) in a
      `DummyVecEnv` by SB3's `make_vec_env`, with `env_kwargs`;
    - `policy` (default "MlpPolicy") and `algorithm_kwargs` (`n_steps`, `batch_size`,
      `policy_kwargs`, ...: what the algorithm's constructor takes besides the
      hyperparameters of the space, which `train` applies);
    - `device` (default "cpu", where SB3 runs MLP policies best; see
      `popbt.torch.resolve_device`).
    `episodes_scored` (default 10): how many recent training episodes `evaluate` averages.

    Example (training takes seconds, so it is not run here):

        class CartPolePPO(SB3Trainable):
            algorithm = PPO
            env_id = "CartPole-v1"
            n_envs = 4
            algorithm_kwargs = {"n_steps": 128, "batch_size": 128, "n_epochs": 4}

        space = popbt.Space({"learning_rate": popbt.LogUniform(1e-4, 3e-3),
                             "clip_range": popbt.Uniform(0.1, 0.3)})
    """

    algorithm: ClassVar[type[OnPolicyAlgorithm] | None] = None
    env_id: ClassVar[str | None] = None
    n_envs: ClassVar[int] = 1
    env_kwargs: ClassVar[dict[str, Any] | None] = None
    policy: ClassVar[str | type] = "MlpPolicy"
    algorithm_kwargs: ClassVar[dict[str, Any]] = {}
    device: ClassVar[str | None] = "cpu"
    episodes_scored: ClassVar[int] = 10
    unread_hint = ("an SB3Trainable applies only the algorithm's own settings (learning_rate, "
                   "clip_range, ent_coef, vf_coef, gamma, gae_lambda, max_grad_norm, n_epochs, "
                   "batch_size, ...) and optimizer settings; rename {them}, or override "
                   "train() to apply {them} before calling super().train()")
    model: OnPolicyAlgorithm
    _torch_rng: torch.Tensor
    _cuda_rng: torch.Tensor | None  # on a CUDA device only
    _numpy_rng: Any  # what np.random.get_state() returns

    def build(self, hparams: dict[str, Any], seed: int) -> OnPolicyAlgorithm:
        """The algorithm with its environments, built from the class attributes; override
        it to construct your own (pass `seed=seed` for reproducible members).

        Raises:
            ConfigError: `algorithm` or `env_id` not set, or `n_envs` not an integer >= 1.
        """
        name = type(self).__name__
        if self.algorithm is None or self.env_id is None:
            raise ConfigError(f"{name}: set the class attributes `algorithm` (PPO, A2C, ...) "
                              f"and `env_id` (a gymnasium id such as 'CartPole-v1'), or "
                              f"override build(hparams, seed) to return the algorithm")
        if isinstance(self.n_envs, bool) or not isinstance(self.n_envs, int) \
                or self.n_envs < 1:
            raise ConfigError(f"{name}.n_envs={self.n_envs!r}: must be an integer >= 1")
        from stable_baselines3.common.env_util import make_vec_env

        env = make_vec_env(self.env_id, n_envs=self.n_envs, seed=seed,
                           env_kwargs=self.env_kwargs)
        return self.algorithm(self.policy, env, seed=seed, device=resolve_device(self.device),
                              **self.algorithm_kwargs)

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        """`build` the algorithm under the member's own random state, seeded with `seed`
        (the process's global generators are left as they were).

        Raises:
            ConfigError: `build` returned something other than an on-policy algorithm with
                a `DummyVecEnv` (possibly under `VecEnvWrapper`s).
        """
        saved = np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                np.random.seed(seed % 2**32)
                model = self.build(hparams, seed)
                self._torch_rng = torch.get_rng_state()
            self._numpy_rng = np.random.get_state()
        finally:
            np.random.set_state(saved)
        name = type(self).__name__
        if not isinstance(model, OnPolicyAlgorithm):
            raise ConfigError(f"{name}.build must return a Stable-Baselines3 on-policy "
                              f"algorithm (PPO, A2C, or another OnPolicyAlgorithm), not "
                              f"{model!r}")
        if model.env is None or not isinstance(_base(model.env), DummyVecEnv):
            raise ConfigError(f"{name}.build returned {type(model).__name__} with env "
                              f"{model.env!r}; give it its environments in a DummyVecEnv "
                              f"(make_vec_env's default), whose state popbt can save")
        self.model = model
        self._cuda_rng = (torch.Generator(model.device).manual_seed(seed).get_state()
                          if model.device.type == "cuda" else None)

    @contextlib.contextmanager
    def _own_generators(self) -> Iterator[None]:
        """The global torch (CPU, and the model's CUDA device) and NumPy generators set to
        the member's own states, which are kept afterwards; the process's are put back."""
        device = self.model.device
        cuda = [device] if device.type == "cuda" else []
        saved = np.random.get_state()
        try:
            with torch.random.fork_rng(devices=cuda):
                torch.set_rng_state(self._torch_rng)
                if cuda and self._cuda_rng is not None:
                    torch.cuda.set_rng_state(self._cuda_rng, device)
                np.random.set_state(self._numpy_rng)
                yield
                self._torch_rng = torch.get_rng_state()
                self._cuda_rng = torch.cuda.get_rng_state(device) if cuda else None
                self._numpy_rng = np.random.get_state()
        finally:
            np.random.set_state(saved)

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        """Apply `hparams` (`apply_hparams`), then run `steps` SB3 iterations (rollout and
        update each) with `model.learn(..., reset_num_timesteps=False)`."""
        apply_hparams(self.model, hparams)
        rollout = self.model.n_steps * self.model.n_envs
        with self._own_generators():
            self.model.learn(total_timesteps=steps * rollout, reset_num_timesteps=False)

    def evaluate(self) -> dict[str, float]:
        """`mean_return` and `mean_length` of the last `episodes_scored` training episodes
        (NaN before the first one ends)."""
        count = self.episodes_scored
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigError(f"{type(self).__name__}.episodes_scored={count!r}: must be an "
                              f"integer >= 1")
        episodes = list(self.model.ep_info_buffer or ())[-count:]
        if not episodes:
            return {"mean_return": math.nan, "mean_length": math.nan}
        return {"mean_return": float(np.mean([e["r"] for e in episodes])),
                "mean_length": float(np.mean([e["l"] for e in episodes]))}

    def env_state(self, venv: VecEnv) -> dict[str, Any]:
        """The state of the training environments `venv`, as plain values: for each layer
        of the vectorized environment and of each environment, its plain attributes, random
        generators and running statistics (see the module's help)."""
        return {"vec": [_snapshot(layer) for layer in _layers(venv)],
                "envs": [[_snapshot(layer) for layer in _layers(env)]
                         for env in _base(venv).envs]}  # type: ignore[attr-defined]

    def load_env_state(self, venv: VecEnv, state: dict[str, Any]) -> None:
        """Restore what `env_state` returned into `venv`.

        Raises:
            ConfigError: the saved environments are wrapped differently, or are not as many.
        """
        envs = _base(venv).envs  # type: ignore[attr-defined]
        pairs = [(list(_layers(venv)), state["vec"])]
        if len(envs) != len(state["envs"]):
            raise ConfigError(f"the checkpoint holds {len(state['envs'])} environments, this "
                              f"member has {len(envs)}: give every member the same n_envs")
        pairs += [(list(_layers(env)), saved) for env, saved in zip(envs, state["envs"],
                                                                     strict=True)]
        for layers, saved in pairs:
            ours = [type(layer).__name__ for layer in layers]
            theirs = [s["type"] for s in saved]
            if ours != theirs:
                raise ConfigError(f"the checkpoint's environment is {' > '.join(theirs)}, "
                                  f"this member's is {' > '.join(ours)}: build every member "
                                  f"with the same wrappers")
            for layer, layer_state in zip(layers, saved, strict=True):
                _restore(layer, layer_state)

    def state_dict(self) -> dict[str, Any]:
        model = self.model
        assert model.env is not None  # checked in setup
        buffer, successes = model.ep_info_buffer, model.ep_success_buffer
        return {
            "policy": model.policy.state_dict(),
            "optimizer": model.policy.optimizer.state_dict(),
            "num_timesteps": int(model.num_timesteps), "n_updates": int(model._n_updates),
            "last_obs": _observation(model._last_obs),
            "last_episode_starts": _observation(model._last_episode_starts),
            "last_original_obs": _observation(model._last_original_obs),
            "episodes": None if buffer is None else {
                "returns": [float(e["r"]) for e in buffer],
                "lengths": [int(e["l"]) for e in buffer],
                "successes": [bool(s) for s in successes or ()]},
            "rng": {"torch": self._torch_rng, "numpy": self._numpy_rng,
                    "cuda": self._cuda_rng},
            "env": self.env_state(model.env),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        model = self.model
        assert model.env is not None  # checked in setup
        model.policy.load_state_dict(state["policy"])
        model.policy.optimizer.load_state_dict(state["optimizer"])
        model.num_timesteps = int(state["num_timesteps"])
        model._n_updates = int(state["n_updates"])
        model._last_obs = state["last_obs"]
        model._last_episode_starts = state["last_episode_starts"]
        model._last_original_obs = state["last_original_obs"]
        episodes = state["episodes"]
        if episodes is None:
            model.ep_info_buffer = model.ep_success_buffer = None
        else:
            window = model._stats_window_size
            model.ep_info_buffer = deque(
                ({"r": r, "l": n} for r, n in zip(episodes["returns"], episodes["lengths"],
                                                  strict=True)), maxlen=window)
            model.ep_success_buffer = deque(episodes["successes"], maxlen=window)
        rng = state["rng"]
        self._torch_rng, self._numpy_rng = rng["torch"], tuple(rng["numpy"])
        if model.device.type == "cuda" and rng["cuda"] is not None:
            self._cuda_rng = rng["cuda"]
        self.load_env_state(model.env, state["env"])
