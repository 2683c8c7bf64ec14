"""`benchmarks/vectorized.py`'s reinforcement-learning section: examples/cartpole.py's A2C
population trained by the worker loop against the same agents as `VectorizedActorCritic`.

Both sides use the example's settings: 8 environments per member, rollouts of 16 steps, a
64-64 tanh actor-critic, Adam, advantages standardised per rollout, value coefficient 0.5,
gradient norm 0.5, the example's space (lr, entropy_coef, gamma, gae_lambda), ready every 10
steps, `TTest(window=10)` on the members' recent mean returns (the example reports the mean
of its last 10 episodes, so the vectorized side does too: `samples=False`) and the example's
`Perturb`. The worker loop
steps gymnasium's CartPole-v1 one environment at a time in 2 worker processes; the vectorized
trainer steps `popbt.vectorized.envs.CartPole` as tensors in one process.
- **speed**: environment steps per second (members × steps × 16 × 8 over the wall time,
  start-up, evaluation and records included) for each population size;
- **quality**: PBT runs at equal steps per member, over seeds; the score is the best member's
  mean return on 10 new gymnasium episodes (the example's `test_return`, the same code for
  both sides: the vectorized member's weights are loaded into the example's model).
- **acrobot**: `VectorizedActorCritic` with PPO on `popbt.vectorized.envs.Acrobot` (8
  environments per member, rollouts of 128 steps, lr, entropy coefficient and λ explored, ready
  every 20 steps, `TTest`), `ActorCriticMLP` with separate actor and critic networks (the
  default) against one shared trunk, over seeds; the score is the best member's mean return on
  10 new episodes of gymnasium's Acrobot-v1.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import popbt
from popbt._refs import load_file
from popbt.vectorized import ActorCriticMLP, VectorizedActorCritic
from popbt.vectorized.envs import Acrobot, CartPole

HERE = Path(__file__).resolve().parent
cartpole = load_file(HERE.parent / "examples" / "cartpole.py")
ENV_STEPS_PER_STEP = cartpole.ENVS * cartpole.ROLLOUT


def agent() -> ActorCriticMLP:
    """The example's agent: one trunk, two heads."""
    return ActorCriticMLP(CartPole.observations, CartPole.actions, shared=True)


def workers(size: int, steps: int, seed: int, folder: Path, tag: str) -> tuple[float, float]:
    """The example's population trained by 2 worker processes: (wall s, best's test return)."""
    pop = popbt.create_population(
        name=f"{tag}-loop-{size}-{seed}", storage=f"sqlite:///{folder / 'rl.db'}",
        space=cartpole.space, size=size, metric=cartpole.metric, seed=seed,
        ready=cartpole.ready, exploit=cartpole.exploit, explore=cartpole.explore)
    start = time.perf_counter()
    best = pop.train(cartpole.CartPoleA2C, steps=steps, workers=2, progress=False)
    wall = time.perf_counter() - start
    assert best is not None
    return wall, pop.load(best.member_id).test_return()


def vectorized(size: int, steps: int, seed: int, folder: Path,
               tag: str) -> tuple[float, float]:
    """The same population as one batched model: (wall s, best's test return)."""
    vp = VectorizedActorCritic(
        model_fn=agent, env=CartPole, size=size, space=cartpole.space, metric="return",
        envs=cartpole.ENVS, rollout=cartpole.ROLLOUT, ready=cartpole.ready,
        exploit=cartpole.exploit, explore=cartpole.explore, seed=seed,
        episodes_scored=cartpole.EPISODES_SCORED, samples=False,
        name=f"{tag}-vec-{size}-{seed}",
        storage=f"sqlite:///{folder / 'rl.db'}")
    start = time.perf_counter()
    best = vp.train(steps=steps)
    wall = time.perf_counter() - start
    assert best is not None
    learner: Any = cartpole.CartPoleA2C()
    learner.setup(dict(best.hparams), 0)
    learner.model.load_state_dict(vp.member_model(best.member_id).state_dict())
    return wall, learner.test_return()


