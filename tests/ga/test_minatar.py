"""MinAtar's games as a genetic population's evaluation: every member's episodes played
together, the same seed the same episodes, and the network's outputs mapped to the game's
minimal action set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from minatar import Environment
from torch import nn

import popbt
from popbt.ga import GeneticPopulation, Policy
from popbt.ga.genome import initial_weights
from popbt.ga.minatar import GAMES, MinAtarEpisodes, actions, observations


def net() -> nn.Module:
    return nn.Sequential(nn.Linear(observations("breakout"), 16), nn.Tanh(),
                         nn.Linear(16, actions("breakout")))


def policies(count: int) -> Policy:
    return Policy.of(net, torch.stack([initial_weights(net, s) for s in range(count)]))


def test_episodes_are_played_to_their_end_and_repeat_with_the_seed():
    play = MinAtarEpisodes("breakout", episodes=3)
    first, again = play(policies(5), 11), play(policies(5), 11)
    assert first["return"].shape == (5, 3) and first["frames"].shape == (5,)
    assert torch.equal(first["return"], again["return"])
    assert torch.equal(first["frames"], again["frames"])
    assert bool((first["frames"] >= 3).all())  # every episode lasts at least a step
    other = play(policies(5), 12)
    assert not torch.equal(other["frames"], first["frames"])


def test_a_share_of_the_members_plays_their_episodes_of_the_whole():
    play = MinAtarEpisodes("breakout", episodes=2, max_steps=200)
    whole = play(policies(5), 4)
    flat = policies(5).flat
    first = play(Policy.of(net, flat[:2]), 4)
    rest = play(Policy.of(net, flat[2:], offset=2), 4)
    for key in ("return", "frames"):
        assert torch.equal(torch.cat([first[key], rest[key]]), whole[key])


def test_one_member_plays_as_a_single_environment_would():
    """Member 0 alone, by hand, with MinAtar's own environment and the same seed."""
    policy = policies(1)
    played = MinAtarEpisodes("breakout", max_steps=200)(policy, 3)
    env = Environment("breakout", sticky_action_prob=0.1)
    env.seed(int(np.random.SeedSequence(3).generate_state(1)[0]))
    env.reset()
    moves, total, steps = env.minimal_action_set(), 0.0, 0
    for steps in range(1, 201):  # noqa: B007 - the count is read after the loop
        x = torch.from_numpy(env.state().reshape(1, 1, -1).astype("float32"))
        reward, ended = env.act(int(moves[int(policy(x).argmax(-1))]))
        total += reward
        if ended:
            break
    assert float(played["return"][0, 0]) == total and float(played["frames"][0]) == steps


def test_max_steps_ends_an_episode():
    n_in, n_out = observations("freeway"), actions("freeway")

    def freeway() -> nn.Module:
        return nn.Linear(n_in, n_out)

    weights = torch.stack([initial_weights(freeway, s) for s in range(2)])
    played = MinAtarEpisodes("freeway", max_steps=7)(Policy.of(freeway, weights), 0)
    assert played["frames"].tolist() == [7.0, 7.0]  # freeway's episodes last 2,500 steps


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"game": "pong"}, "choose one of"), ({"episodes": 0}, "episodes=0"),
    ({"max_steps": 0}, "max_steps=0"), ({"sticky_action_prob": 1.0}, "must be in")])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(popbt.ConfigError, match=message):
        MinAtarEpisodes(**kwargs)


def test_a_genetic_population_evolves_on_breakout(db_url):
    ga = GeneticPopulation(model_fn=net, evaluate=MinAtarEpisodes("breakout"), size=16,
                           parents=4, elite_candidates=2, elite_episodes=3, sigma=0.1,
                           name="breakout", storage=db_url)
    best = ga.run(generations=3)
    assert best is not None and best.step == 3 and "elite_return" in best.metrics


@pytest.mark.parametrize("game", GAMES)
def test_every_game_is_played(game):
    n_in, n_out = observations(game), actions(game)

    def linear() -> nn.Module:
        return nn.Linear(n_in, n_out)

    played = MinAtarEpisodes(game, max_steps=20)(Policy.of(linear, initial_weights(
        linear, 0)[None]), 0)
    assert 1 <= float(played["frames"][0]) <= 20
