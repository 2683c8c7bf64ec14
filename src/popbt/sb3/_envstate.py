"""The state of an SB3 algorithm's environments, taken generically: the plain attributes and
random generators of every wrapper layer (see `popbt.sb3`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper

from popbt.errors import ConfigError

# Attributes that are not state: Monitor's whole-run histories (with episode times), and the
# infos of a DummyVecEnv's last step (replaced at every step, with episode times too).
_NOT_STATE: dict[type, frozenset[str]] = {
    Monitor: frozenset({"episode_returns", "episode_lengths", "episode_times"}),
    DummyVecEnv: frozenset({"buf_infos"}),
}
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _plain(value: Any) -> bool:
    """Whether `value` is stored as it is: numbers, strings, arrays, lists and dicts."""
    if value is None or isinstance(value, bool | int | float | str | np.generic):
        return True
    if isinstance(value, np.ndarray):
        return not value.dtype.hasobject
    if type(value) in (list, tuple):
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if type(value) in (list, tuple):
        return type(value)(_copy(v) for v in value)
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    return value


def _statistics(value: Any) -> dict[str, Any] | None:
    """A `RunningMeanStd` (or a dict of them, for dict observations) as plain values."""
    if isinstance(value, RunningMeanStd):
        return {"mean": value.mean.copy(), "var": value.var.copy(), "count": float(value.count)}
    if type(value) is dict and value and all(isinstance(v, RunningMeanStd)
                                             for v in value.values()):
        return {str(k): _statistics(v) for k, v in value.items()}
    return None


def _load_statistics(target: Any, saved: dict[str, Any]) -> None:
    if isinstance(target, RunningMeanStd):
        target.mean, target.var = np.array(saved["mean"]), np.array(saved["var"])
        target.count = float(saved["count"])
    else:
        for key, stats in saved.items():
            _load_statistics(target[key], stats)


def _snapshot(layer: Any) -> dict[str, Any]:
    """One environment or wrapper's state: its plain attributes, random generators and
    running statistics."""
    attrs, generators, statistics = {}, {}, {}
    skip = {name for kind, names in _NOT_STATE.items() if isinstance(layer, kind)
            for name in names}
    for name, value in vars(layer).items():
        if name in skip:
            continue
        if isinstance(value, np.random.Generator):
            generators[name] = value.bit_generator.state
        elif (stats := _statistics(value)) is not None:
            statistics[name] = stats
        elif _plain(value):
            attrs[name] = _copy(value)
    return {"type": type(layer).__name__, "attrs": attrs, "generators": generators,
            "statistics": statistics}


def _restore(layer: Any, saved: dict[str, Any]) -> None:
    for name, value in saved["attrs"].items():
        setattr(layer, name, _copy(value))
    for name, state in saved["generators"].items():
        generator = getattr(layer, name, None)
        if not isinstance(generator, np.random.Generator):
            kind = state.get("bit_generator")
            if kind not in _BIT_GENERATORS:
                raise ConfigError(f"the saved random generator {name!r} of "
                                  f"{saved['type']} is a {kind!r}; expected one of "
                                  f"{', '.join(_BIT_GENERATORS)}")
            generator = np.random.Generator(getattr(np.random, kind)())
            setattr(layer, name, generator)
        generator.bit_generator.state = state
    for name, stats in saved["statistics"].items():
        _load_statistics(getattr(layer, name), stats)


def _layers(env: Any) -> Iterator[Any]:
    """`env`, then each environment it wraps (gymnasium wrappers and vectorized wrappers)."""
    while True:
        yield env
        if isinstance(env, gym.Wrapper):
            env = env.env
        elif isinstance(env, VecEnvWrapper):
            env = env.venv
        else:
            return


def _base(venv: VecEnv) -> VecEnv:
    return list(_layers(venv))[-1]


def _observation(obs: Any) -> Any:
    if isinstance(obs, Mapping):
        return {str(k): np.array(v) for k, v in obs.items()}
    return None if obs is None else np.array(obs)