def speed_table(sizes: Sequence[int], steps: int, folder: Path) -> str:
    lines = ["| CartPole A2C, P | worker loop (2 processes) env-steps/s | vectorized env-steps/s "
             "| vectorized ÷ loop |", "|---|---|---|---|"]
    for size in sizes:
        loop_wall, _ = workers(size, steps, 0, folder, "speed")
        vec_wall, _ = vectorized(size, steps, 0, folder, "speed")
        loop, vec = (size * steps * ENV_STEPS_PER_STEP / w for w in (loop_wall, vec_wall))
        lines.append(f"| {size} | {loop:,.0f} | {vec:,.0f} | {vec / loop:.1f}× |")
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def _table(title: str, runs: dict[str, list[tuple[float, float]]]) -> list[str]:
    """A Markdown table of (wall s, test return) runs by method: median return, range, median
    wall time."""
    lines = [f"| {title} | test return (median) | min – max | median wall s |",
             "|---|---|---|---|"]
    for name, results in runs.items():
        returns = [r for _, r in results]
        lines.append(f"| {name} | {statistics.median(returns):.1f} | {min(returns):.1f} – "
                     f"{max(returns):.1f} | {statistics.median(w for w, _ in results):.1f} |")
    return lines


def quality(size: int, steps: int, seeds: int, folder: Path) -> str:
    runs: dict[str, list[tuple[float, float]]] = {"worker loop (2 processes)": [],
                                                  "vectorized": []}
    for seed in range(seeds):
        runs["worker loop (2 processes)"].append(workers(size, steps, seed, folder, "pbt"))
        runs["vectorized"].append(vectorized(size, steps, seed, folder, "pbt"))
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1][1]:.1f} ({v[-1][0]:.0f} s)"
                                           for k, v in runs.items()), file=sys.stderr,
              flush=True)
    loop = [r for _, r in runs["worker loop (2 processes)"]]
    vec = [r for _, r in runs["vectorized"]]
    lines = _table(f"CartPole PBT, {size} members × {steps} steps", runs)
    wins = sum(v >= w for v, w in zip(vec, loop, strict=True))
    lines += ["", f"- vectorized ≥ worker loop in {wins}/{seeds} seeds; medians "
              f"{statistics.median(vec):.1f} vs {statistics.median(loop):.1f}"]
    return "\n".join(lines)


ACROBOT_SPACE = popbt.Space({"lr": popbt.LogUniform(1e-4, 1e-3),
                             "entropy_coef": popbt.LogUniform(1e-3, 3e-2),
                             "gae_lambda": popbt.Uniform(0.9, 1.0)})


def gym_return(model: Any, env_id: str, episodes: int = 10, seed: int = 10_000) -> float:
    """Mean return of `model`'s sampled actions on `episodes` new episodes of gymnasium's
    `env_id` (seeds `seed`, `seed + 1`, ...)."""
    import gymnasium as gym
    import torch

    env = gym.make(env_id)
    sampler = torch.Generator().manual_seed(seed)
    total = 0.0
    for episode in range(episodes):
        obs, done = env.reset(seed=seed + episode)[0], False
        while not done:
            with torch.no_grad():
                logits, _ = model(torch.as_tensor(obs, dtype=torch.float32)[None])
            action = torch.multinomial(torch.softmax(logits, -1), 1, generator=sampler)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def acrobot_run(shared: bool, size: int, steps: int, seed: int,
                folder: Path) -> tuple[float, float]:
    """PPO PBT on Acrobot: (wall s, the best member's return on new gymnasium episodes)."""
    vp = VectorizedActorCritic(
        model_fn=lambda: ActorCriticMLP(Acrobot.observations, Acrobot.actions, shared=shared),
        env=Acrobot, size=size, space=ACROBOT_SPACE, algorithm="ppo", envs=8, rollout=128,
        ready=popbt.Every(steps=20), exploit=popbt.TTest(window=5), seed=seed,
        name=f"acrobot-{shared}-{size}-{seed}", storage=f"sqlite:///{folder / 'rl.db'}")
    start = time.perf_counter()
    best = vp.train(steps=steps)
    wall = time.perf_counter() - start
    assert best is not None
    return wall, gym_return(vp.member_model(best.member_id), "Acrobot-v1")


def acrobot(size: int, steps: int, seeds: int, folder: Path) -> str:
    runs: dict[str, list[tuple[float, float]]] = {"separate actor and critic": [],
                                                  "shared trunk": []}
    for seed in range(seeds):
        for name, shared in (("separate actor and critic", False), ("shared trunk", True)):
            runs[name].append(acrobot_run(shared, size, steps, seed, folder))
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1][1]:.1f} ({v[-1][0]:.0f} s)"
                                           for k, v in runs.items()), file=sys.stderr,
              flush=True)
    lines = _table(f"Acrobot PPO PBT, {size} members × {steps} steps", runs)
    wins = sum(a > b for (_, a), (_, b) in zip(*runs.values(), strict=True))
    lines += ["", f"- separate better in {wins}/{seeds} seeds"]
    return "\n".join(lines)
