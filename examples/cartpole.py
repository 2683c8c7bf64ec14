"""A compact advantage actor-critic (A2C with GAE) on gymnasium's CartPole-v1, complete.

    popbt run examples/cartpole.py --population 8 --workers 2 --steps 500   # with the CLI
    python examples/cartpole.py                                            # with the API

One training step is one update from a rollout of `ROLLOUT` steps in each of `ENVS`
environments. The score, as in the paper, is the mean return of the last 10 finished
episodes; PBT tunes the learning rate, the entropy coefficient, the discount and GAE's λ with
the paper's t-test selection. The best member's return on 10 fresh episodes is reported at
the end. Needs `pip install 'popbt[torch,examples]'`.

The weights, the optimizer state, the step counter, the member's random generators, its
recent episode returns and its episodes under way (each environment's physical state, return
and length so far) are copied on exploit: a restored member goes on exactly as the original
would. The environments are CartPole's own, without gymnasium's wrappers, so that their
state is the physical state alone; the time limit of CartPole-v1 (`MAX_EPISODE_STEPS`) is
kept here.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import popbt
from popbt.torch import TorchTrainable

ENVS = 8
ROLLOUT = 16
EPISODES_SCORED = 10
MAX_EPISODE_STEPS = 500  # CartPole-v1's time limit: an episode this long is truncated


class ActorCritic(nn.Module):
    """Policy logits and state value from a shared 64-64 trunk."""

    def __init__(self, observations: int = 4, actions: int = 2) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(observations, 64), nn.Tanh(), nn.Linear(64, 64),
                                   nn.Tanh())
        self.policy = nn.Linear(64, actions)
        self.value = nn.Linear(64, 1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(obs)
        return self.policy(h), self.value(h).squeeze(-1)


class CartPoleA2C(TorchTrainable):
    """A2C on `ENVS` CartPole-v1 environments stepped in turn (resets handled here)."""

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        self.envs: list[Any] = [gym.make("CartPole-v1").unwrapped for _ in range(ENVS)]
        self.returns: deque[float] = deque(maxlen=EPISODES_SCORED)
        self.obs: list[Any] | None = None  # None: no episode under way
        self.running = [0.0] * ENVS
        self.lengths = [0] * ENVS
        model = ActorCritic()
        return model, torch.optim.Adam(model.parameters(), lr=hparams["lr"])

    def _reset(self, env: Any) -> Any:
        return env.reset(seed=int(self.rng.integers(2**31)))[0]

    def train_step(self, hparams: dict[str, Any]) -> None:
        if self.obs is None:
            self.obs = [self._reset(env) for env in self.envs]
            self.running, self.lengths = [0.0] * ENVS, [0] * ENVS
        obs_t, actions, rewards, dones, values, logps, entropies = [], [], [], [], [], [], []
        for _ in range(ROLLOUT):
            obs = torch.as_tensor(np.stack(self.obs), dtype=torch.float32)
            logits, value = self.model(obs)
            probs = torch.softmax(logits, -1)
            action = torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)
            logp_all = torch.log_softmax(logits, -1)
            logps.append(logp_all.gather(-1, action[:, None]).squeeze(-1))
            entropies.append(-(probs * logp_all).sum(-1))
            values.append(value)
            step_rewards, step_dones = [], []
            for i, env in enumerate(self.envs):
                o, r, terminated, _, _ = env.step(int(action[i]))
                self.running[i] += float(r)
                self.lengths[i] += 1
                truncated = self.lengths[i] >= MAX_EPISODE_STEPS
                step_rewards.append(float(r))
                step_dones.append(float(terminated or truncated))  # cut the trace at a reset
                if terminated or truncated:
                    self.returns.append(self.running[i])
                    self.running[i], self.lengths[i] = 0.0, 0
                    o = self._reset(env)
                self.obs[i] = o
            obs_t.append(obs)
            actions.append(action)
            rewards.append(torch.tensor(step_rewards))
            dones.append(torch.tensor(step_dones))
        with torch.no_grad():
            _, next_value = self.model(torch.as_tensor(np.stack(self.obs), dtype=torch.float32))
        advantages, gae = [], torch.zeros(ENVS)
        for t in reversed(range(ROLLOUT)):
            following = next_value if t == ROLLOUT - 1 else values[t + 1].detach()
            delta = rewards[t] + hparams["gamma"] * following * (1 - dones[t]) - values[t].detach()
            gae = delta + hparams["gamma"] * hparams["gae_lambda"] * (1 - dones[t]) * gae
            advantages.append(gae)
        advantages.reverse()
        adv = torch.stack(advantages)
        value_t = torch.stack(values)
        returns = adv + value_t.detach()
        norm_adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        loss = (-(torch.stack(logps) * norm_adv).mean()
                + 0.5 * (returns - value_t).pow(2).mean()
                - hparams["entropy_coef"] * torch.stack(entropies).mean())
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 0.5)
        self.optimizer.step()

    def evaluate(self) -> dict[str, float]:
        mean = sum(self.returns) / len(self.returns) if self.returns else 0.0
        return {"mean_return": mean, "episodes": float(len(self.returns))}

    def test_return(self, episodes: int = 10, seed: int = 10_000) -> float:
        """Mean return of `episodes` fresh episodes (seeds `seed`, `seed + 1`, ...) acting with
        the current policy, actions sampled from a generator seeded with `seed`; training
        state is left untouched."""
        env = gym.make("CartPole-v1")
        sampler = torch.Generator().manual_seed(seed)
        total = 0.0
        self.model.eval()
        for episode in range(episodes):
            obs, done = env.reset(seed=seed + episode)[0], False
            while not done:
                with torch.no_grad():
                    logits, _ = self.model(torch.as_tensor(obs, dtype=torch.float32)[None])
                action = torch.multinomial(torch.softmax(logits, -1), 1, generator=sampler)
                obs, reward, terminated, truncated, _ = env.step(int(action))
                total += float(reward)
                done = terminated or truncated
        return total / episodes

    def state_dict(self) -> dict[str, Any]:
        episodes = None if self.obs is None else {
            "physics": [[float(v) for v in env.state] for env in self.envs],
            "running": list(self.running), "lengths": list(self.lengths)}
        return {**super().state_dict(), "returns": list(self.returns), "episodes": episodes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` saved; a state saved without episodes under way (or
        before they were saved) starts fresh ones, seeded from the restored generator."""
        super().load_state_dict(state)
        self.returns = deque((float(r) for r in state["returns"]), maxlen=EPISODES_SCORED)
        episodes = state.get("episodes")
        if episodes is None:
            self.obs = None
            return
        for env, physics in zip(self.envs, episodes["physics"], strict=True):
            env.state = np.array(physics, dtype=np.float64)
            env.steps_beyond_terminated = None
        self.obs = [np.array(physics, dtype=np.float32) for physics in episodes["physics"]]
        self.running = [float(r) for r in episodes["running"]]
        self.lengths = [int(n) for n in episodes["lengths"]]


space = popbt.Space({
    "lr": popbt.LogUniform(1e-4, 1e-2),
    "entropy_coef": popbt.LogUniform(1e-4, 1e-1),
    "gamma": popbt.Uniform(0.9, 0.999),
    "gae_lambda": popbt.Uniform(0.8, 1.0),
})
metric = "mean_return"
ready = popbt.Every(steps=10)
exploit = popbt.TTest(window=10, alpha=0.05)
explore = popbt.Perturb(factors=(0.8, 1.2), resample_probability=0.25)

if __name__ == "__main__":
    pop = popbt.create_population(
        name="cartpole", storage="sqlite:///popbt.db", space=space, size=8, metric=metric,
        seed=0, ready=ready, exploit=exploit, explore=explore, load_if_exists=True)
    best = pop.train(CartPoleA2C, steps=500, workers=2)
    model = pop.load(best.member_id)
    print(f"best member {best.member_id}: mean return {best.score:.1f} over its last "
          f"{EPISODES_SCORED} training episodes, {model.test_return():.1f} over 10 new ones")
    for step, hparams in pop.schedule(best.member_id):
        print(f"  from step {step}: {hparams}")
