"""A population of actor-critic agents trained as one batched model, on environments stepped
as tensors on the same device (`popbt.vectorized.envs`).

Contract (beyond `popbt.vectorized.population`'s, which holds here too):
- One training step is one rollout of `rollout` steps in each of the `envs` environments of
  every member, then one update (A2C) or `epochs` updates on the whole rollout (PPO's clipped
  objective). Advantages by GAE, standardised over each member's rollout unless
  `normalize_advantages=False`; an episode cut by the time limit is bootstrapped from the
  value of its last observation, a terminated one not.
- Per-member hyperparameters, as [P] tensors: the optimizer's settings (`lr`, ...) and
  `entropy_coef`, `value_coef`, `gamma`, `gae_lambda` and, for PPO, `clip_range`; those not in
  the space take `DEFAULTS`. A hyperparameter that none of these is (or `clip_range` with
  A2C) is refused: it would change nothing.
- Each member's gradient is clipped to `max_grad_norm` on its own, then the optimizer updates
  every row; a member's update is what training it alone would give.
- Metrics at every evaluation: `return`, the returns of the member's last `episodes_scored`
  finished episodes as samples (its score is their mean, and `TTest` tests them, as episode
  returns `evaluate` gives in the worker loop; with `samples=False` their mean alone; before
  its first episode ends, the mean return so far of the episodes under way), and `episodes`,
  how many it has finished.
- An exploit copies the donor's rows of the parameters, of the optimizer state, of its
  environments (their states, episodes under way and recent returns): the member goes on from
  exactly where the donor is. Snapshots hold all of it, and the generators, so a resumed run
  goes on as an uninterrupted one would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

from popbt.callbacks import Callback
from popbt.errors import ConfigError
from popbt.population import DEFAULT_EXPLOIT, DEFAULT_EXPLORE, DEFAULT_STORAGE
from popbt.records import Member
from popbt.settings import Settings
from popbt.space import Space
from popbt.stopping import StopRule
from popbt.storage import Storage
from popbt.strategies import Every, Exploit, Explore, as_explore
from popbt.vectorized import _bmm, _optim
from popbt.vectorized._rounds import Rounds
from popbt.vectorized.envs import Batched

ALGORITHMS = ("a2c", "ppo")
DEFAULTS = {"entropy_coef": 0.01, "value_coef": 0.5, "gamma": 0.99, "gae_lambda": 0.95,
            "clip_range": 0.2}
Rollout = dict[str, torch.Tensor]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}={value!r}: must be an integer >= 1")
    return value


def gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
        terminated: torch.Tensor, ended: torch.Tensor, gamma: torch.Tensor,
        lam: torch.Tensor) -> torch.Tensor:
    """Advantages [T, P, E] by generalised advantage estimation, per member's `gamma` and
    `lam` ([P]). `next_values[t]` is the value after step t (of the next observation, or of
    the ended episode's last one); `terminated` zeroes it; `ended` stops the sum there."""
    g, lam = gamma[:, None], lam[:, None]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        delta = rewards[t] + g * next_values[t] * (~terminated[t]) - values[t]
        running = delta + g * lam * (~ended[t]) * running
        advantages[t] = running
    return advantages


class VectorizedActorCritic(Rounds):
    """Actor-critic agents (A2C or PPO), the whole population one batched model.

    `size`, `space`, `metric` (default "return"), `mode`, `seed`, `ready`, `exploit`,
    `explore`, `initial`, `storage`, `name`, `checkpoints`, `keep_checkpoints`,
    `load_if_exists`, `max_lead`, `sync`, `optimizer`, `snapshot_every` and `device` are as
    for `VectorizedPopulation`.

    Args:
        model_fn: builds one agent: a module without buffers whose `forward(obs)` returns
            (action logits [..., actions], state value [...]).
        env: builds the environments, `env(members, envs, seed=..., device=...)` → a
            `popbt.vectorized.envs.Batched` (e.g. `popbt.vectorized.envs.CartPole`).
        envs: environments per member.
        rollout: steps of every environment per training step.
        algorithm: "a2c" or "ppo".
        epochs: PPO's passes over each rollout.
        max_grad_norm: each member's gradient is clipped to this norm (None: not clipped).
        normalize_advantages: standardise each member's advantages over its rollout.
        episodes_scored: finished episodes the `return` metric averages.
        samples: report those returns as samples of `return` (`TTest` tests them); False:
            their mean only (`TTest` then tests each member's recent scores).

    Examples:
        >>> from popbt import Every, LogUniform, Space
        >>> from popbt.vectorized.envs import CartPole
        >>> def agent():
        ...     return ActorCriticMLP(CartPole.observations, CartPole.actions)
        >>> vp = VectorizedActorCritic(
        ...     model_fn=agent, env=CartPole, size=4, space=Space({"lr": LogUniform(3e-4, 3e-3)}),
        ...     ready=Every(steps=25), name="cartpole-vec", storage="sqlite:///popbt.db")
        >>> best = vp.train(steps=50)
        >>> best.step, best.metrics["episodes"] > 0
        (50, True)

    Raises:
        ConfigError: on any invalid setting, naming it.
    """

    metric_hint = "; VectorizedActorCritic computes 'return' and 'episodes'"

    def __init__(self, *, model_fn: Callable[[], nn.Module], env: Callable[..., Batched],
                 size: int, space: Space, ready: Every, name: str, metric: str = "return",
                 envs: int = 8, rollout: int = 16, algorithm: str = "a2c", epochs: int = 4,
                 max_grad_norm: float | None = 0.5, normalize_advantages: bool = True,
                 episodes_scored: int = 10, samples: bool = True,
                 optimizer: str = "adam", mode: str = "max",
                 exploit: Exploit = DEFAULT_EXPLOIT,
                 explore: Explore | Callable[..., Any] | None = DEFAULT_EXPLORE,
                 initial: Sequence[Mapping[str, Any]] = (), seed: int = 0,
                 snapshot_every: int = 1, device: str | torch.device = "cpu",
                 storage: str | Storage = DEFAULT_STORAGE,
                 checkpoints: str | Path | None = None, keep_checkpoints: int = 3,
                 load_if_exists: bool = False, max_lead: int | None = None,
                 sync: bool = False) -> None:
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"algorithm={algorithm!r}: choose one of {ALGORITHMS}")
        self.algorithm = algorithm
        self.envs = _positive_int("envs", envs)
        self.rollout = _positive_int("rollout", rollout)
        self.epochs = _positive_int("epochs", epochs)
        self.episodes_scored = _positive_int("episodes_scored", episodes_scored)
        if max_grad_norm is not None and (isinstance(max_grad_norm, bool) or not isinstance(
                max_grad_norm, int | float) or not math.isfinite(max_grad_norm)
                or max_grad_norm <= 0):
            raise ConfigError(f"max_grad_norm={max_grad_norm!r}: must be a number > 0, or None")
        self.max_grad_norm = max_grad_norm
        self.normalize_advantages = bool(normalize_advantages)
        self.samples = bool(samples)
        settings = Settings(space=space, size=size, metric=metric, mode=mode, seed=seed,
                            ready=ready, exploit=exploit, explore=as_explore(explore),
                            keep_checkpoints=keep_checkpoints, max_lead=max_lead, sync=sync)
        super().__init__(settings=settings, model_fn=model_fn, name=name, optimizer=optimizer,
                         snapshot_every=snapshot_every, device=device, storage=storage,
                         initial=initial, checkpoints=checkpoints,
                         load_if_exists=load_if_exists)
        if self.buffers:
            raise ConfigError(f"the agent has buffers {sorted(self.buffers)}: "
                              f"VectorizedActorCritic needs one without them (LayerNorm, not "
                              f"BatchNorm)")
        self._env = env(size, self.envs, seed=settings.member_seed(size), device=self.device)
        if not isinstance(self._env, Batched) or self._env.shape != (size, self.envs):
            raise ConfigError(f"env(...) returned {self._env!r}: expected a "
                              f"popbt.vectorized.envs.Batched of shape {(size, self.envs)}")
        self._plans = _mlp_plans(self._template)
        self._obs = self._env.reset()
        self._recent = torch.full((size, self.episodes_scored), math.nan, device=self.device)
        self._finished = torch.zeros(size, dtype=torch.long, device=self.device)
        self._actions_rng = torch.Generator(device=self.device).manual_seed(
            settings.member_seed(size + 1))
        self._resume()

    def train(self, *, steps: int, stop: StopRule | Sequence[StopRule] | None = None,
              callbacks: Sequence[Callback] = ()) -> Member | None:
        """Train every member to `steps` training steps (continuing from where it is), or
        until a rule of `stop` fires; return the best. `stop` and `callbacks` as for
        `Population.train`.

        Raises:
            ConfigError: bad steps, stop rules or callbacks, or a metric never computed.
            CallbackError: a callback raised (the run stopped first, losing nothing).
        """
        return self._run(steps, stop, callbacks)

    # -- settings ----------------------------------------------------------------------------

    def _check_space(self, space: Space, optimizer: str) -> None:
        used = set(_optim.DEFAULTS[optimizer]) | set(DEFAULTS)
        if self.algorithm == "a2c":
            used.discard("clip_range")
        unused = [k for k in space if k not in used]
        if unused:
            raise ConfigError(f"hyperparameters {unused} change nothing: {self.algorithm} with "
                              f"{optimizer!r} reads {sorted(used)}")

    # -- training ----------------------------------------------------------------------------

    def _forward(self, flat: torch.Tensor,
                 obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every member's logits and values for its observations `obs` [P, B, ...]: batched
        matrix products for an `ActorCriticMLP`, `vmap` over `functional_call` otherwise."""
        params = self._layout.views(flat)
        plans = self._plans
        if plans is not None:
            if "trunk" in plans:
                hidden = _bmm.forward(plans["trunk"], params, obs)
                return (_bmm.forward(plans["policy"], params, hidden),
                        _bmm.forward(plans["value"], params, hidden)[..., 0])
            return (_bmm.forward(plans["actor"], params, obs),
                    _bmm.forward(plans["critic"], params, obs)[..., 0])

        def one(params: dict[str, torch.Tensor],
                x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = functional_call(self._template, params, (x,))
            return out[0], out[1]

        logits, values = vmap(one, randomness="different")(params, obs)
        return logits, values

    @torch.no_grad()
    def _collect(self) -> Rollout:
        """One rollout of every environment, with what the update needs."""
        size, envs = len(self._records), self.envs
        steps: dict[str, list[torch.Tensor]] = {k: [] for k in (
            "obs", "actions", "ended_returns", "logp", "values", "rewards", "terminated",
            "ended", "final")}
        for _ in range(self.rollout):
            logits, values = self._forward(self.flat, self._obs)
            logp_all = torch.log_softmax(logits, dim=-1)
            actions = torch.multinomial(logp_all.exp().reshape(size * envs, -1), 1,
                                        generator=self._actions_rng).view(size, envs)
            step = self._env.step(actions)
            ended = step.terminated | step.truncated
            for key, value in (("obs", self._obs), ("actions", actions),
                               ("ended_returns", step.ended_returns),
                               ("logp", logp_all.gather(-1, actions[..., None])[..., 0]),
                               ("values", values), ("rewards", step.reward.float()),
                               ("terminated", step.terminated), ("ended", ended),
                               ("final", step.final_obs)):
                steps[key].append(value)
            self._obs = step.obs
        out = {k: torch.stack(v) for k, v in steps.items()}  # [T, P, E, ...]
        self._record_returns(out["ended_returns"].transpose(0, 1).reshape(size, -1))
        # the value after each step: of the next observation, or of an ended episode's last
        after = torch.cat((out["obs"][1:], self._obs[None]))
        after = torch.where(out["ended"][..., None], out["final"], after)
        _, next_values = self._forward(self.flat, after.transpose(0, 1).reshape(
            size, self.rollout * envs, -1))
        out["next_values"] = next_values.view(size, self.rollout, envs).transpose(0, 1)
        return out

    def _record_returns(self, ended_returns: torch.Tensor) -> None:
        """Keep each member's last `episodes_scored` returns, oldest first: those it had, then
        those of `ended_returns` [P, n] (NaN: no episode ended), in order."""
        combined = torch.cat((self._recent, ended_returns.float()), dim=1)
        valid = ~torch.isnan(combined)
        count = valid.sum(dim=1, keepdim=True)
        rank = valid.cumsum(dim=1)  # 1 for a row's first valid return, 2 for its second, ...
        slot = self.episodes_scored - 1 - (count - rank)  # the newest goes last
        keep = valid & (slot >= 0)
        out = torch.full((combined.shape[0], self.episodes_scored + 1), math.nan,
                         device=combined.device)
        out.scatter_(1, torch.where(keep, slot, self.episodes_scored), combined)
        self._recent = out[:, :-1]
        self._finished = self._finished + (~torch.isnan(ended_returns)).sum(dim=1)

    def _train_steps(self, steps: int, hp: dict[str, torch.Tensor]) -> None:
        opt_settings = self._optimizer_settings(hp)
        rl = self._per_member(hp, DEFAULTS)
        size = len(self._records)
        for _ in range(steps):
            data = self._collect()
            advantages = gae(data["rewards"], data["values"], data["next_values"],
                             data["terminated"], data["ended"], rl["gamma"], rl["gae_lambda"])
            returns = advantages + data["values"]

            def flat_members(x: torch.Tensor) -> torch.Tensor:  # [T, P, E, ...] → [P, T·E, ...]
                return x.transpose(0, 1).reshape(size, self.rollout * self.envs,
                                                 *x.shape[3:])

            batch = {k: flat_members(v) for k, v in (
                ("obs", data["obs"]), ("actions", data["actions"]), ("logp", data["logp"]),
                ("advantages", advantages), ("returns", returns))}
            for _ in range(self.epochs if self.algorithm == "ppo" else 1):
                grads = self._gradients(batch, rl)
                _optim.update(self.optimizer, self.flat, grads, self.opt_state, opt_settings)

    def _gradients(self, batch: Rollout, rl: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each member's gradient of its own loss on its own rollout, [P, N], clipped."""
        flat = self.flat.detach().requires_grad_(True)
        logits, values = self._forward(flat, batch["obs"])
        logp_all = torch.log_softmax(logits, dim=-1)
        logp = logp_all.gather(-1, batch["actions"][..., None])[..., 0]
        entropy = -(logp_all.exp() * logp_all).sum(-1).mean(1)
        advantages = batch["advantages"]
        if self.normalize_advantages:
            advantages = (advantages - advantages.mean(1, keepdim=True)) / (
                advantages.std(1, keepdim=True) + 1e-8)
        if self.algorithm == "ppo":
            ratio = torch.exp(logp - batch["logp"])
            clip = rl["clip_range"][:, None]
            policy = -torch.min(ratio * advantages,
                                ratio.clamp(1 - clip, 1 + clip) * advantages).mean(1)
        else:
            policy = -(logp * advantages).mean(1)
        value = (batch["returns"] - values).square().mean(1)
        loss = policy + rl["value_coef"] * value - rl["entropy_coef"] * entropy
        (grads,) = torch.autograd.grad(loss.sum(), flat)
        if self.max_grad_norm is not None:
            norms = grads.norm(dim=1, keepdim=True)
            grads = grads * (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        return grads

    # -- evaluation and state ------------------------------------------------------------------

    def _evaluate(self, hp: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
        under_way = self._env.running.float().mean(dim=1).tolist()
        out: list[dict[str, Any]] = []
        for recent, finished, running in zip(self._recent.tolist(), self._finished.tolist(),
                                             under_way, strict=True):
            returns = [x for x in recent if not math.isnan(x)]
            if returns and not self.samples:
                out.append({"return": math.fsum(returns) / len(returns), "episodes": finished})
            else:
                out.append({"return": returns or running, "episodes": finished})
        return out

    def _gather(self, index: torch.Tensor) -> None:
        super()._gather(index)
        env = self._env.state_dict()
        self._env.load_state_dict({**env, **{k: env[k].index_select(0, index)
                                             for k in ("state", "elapsed", "running")}})
        self._obs = self._obs.index_select(0, index)
        self._recent = self._recent.index_select(0, index)
        self._finished = self._finished.index_select(0, index)

    def _extra_state(self) -> dict[str, Any]:
        return {"env": {k: v.cpu() if isinstance(v, torch.Tensor) else v
                        for k, v in self._env.state_dict().items()},
                "obs": self._obs.cpu(), "recent": self._recent.cpu(),
                "finished": self._finished.cpu(),
                "actions_rng": self._actions_rng.get_state()}

    def _load_extra(self, state: dict[str, Any]) -> None:
        self._env.load_state_dict(state["env"])
        self._obs = state["obs"].to(self.device)
        self._recent = state["recent"].to(self.device)
        self._finished = state["finished"].to(self.device)
        self._actions_rng.set_state(state["actions_rng"])


def _mlp_plans(template: nn.Module) -> dict[str, _bmm.Plan] | None:
    """The batched-matmul plans of an `ActorCriticMLP`'s parts, by name (None: another
    module, run by `vmap`)."""
    if type(template) is not ActorCriticMLP:  # a subclass may change forward
        return None
    parts = ("trunk", "policy", "value") if template.shared else ("actor", "critic")
    plans = {name: _bmm.plan(getattr(template, name), f"{name}.") for name in parts}
    if any(plan is None for plan in plans.values()):
        return None
    return {name: plan for name, plan in plans.items() if plan is not None}


class ActorCriticMLP(nn.Module):
    """Policy logits and state value from tanh MLPs (two hidden layers of `hidden`): a
    `model_fn` for `VectorizedActorCritic`.

    By default the actor and the critic are separate networks (as Stable-Baselines3's and
    CleanRL's PPO build them): a critic fitting returns of hundreds does not then swamp the
    features the policy reads. `shared=True` gives them one trunk with two heads (attributes
    `trunk`, `policy`, `value`; else `actor`, `critic`)."""

    def __init__(self, observations: int, actions: int, hidden: int = 64,
                 shared: bool = False) -> None:
        super().__init__()
        self.shared = bool(shared)

        def tanh_mlp(outputs: int | None) -> nn.Sequential:
            layers: list[nn.Module] = [nn.Linear(observations, hidden), nn.Tanh(),
                                       nn.Linear(hidden, hidden), nn.Tanh()]
            return nn.Sequential(*layers, *([nn.Linear(hidden, outputs)] if outputs else []))

        if self.shared:
            self.trunk = tanh_mlp(None)
            self.policy = nn.Linear(hidden, actions)
            self.value = nn.Linear(hidden, 1)
        else:
            self.actor, self.critic = tanh_mlp(actions), tanh_mlp(1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.shared:
            h = self.trunk(obs)
            return self.policy(h), self.value(h).squeeze(-1)
        return self.actor(obs), self.critic(obs).squeeze(-1)
