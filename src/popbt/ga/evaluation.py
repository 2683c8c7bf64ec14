"""Evaluating every genome of a generation at once: one batched network, batched environments.

Contract:
- `Policy` runs every member's network on its own inputs: `policy(x)` with `x` of shape
  [P, B, inputs] (or [B, inputs], the same inputs for all) gives [P, B, outputs]: batched
  matrix products for an MLP (`nn.Sequential` of `nn.Linear` and elementwise activations),
  `vmap` over `functional_call` for any other module.
- An evaluation function is called as `evaluate(policy, seed)` once per generation, `seed`
  an integer drawn from the population's seed and the generation (the same on a resumed
  run); it returns a dict of tensors: under the population's metric one value per member
  [P] or samples per member [P, k] (the score is their mean), and any other values [P].
  With evaluation workers, each is called with its share of the members, the same `seed`,
  and `policy.offset` the place of its first member in the generation (0 otherwise): an
  evaluation whose every member's result depends only on its weights, `seed` and its place
  (`policy.offset` + its row) gives the same scores whatever the number of workers.
  `Episodes` and `popbt.ga.minatar.MinAtarEpisodes` are such evaluations.
- `Episodes` is the evaluation of a reinforcement-learning policy on `popbt.vectorized.envs`:
  each member plays `episodes` episodes at once (greedy actions, the argmax of its outputs),
  each to its end or its time limit; it returns the episodes' returns under "return"
  ([P, episodes]) and the frames (environment steps) each member played under "frames".
  A member's episodes start where they would for its place in the whole generation (see
  `popbt.vectorized.envs`, `offset`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

from popbt.errors import ConfigError
from popbt.vectorized import _bmm
from popbt.vectorized._stack import Layout
from popbt.vectorized.envs import Acrobot, Batched, CartPole, MountainCar

EvaluateFn = Callable[["Policy", int], dict[str, torch.Tensor]]
ENVIRONMENTS: dict[str, type[Batched]] = {"CartPole": CartPole, "Acrobot": Acrobot,
                                          "MountainCar": MountainCar}


def per_member(out: Any, metric: str, size: int) -> list[dict[str, Any]]:
    """What an evaluation returned, as one result per member (numbers, and the metric's
    samples as a list).

    Raises:
        ConfigError: `out` is not a dict holding `metric`, or a value is not one per member
            ([size], or [size, samples] for the metric).
    """
    if not isinstance(out, Mapping) or metric not in out:
        raise ConfigError(f"evaluate returned {type(out).__name__} without the metric "
                          f"{metric!r}; return a dict of tensors holding it")
    results: list[dict[str, Any]] = [{} for _ in range(size)]
    for key, value in out.items():
        value = torch.as_tensor(value).detach().cpu().double()
        if value.shape[:1] != (size,) or value.dim() > 2 or (value.dim() == 2 and key != metric):
            raise ConfigError(f"evaluate returned {key!r} of shape {tuple(value.shape)}; "
                              f"expected [{size}] (or [{size}, samples] for the metric)")
        for i in range(size):
            results[i][key] = value[i].tolist()
    return results


class Policy:
    """Every member's network on its own inputs (see the module contract).

    Attributes:
        size: the number of members, P.
        device: where the weights are.
        offset: the place of its first member in the generation (a worker's share starts
            further on; see the module contract).
    """

    def __init__(self, template: nn.Module, layout: Layout, flat: torch.Tensor, *,
                 offset: int = 0) -> None:
        self.template, self.layout, self.flat = template, layout, flat
        self.size, self.device, self.offset = int(flat.shape[0]), flat.device, offset
        self._plan = _bmm.plan(template)

    @classmethod
    def of(cls, model_fn: Callable[[], nn.Module], flat: torch.Tensor, *,
           offset: int = 0) -> Policy:
        """The policy of `model_fn`'s network with the weights `flat` [P, N], its first
        member at place `offset` of the generation."""
        model = model_fn()
        layout = Layout(model)
        if flat.dim() != 2 or flat.shape[1] != layout.size:
            raise ConfigError(f"weights of shape {tuple(flat.shape)} do not fit the network's "
                              f"{layout.size} parameters")
        return cls(copy.deepcopy(model).to("meta"), layout, flat, offset=offset)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        params = self.layout.views(self.flat)
        if self._plan is not None and x.dim() in (2, 3):
            return _bmm.forward(self._plan, params, x)
        self.template.eval()
        if x.dim() >= 2 and x.shape[0] == self.size:
            return vmap(lambda p, xi: functional_call(self.template, p, (xi,)))(params, x)
        return vmap(lambda p: functional_call(self.template, p, (x,)))(params)


@dataclass(frozen=True)
class Episodes:
    """Greedy episodes of every member on a batched environment (see the module contract).

    Args:
        env: "CartPole", "Acrobot", "MountainCar", or a `popbt.vectorized.envs.Batched` subclass.
        episodes: episodes per member and generation (>= 1).
        max_steps: the time limit of an episode (None: the environment's, gymnasium's).

    Raises:
        ConfigError: an unknown environment, or a count that is not an integer >= 1.

    Examples:
        >>> from torch import nn
        >>> policy = Policy.of(lambda: nn.Linear(4, 2), torch.zeros(3, 10))
        >>> out = Episodes("CartPole", episodes=2)(policy, 0)
        >>> tuple(out["return"].shape), tuple(out["frames"].shape)
        ((3, 2), (3,))
    """

    env: str | type[Batched] = "CartPole"
    episodes: int = 1
    max_steps: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.env, str) and self.env not in ENVIRONMENTS:
            raise ConfigError(f"Episodes(env={self.env!r}): choose one of "
                              f"{sorted(ENVIRONMENTS)} or pass a Batched subclass")
        if not isinstance(self.env, str) and not (isinstance(self.env, type)
                                                  and issubclass(self.env, Batched)):
            raise ConfigError(f"Episodes(env={self.env!r}): not an environment name nor a "
                              f"popbt.vectorized.envs.Batched subclass")
        for name in ("episodes", "max_steps"):
            value = getattr(self, name)
            if value is None and name == "max_steps":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Episodes({name}={value!r}): must be an integer >= 1")

    def make(self, members: int, seed: int, device: torch.device, offset: int = 0) -> Batched:
        """The environments of one generation: `members` × `episodes`, as members
        `offset`.. of the generation."""
        cls = ENVIRONMENTS[self.env] if isinstance(self.env, str) else self.env
        return cls(members, self.episodes, seed=seed, device=device, max_steps=self.max_steps,
                   offset=offset)

    def __call__(self, policy: Policy, seed: int) -> dict[str, torch.Tensor]:
        env = self.make(policy.size, seed, policy.device, policy.offset)
        obs = env.reset()
        returns = torch.full(env.shape, float("nan"), device=policy.device)
        frames = torch.zeros(env.shape, dtype=torch.long, device=policy.device)
        done = torch.zeros(env.shape, dtype=torch.bool, device=policy.device)
        while not bool(done.all()):
            step = env.step(policy(obs.float()).argmax(-1))
            frames += (~done).long()
            ended = ~torch.isnan(step.ended_returns) & ~done
            returns = torch.where(ended, step.ended_returns.float(), returns)
            done |= ended
            obs = step.obs
        return {"return": returns, "frames": frames.sum(1).float()}
