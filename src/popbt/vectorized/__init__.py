"""A whole population trained as one batched model in one process (extra `torch`).

`VectorizedPopulation` stacks every member's parameters and trains them with
`torch.func.vmap`; decisions use the same strategy objects, and records go to the same
storage, as the worker loop. `VectorizedActorCritic` does the same for reinforcement
learning (A2C, PPO) on `popbt.vectorized.envs`: classic-control environments as tensors
(`CartPole`, `Acrobot`: members × environments stepped at once, on any device).
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("popbt.vectorized needs PyTorch: pip install 'popbt[torch]'") from exc

from popbt.vectorized.population import VectorizedPopulation
from popbt.vectorized.rl import ActorCriticMLP, VectorizedActorCritic

__all__ = ["ActorCriticMLP", "VectorizedActorCritic", "VectorizedPopulation"]
