"""Setting a member's hyperparameters on an SB3 algorithm (see `popbt.sb3`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.utils import FloatSchedule, update_learning_rate

from popbt.errors import ConfigError
from popbt.hparams import mark_read, plain
from popbt.torch import apply_hparams as apply_optimizer_hparams

_SCHEDULES = ("clip_range", "clip_range_vf")  # besides learning_rate
_FLOATS = ("ent_coef", "vf_coef", "max_grad_norm", "gamma", "gae_lambda", "target_kl")
_COUNTS = ("n_epochs", "batch_size")
_NOT_OPTIMIZER = {"learning_rate", "normalize_advantage", "lr", *_SCHEDULES, *_FLOATS,
                  *_COUNTS}  # "lr": SB3 overwrites it from lr_schedule at every update


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"hyperparameter {name}={value!r}: must be an integer >= 1")
    return int(value)


def apply_hparams(model: OnPolicyAlgorithm, hparams: Mapping[str, Any]) -> list[str]:
    """Set the hyperparameters of `hparams` that `model` has, so that its next update uses
    them; return the names applied (noted as read in a `popbt.hparams.Hyperparameters`).

    Names applied: `learning_rate` (a constant `lr_schedule`, and the optimizer's lr now),
    `clip_range` and `clip_range_vf` (constant schedules; PPO), `gamma` and `gae_lambda`
    (on the algorithm and its rollout buffer), `ent_coef`, `vf_coef`, `max_grad_norm`,
    `target_kl`, `normalize_advantage`, `n_epochs`, `batch_size` (where the algorithm has
    the attribute), and the optimizer's settings but `lr` (see `popbt.torch.apply_hparams`).

    Raises:
        ConfigError: `n_epochs` or `batch_size` that is not an integer >= 1.
    """
    values, applied = plain(hparams), []
    if "learning_rate" in values:
        model.learning_rate = float(values["learning_rate"])
        model.lr_schedule = FloatSchedule(model.learning_rate)
        update_learning_rate(model.policy.optimizer, model.learning_rate)
        applied.append("learning_rate")
    for name in _SCHEDULES:
        if name in values and hasattr(model, name):
            setattr(model, name, FloatSchedule(float(values[name])))
            applied.append(name)
    for name in _FLOATS:
        if name in values and hasattr(model, name):
            setattr(model, name, float(values[name]))
            if name in ("gamma", "gae_lambda"):
                setattr(model.rollout_buffer, name, float(values[name]))
            applied.append(name)
    for name in _COUNTS:
        if name in values and hasattr(model, name):
            setattr(model, name, _count(name, values[name]))
            applied.append(name)
    if "normalize_advantage" in values and hasattr(model, "normalize_advantage"):
        model.normalize_advantage = bool(values["normalize_advantage"])
        applied.append("normalize_advantage")
    optimizer = {k: v for k, v in values.items() if k not in _NOT_OPTIMIZER}
    applied += apply_optimizer_hparams(model.policy.optimizer, optimizer)
    mark_read(hparams, applied)
    return applied
