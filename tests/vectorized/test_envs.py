"""Batched classic-control environments: gymnasium's dynamics step for step, episodes that
end are replaced at once, and a restored copy goes on exactly as the original."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from popbt.errors import ConfigError
from popbt.vectorized.envs import Acrobot, CartPole, MountainCar


@pytest.mark.parametrize(("batched_class", "name", "steps"), [
    (CartPole, "CartPole-v1", 300), (Acrobot, "Acrobot-v1", 150),
    (MountainCar, "MountainCar-v0", 300)])
def test_steps_as_gymnasium_s_on_the_same_states_and_actions(batched_class, name, steps):
    members, envs, rng = 3, 4, np.random.default_rng(0)
    batched = batched_class(members, envs, seed=1, dtype=torch.float64)
    batched.reset()
    theirs = [gym.make(name).unwrapped for _ in range(members * envs)]
    for i, env in enumerate(theirs):
        env.reset(seed=i)
    ended = 0
    for _ in range(steps):
        batched.state = torch.tensor(np.stack([env.state for env in theirs]),
                                     dtype=torch.float64).view(members, envs, -1)
        actions = rng.integers(0, batched.actions, size=(members, envs))
        step = batched.step(torch.as_tensor(actions))
        for i, env in enumerate(theirs):
            m, e = divmod(i, envs)
            obs, reward, terminated, _, _ = env.step(int(actions[m, e]))
            # gymnasium's observations are float32 roundings of its float64 state
            np.testing.assert_allclose(step.final_obs[m, e].numpy(), obs, rtol=1e-6, atol=1e-7)
            assert float(step.reward[m, e]) == reward and bool(step.terminated[m, e]) == terminated
            if terminated:
                ended += 1
                env.reset(seed=int(rng.integers(2**31)))
    assert batched.observations == obs.shape[0]
    if name == "CartPole-v1":
        assert ended > 100  # random play falls often


@pytest.mark.parametrize(("batched_class", "name", "scale"), [
    (CartPole, "CartPole-v1", np.array([2.6, 3.0, 0.25, 3.0])),
    (Acrobot, "Acrobot-v1", np.array([np.pi, np.pi, 4 * np.pi, 9 * np.pi])),
    (MountainCar, "MountainCar-v0", np.array([1.3, 0.08]))])
def test_one_step_from_states_anywhere_as_gymnasium_s(batched_class, name, scale):
    """States across the whole range, so that terminations, angle wrapping and speed limits
    all happen."""
    rng, count = np.random.default_rng(1), 600
    states = rng.uniform(-1, 1, size=(count, len(scale))) * scale
    actions = rng.integers(0, batched_class.actions, size=count)
    batched = batched_class(1, count, dtype=torch.float64)
    batched.state = torch.tensor(states)[None]
    step = batched.step(torch.as_tensor(actions)[None])
    env = gym.make(name).unwrapped
    terminated_count = 0
    for i in range(count):
        env.reset(seed=i)  # a fresh episode (CartPole warns on a step past its end) ...
        env.state = states[i].copy()  # ... put in the state to test
        obs, reward, terminated, _, _ = env.step(int(actions[i]))
        np.testing.assert_allclose(step.final_obs[0, i].numpy(), obs, rtol=1e-6, atol=1e-6)
        assert float(step.reward[0, i]) == reward and bool(step.terminated[0, i]) == terminated
        terminated_count += terminated
    assert 50 < terminated_count < count - 50  # both outcomes, many times


def test_an_episode_that_ends_is_replaced_and_its_return_reported():
    env = CartPole(2, 3, seed=0, max_steps=5)
    env.reset()
    for t in range(1, 6):
        step = env.step(torch.ones(2, 3, dtype=torch.long))  # always right: falls after ~9
        if t < 5:
            assert not bool(step.truncated.any()) and bool(step.ended_returns.isnan().all())
    assert bool(step.truncated.all()) and not bool(step.terminated.any())
    assert bool((step.ended_returns == 5).all())  # one reward per step
    assert bool((env.elapsed == 0).all()) and bool((step.obs.abs() <= 0.05).all())
    falls = CartPole(1, 2, seed=0)
    falls.reset()
    lengths = []
    for t in range(1, 100):
        step = falls.step(torch.ones(1, 2, dtype=torch.long))
        lengths += [t] * int(step.terminated.sum())
        if len(lengths) == 2:
            break
    assert 5 < lengths[0] < 20 and not math.isnan(float(step.ended_returns.nanmean()))


@pytest.mark.parametrize("batched_class", [CartPole, Acrobot, MountainCar])
def test_a_restored_copy_goes_on_exactly_as_the_original(batched_class):
    original = batched_class(2, 8, seed=3, max_steps=40)
    original.reset()
    actions = torch.Generator().manual_seed(0)
    for _ in range(30):
        original.step(torch.randint(0, batched_class.actions, (2, 8), generator=actions))
    copy = batched_class(2, 8, seed=99, max_steps=40)
    copy.load_state_dict(original.state_dict())
    for _ in range(60):  # past the time limit: new episodes drawn from the copied generator
        a = torch.randint(0, batched_class.actions, (2, 8), generator=actions)
        mine, theirs = original.step(a), copy.step(a)
        assert torch.equal(mine.obs, theirs.obs) and torch.equal(mine.terminated,
                                                                  theirs.terminated)


@pytest.mark.parametrize("batched_class", [CartPole, Acrobot, MountainCar])
def test_a_share_of_a_batch_starts_as_its_members_would_in_the_whole(batched_class):
    whole = batched_class(7, 3, seed=9).reset()
    assert torch.equal(batched_class(3, 3, seed=9, offset=4).reset(), whole[4:])
    assert torch.equal(batched_class(4, 3, seed=9).reset(), whole[:4])


@pytest.mark.parametrize(("make", "message"), [
    (lambda: CartPole(0, 4), r"CartPole\(members=0\): must be an integer ≥ 1"),
    (lambda: CartPole(2, 2.5), r"CartPole\(envs=2.5\)"),  # type: ignore[arg-type]
    (lambda: Acrobot(2, 2, max_steps=0), r"Acrobot\(max_steps=0\): must be an integer ≥ 1"),
    (lambda: CartPole(2, 2).step(torch.zeros(2, 3, dtype=torch.long)),
     r"actions of shape \(2, 3\), expected \(2, 2\)"),
    (lambda: MountainCar(2, 2, offset=-1), r"MountainCar\(offset=-1\): must be an integer ≥ 0"),
])
def test_bad_arguments_are_refused(make, message):
    with pytest.raises(ConfigError, match=message):
        make()
