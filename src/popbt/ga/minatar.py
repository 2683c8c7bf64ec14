"""MinAtar's games (Young & Tian 2019: Atari's Breakout, Space Invaders, Freeway, Asterix and
Seaquest in miniature, 10 × 10 pixels with one channel per kind of object) as a genetic
population's evaluation (extra `minatar`).

Contract: `MinAtarEpisodes(game)(policy, seed)` plays `episodes` episodes per member, every
member's environments stepped together and their observations (the 10 × 10 × channels grid,
flattened to 100 · channels numbers of 0 and 1) fed to all the networks at once; a member's
action is the argmax of its outputs over the game's minimal action set (a network has one
output per action: `actions(game)`). An episode ends when the game does or after
`max_steps` steps. Each environment is seeded from `seed` and its place in the generation
(`policy.offset` and its row), so the same seed plays the same episodes, whatever the
number of evaluation workers. It returns "return" ([P, episodes]) and "frames" ([P]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from popbt.errors import ConfigError
from popbt.ga.evaluation import Policy

GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")


def _environment() -> Any:
    try:
        from minatar import Environment
    except ImportError:
        raise ConfigError("MinAtar is not installed: pip install 'popbt[minatar]'") from None
    return Environment


def actions(game: str) -> int:
    """How many outputs a network needs for `game`: its minimal action set's size."""
    return len(_environment()(game).minimal_action_set())


def observations(game: str) -> int:
    """How many inputs a network needs for `game`: 100 per channel."""
    rows, cols, channels = _environment()(game).state_shape()
    return int(rows * cols * channels)


@dataclass(frozen=True)
class MinAtarEpisodes:
    """Greedy episodes of every member on a MinAtar game (see the module contract).

    Args:
        game: one of `GAMES`.
        episodes: episodes per member and evaluation (>= 1).
        max_steps: the most steps an episode lasts (>= 1).
        sticky_action_prob: MinAtar's chance that an action repeats the previous one.

    Raises:
        ConfigError: an unknown game or a bad count, quoted.
    """

    game: str = "breakout"
    episodes: int = 1
    max_steps: int = 1000
    sticky_action_prob: float = 0.1

    def __post_init__(self) -> None:
        if self.game not in GAMES:
            raise ConfigError(f"MinAtarEpisodes(game={self.game!r}): choose one of {GAMES}")
        for name in ("episodes", "max_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"MinAtarEpisodes({name}={value!r}): must be an integer >= 1")
        if not 0 <= self.sticky_action_prob < 1:
            raise ConfigError(f"MinAtarEpisodes(sticky_action_prob={self.sticky_action_prob!r})"
                              f": must be in [0, 1)")

    def __call__(self, policy: Policy, seed: int) -> dict[str, torch.Tensor]:
        make = _environment()
        size, count = policy.size, policy.size * self.episodes
        skip = policy.offset * self.episodes
        seeds = np.random.SeedSequence(seed).generate_state(skip + count)[skip:]
        envs = []
        for k in range(count):
            env = make(self.game, sticky_action_prob=self.sticky_action_prob)
            env.seed(int(seeds[k]))
            env.reset()
            envs.append(env)
        moves = envs[0].minimal_action_set()
        obs = np.stack([env.state() for env in envs]).reshape(count, -1).astype(np.float32)
        returns, frames = np.zeros(count), np.zeros(count)
        live = np.arange(count)
        for _ in range(self.max_steps):
            outputs = policy(torch.from_numpy(obs).view(size, self.episodes, -1).to(
                policy.device))
            chosen = outputs.argmax(-1).reshape(-1).cpu().numpy()
            still: list[int] = []
            for k in live.tolist():
                reward, ended = envs[k].act(int(moves[chosen[k]]))
                returns[k] += reward
                frames[k] += 1
                if not ended:
                    obs[k] = envs[k].state().reshape(-1)
                    still.append(k)
            live = np.array(still, dtype=int)
            if not len(live):
                break
        return {"return": torch.from_numpy(returns.reshape(size, self.episodes)),
                "frames": torch.from_numpy(frames.reshape(size, self.episodes).sum(1))}
