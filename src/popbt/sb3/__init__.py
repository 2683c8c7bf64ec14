"""Stable-Baselines3 without boilerplate (extra `sb3`): a Trainable around an on-policy
algorithm (PPO, A2C, or another subclass of SB3's `OnPolicyAlgorithm`).

Subclass `SB3Trainable` and either set the class attributes `algorithm` (`PPO`), `env_id`
(`"CartPole-v1"`), `n_envs` and `algorithm_kwargs`, or override `build(hparams, seed)` to
return the algorithm you construct. One training step is one SB3 iteration: a rollout of
`n_steps` steps in each of the `n_envs` environments (`n_steps * n_envs` environment steps),
then one update (`n_epochs` passes over the rollout for PPO, one gradient step for A2C).

Hyperparameters are applied before every `train` call, so that the algorithm uses them from
its next update on (see `apply_hparams`): `learning_rate` and `clip_range` /
`clip_range_vf` become constant schedules (SB3 re-applies its `lr_schedule` to the optimizer
at every update, so a plain attribute would change nothing), `gamma` and `gae_lambda` reach
the rollout buffer too, and `ent_coef`, `vf_coef`, `max_grad_norm`, `target_kl`,
`normalize_advantage`, `n_epochs`, `batch_size` are set where the algorithm has them; the
optimizer's other settings (`eps`, `weight_decay`, `alpha`, `beta1`, ...) go to its param
groups. Any other name of the space is not applied, and popbt reports it with an
`UnusedHyperparameterWarning` (`n_steps`, say, which sizes the rollout buffer). Schedules
given to the constructor for names outside the space see the progress of one interval.

The score (`evaluate`) is the mean return and length of the last `episodes_scored`
training episodes (NaN before the first episode ends). `state_dict` holds the policy's
weights, the optimizer's state, the step counters, the member's own torch and NumPy random
states (SB3 samples actions and minibatches from the global generators: each member's are
swapped in around its training), the recent episodes, and the episodes under way: the last
observations and every environment's state. An environment's state is what its plain
attributes hold (NumPy arrays, numbers, strings, lists and dicts of them; and its random
generators), on the unwrapped environment, on each wrapper (the time limit's step count,
`Monitor`'s current episode) and on each `VecEnvWrapper` (`VecNormalize`'s running
statistics included). That is all of gymnasium's classic-control environments; for an
environment that keeps its state in other objects (a physics engine), override `env_state`
and `load_env_state`. `popbt.check_trainable` finds state left out. The environments must be
a `DummyVecEnv` (PBT already runs members in parallel); `Monitor`'s whole-run histories and
episode times are not saved.
"""

from __future__ import annotations

try:
    import stable_baselines3  # noqa: F401 - the extra's check, before its parts import it
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("popbt.sb3 needs Stable-Baselines3: pip install 'popbt[sb3]'") from exc

from popbt.sb3._apply import apply_hparams
from popbt.sb3._trainable import SB3Trainable

__all__ = ["SB3Trainable", "apply_hparams"]
