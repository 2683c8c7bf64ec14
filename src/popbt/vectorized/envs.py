"""Classic-control environments as tensors: `members` × `envs` environments stepped at once
(`CartPole`, `Acrobot`, `MountainCar`).

Contract:
- Shapes: state [P, E, d], observations [P, E, obs], actions, rewards and flags [P, E], on
  one device, in `dtype` (float64 computes as gymnasium does; float32 is faster).
- Dynamics: gymnasium's environment of the same name, step for step: the same state and
  action give the same observation, reward and termination (tested against gymnasium).
- `reset()` starts every environment's episode, drawing initial states from the
  environments' own generator (seeded by `seed`); `step(actions)` moves every environment
  one step and returns a `Step`. An episode that ends (terminated, or truncated after
  `max_steps` steps, gymnasium's time limit) is replaced at once by a new one: `Step.obs` is
  then the new episode's first observation, `Step.final_obs` the ended episode's last (to
  bootstrap a truncated episode's value) and `Step.ended_returns` its return (NaN where no
  episode ended). A step draws a fresh initial state for every environment and keeps those
  where an episode ended, so that nothing waits on the host.
- `offset`: a batch may stand for members `offset`.. of a larger one (a share of a
  population evaluated in another process): every draw is made as for `offset + P` members
  and the first `offset` dropped, so that `reset()` gives those members the initial states
  the larger batch's `reset()` gives them (on the CPU; later draws differ).
- `state_dict()` / `load_state_dict()`: everything a step depends on (the physical state,
  each episode's length and return so far, the generator), so that restored environments go
  on exactly as the originals would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from popbt.errors import ConfigError


@dataclass(frozen=True)
class Step:
    """What one step of every environment gives (see the module contract)."""

    obs: torch.Tensor
    reward: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    final_obs: torch.Tensor
    ended_returns: torch.Tensor


class Batched:
    """What every environment here shares: the shapes, the generator, the episodes' lengths
    and returns, the replacement of ended episodes and the state dict (see the module
    contract). A subclass gives `state_size`, `observations`, `actions`, `name` and
    `_initial`, `dynamics`, `observe` and `reward`.

    Args:
        members: P, the leading dimension.
        envs: E, environments per member.
        seed: seeds the generator initial states are drawn from.
        device: where every tensor lives.
        dtype: of the state and observations.
        max_steps: an episode this long is truncated (None: gymnasium's time limit, 500 for
            CartPole and Acrobot, 200 for MountainCar).
        offset: the members stand for members `offset`.. of a larger batch (the module
            contract).

    Raises:
        ConfigError: `members`, `envs` or `max_steps` not an integer ≥ 1, or `offset` not
            an integer ≥ 0.
    """

    name = "Batched"
    state_size = observations = actions = 0
    time_limit = 500

    def __init__(self, members: int, envs: int, *, seed: int = 0,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 max_steps: int | None = None, offset: int = 0) -> None:
        max_steps = self.time_limit if max_steps is None else max_steps
        for what, value in (("members", members), ("envs", envs), ("max_steps", max_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{self.name}({what}={value!r}): must be an integer ≥ 1")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ConfigError(f"{self.name}(offset={offset!r}): must be an integer ≥ 0")
        self.shape, self.offset = (members, envs), offset
        self.device, self.dtype, self.max_steps = torch.device(device), dtype, max_steps
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.state = torch.zeros(*self.shape, self.state_size, device=self.device, dtype=dtype)
        self.elapsed = torch.zeros(self.shape, device=self.device, dtype=torch.long)
        self.running = torch.zeros(self.shape, device=self.device, dtype=dtype)

    def _rand(self, *trailing: int) -> torch.Tensor:
        """Uniform draws on [0, 1) of shape [P, E, *trailing], as members `offset`.. of a
        larger batch (the module contract)."""
        members, envs = self.shape
        draws = torch.rand(self.offset + members, envs, *trailing, generator=self.generator,
                           device=self.device, dtype=self.dtype)
        return draws[self.offset:]

    def _uniform(self, low: float, high: float) -> torch.Tensor:
        """Initial states for every environment, uniform on [low, high) in each coordinate."""
        return self._rand(self.state_size) * (high - low) + low

    def _initial(self) -> torch.Tensor:
        raise NotImplementedError

    def dynamics(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The next state of every environment after `actions`."""
        raise NotImplementedError

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        """What an agent sees of `state`."""
        return state.clone()

    def terminal(self, state: torch.Tensor) -> torch.Tensor:
        """Whether each environment's episode has terminated in `state`."""
        raise NotImplementedError

    def reward(self, terminated: torch.Tensor) -> torch.Tensor:
        """The reward of a step that ended in a state where `terminated`."""
        raise NotImplementedError

    def reset(self) -> torch.Tensor:
        """Start a new episode in every environment; its first observations."""
        self.state = self._initial()
        self.elapsed = torch.zeros_like(self.elapsed)
        self.running = torch.zeros_like(self.running)
        return self.observe(self.state)

    def step(self, actions: torch.Tensor) -> Step:
        """Move every environment one step with `actions` ([P, E] action indices)."""
        if tuple(actions.shape) != self.shape:
            raise ConfigError(f"{self.name}.step: actions of shape {tuple(actions.shape)}, "
                              f"expected {self.shape} (members, envs)")
        final = self.dynamics(self.state, actions)
        terminated = self.terminal(final)
        reward = self.reward(terminated)
        self.elapsed = self.elapsed + 1
        self.running = self.running + reward
        truncated = ~terminated & (self.elapsed >= self.max_steps)
        ended = terminated | truncated
        ended_returns = torch.where(ended, self.running, torch.full_like(self.running, math.nan))
        # fresh draws for every environment, kept where an episode ended: no host sync
        self.state = torch.where(ended[..., None], self._initial(), final)
        self.elapsed = torch.where(ended, 0, self.elapsed)
        self.running = torch.where(ended, 0.0, self.running)
        return Step(obs=self.observe(self.state), reward=reward, terminated=terminated,
                    truncated=truncated, final_obs=self.observe(final),
                    ended_returns=ended_returns)

    def state_dict(self) -> dict[str, Any]:
        """Everything the next steps depend on (see the module contract)."""
        return {"state": self.state.clone(), "elapsed": self.elapsed.clone(),
                "running": self.running.clone(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go on from `state` (a `state_dict()`)."""
        self.state = state["state"].to(self.device, self.dtype).clone()
        self.elapsed = state["elapsed"].to(self.device).clone()
        self.running = state["running"].to(self.device, self.dtype).clone()
        self.generator.set_state(state["generator"])


class CartPole(Batched):
    """Gymnasium's CartPole-v1, batched: state and observation (x, ẋ, θ, θ̇), actions 0 (push
    left) and 1 (right), Euler integration, reward 1 per step, terminated when the cart
    leaves ±2.4 or the pole passes ±12°. Arguments: see `Batched`."""

    name, state_size, observations, actions = "CartPole", 4, 4, 2
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    x_threshold = 2.4
    theta_threshold = 12 * 2 * math.pi / 360

    def _initial(self) -> torch.Tensor:
        return self._uniform(-0.05, 0.05)

    def dynamics(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        x, x_dot, theta, theta_dot = state.unbind(-1)
        force = torch.where(actions == 1, self.force_mag, -self.force_mag).to(state.dtype)
        total_mass = self.masscart + self.masspole
        polemass_length = self.masspole * self.length
        cos, sin = torch.cos(theta), torch.sin(theta)
        temp = (force + polemass_length * theta_dot.square() * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * cos.square() / total_mass))
        x_acc = temp - polemass_length * theta_acc * cos / total_mass
        return torch.stack((x + self.tau * x_dot, x_dot + self.tau * x_acc,
                            theta + self.tau * theta_dot, theta_dot + self.tau * theta_acc),
                           dim=-1)

    def terminal(self, state: torch.Tensor) -> torch.Tensor:
        return (state[..., 0].abs() > self.x_threshold) | (
            state[..., 2].abs() > self.theta_threshold)

    def reward(self, terminated: torch.Tensor) -> torch.Tensor:
        return torch.ones(self.shape, device=self.device, dtype=self.dtype)


class Acrobot(Batched):
    """Gymnasium's Acrobot-v1, batched ("book" dynamics, 4th-order Runge-Kutta over 0.2 s):
    state (θ1, θ2, θ̇1, θ̇2), observation (cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2), actions
    torque −1, 0, +1, reward −1 per step and 0 on the step that reaches the goal (the free
    end above the bar by a link's length). Arguments: see `Batched`."""

    name, state_size, observations, actions = "Acrobot", 4, 6, 3
    dt = 0.2
    m1 = m2 = l1 = moment = 1.0
    lc1 = lc2 = 0.5
    g = 9.8
    max_vel = (4 * math.pi, 9 * math.pi)

    def _initial(self) -> torch.Tensor:
        return self._uniform(-0.1, 0.1)

    def _derivatives(self, s: torch.Tensor, torque: torch.Tensor) -> torch.Tensor:
        theta1, theta2, dtheta1, dtheta2 = s.unbind(-1)
        m1, m2, l1, lc1, lc2, g = self.m1, self.m2, self.l1, self.lc1, self.lc2, self.g
        i1 = i2 = self.moment
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * torch.cos(theta2)) + i1 + i2
        d2 = m2 * (lc2**2 + l1 * lc2 * torch.cos(theta2)) + i2
        phi2 = m2 * lc2 * g * torch.cos(theta1 + theta2 - math.pi / 2.0)
        phi1 = (-m2 * l1 * lc2 * dtheta2**2 * torch.sin(theta2)
                - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * torch.sin(theta2)
                + (m1 * lc1 + m2 * l1) * g * torch.cos(theta1 - math.pi / 2) + phi2)
        ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * torch.sin(theta2)
                    - phi2) / (m2 * lc2**2 + i2 - d2**2 / d1)
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return torch.stack((dtheta1, dtheta2, ddtheta1, ddtheta2), dim=-1)

    def dynamics(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        torque = (actions - 1).to(state.dtype)
        dt, dt2 = self.dt, self.dt / 2.0
        k1 = self._derivatives(state, torque)
        k2 = self._derivatives(state + dt2 * k1, torque)
        k3 = self._derivatives(state + dt2 * k2, torque)
        k4 = self._derivatives(state + dt * k3, torque)
        s = state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        angles = s[..., :2]
        for _ in range(2):  # one turn back is enough at these speeds; two to be safe
            angles = torch.where(angles > math.pi, angles - 2 * math.pi, angles)
            angles = torch.where(angles < -math.pi, angles + 2 * math.pi, angles)
        speeds = torch.stack((s[..., 2].clamp(-self.max_vel[0], self.max_vel[0]),
                              s[..., 3].clamp(-self.max_vel[1], self.max_vel[1])), dim=-1)
        return torch.cat((angles, speeds), dim=-1)

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        theta1, theta2 = state[..., 0], state[..., 1]
        return torch.stack((torch.cos(theta1), torch.sin(theta1), torch.cos(theta2),
                            torch.sin(theta2), state[..., 2], state[..., 3]), dim=-1)

    def terminal(self, state: torch.Tensor) -> torch.Tensor:
        return -torch.cos(state[..., 0]) - torch.cos(state[..., 1] + state[..., 0]) > 1.0

    def reward(self, terminated: torch.Tensor) -> torch.Tensor:
        return torch.where(terminated, 0.0, -1.0).to(self.dtype)


class MountainCar(Batched):
    """Gymnasium's MountainCar-v0, batched: state and observation (position, velocity),
    actions 0 (push left), 1 (none), 2 (right), reward −1 per step, terminated at the flag
    (position ≥ 0.5), a start at rest in [−0.6, −0.4), 200 steps at most. Arguments: see
    `Batched`."""

    name, state_size, observations, actions = "MountainCar", 2, 2, 3
    time_limit = 200
    force, gravity, max_speed = 0.001, 0.0025, 0.07
    min_position, max_position, goal_position = -1.2, 0.6, 0.5

    def _initial(self) -> torch.Tensor:
        draws = self._rand()
        return torch.stack((draws * 0.2 - 0.6, torch.zeros_like(draws)), dim=-1)

    def dynamics(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        position, velocity = state.unbind(-1)
        velocity = velocity + (actions - 1).to(state.dtype) * self.force \
            + torch.cos(3 * position) * (-self.gravity)
        velocity = velocity.clamp(-self.max_speed, self.max_speed)
        position = (position + velocity).clamp(self.min_position, self.max_position)
        velocity = torch.where((position == self.min_position) & (velocity < 0), 0.0, velocity)
        return torch.stack((position, velocity), dim=-1)

    def terminal(self, state: torch.Tensor) -> torch.Tensor:
        return (state[..., 0] >= self.goal_position) & (state[..., 1] >= 0)

    def reward(self, terminated: torch.Tensor) -> torch.Tensor:
        return torch.full(self.shape, -1.0, device=self.device, dtype=self.dtype)
