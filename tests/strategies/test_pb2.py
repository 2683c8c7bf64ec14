"""PB2 and PB2Mix as pure functions of (hyperparameters, space, generator, history), and the
Gaussian process under them."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

import popbt
from popbt.decisions import MemberHistory, Observation
from popbt.strategies import from_config
from popbt.strategies._gp import GP, Hyper, correlation, maximise_likelihood
from popbt.strategies.pb2 import Intervals, coordinates, intervals, ucb_argmax
from popbt.strategies.pb2_mix import probabilities

LR = popbt.Space({"lr": popbt.LogUniform(1e-4, 1e-1)})
MIXED = popbt.Space({"lr": popbt.LogUniform(1e-4, 1e-1),
                     "opt": popbt.Choice(["adam", "sgd", "rmsprop"], ordered=False)})
History = dict[int, MemberHistory]


def run(space: popbt.Space, members: int, rounds: int, gain: Callable[[Mapping[str, Any]], float],
        *, seed: int = 0, interval: int = 10, noise: float = 0.05) -> History:
    """Members with hyperparameters drawn from the prior, each keeping them for `rounds`
    ready intervals whose score changes by `gain(hparams)` plus noise."""
    rng = np.random.default_rng(seed)
    history = {}
    for m in range(members):
        h, score, obs = space.sample(rng), 0.0, []
        for r in range(rounds + 1):
            if r:
                score += gain(h) + noise * rng.normal()
            obs.append(Observation(step=r * interval, hparams=h, score=score, fitness=score,
                                   metrics={}))
        history[m] = MemberHistory(m, tuple(obs), 0)
    return history


def bump(h: Mapping[str, Any]) -> float:
    """Best at lr = 1e-2 (unit coordinate 2/3 of LR)."""
    return 1.0 - (math.log10(h["lr"]) + 2.0) ** 2


def test_the_gp_recovers_a_known_function():
    z = np.linspace(0, 1, 25)[:, None]
    gp = GP.fit(np.zeros(25), z, np.sin(6 * z[:, 0]))
    test = np.linspace(0.02, 0.98, 40)[:, None]
    mean, var = gp.predict(np.zeros(40), test)
    assert np.max(np.abs(mean - np.sin(6 * test[:, 0]))) < 0.05
    assert np.max(var) < 0.01
    far_mean, far_var = gp.predict(np.zeros(1), np.array([[3.0]]))
    assert far_var[0] > 100 * np.max(var)  # no data there: back to the prior


def test_the_kernel_decays_with_time_and_the_fit_finds_drift():
    hyper = Hyper(lengthscale=0.3, epsilon=0.2, noise=0.01)
    z = np.array([[0.5]])
    k = correlation(np.array([0.0]), z, np.array([0.0, 2.0, 4.0]), np.repeat(z, 3, 0), hyper)
    assert k[0] == pytest.approx([1.0, 0.8, 0.64])  # (1 - ε)^(|t - t'| / 2)
    rng = np.random.default_rng(0)
    t = np.repeat(np.arange(12.0), 8)
    x = rng.random((len(t), 1))
    steady = np.sin(5 * x[:, 0])
    drifting = np.sin(5 * x[:, 0] + 0.6 * t)  # the best point moves every interval
    assert maximise_likelihood(t, x, steady).epsilon < 0.05
    assert maximise_likelihood(t, x, drifting).epsilon > 0.1


def test_changes_are_never_measured_across_an_exploit():
    def obs(step: int, score: float, lr: float) -> Observation:
        return Observation(step=step, hparams={"lr": lr}, score=score, fitness=score,
                           metrics={})

    # Member 0 copied a far better donor at step 20: its score jumped, with other weights.
    before = [obs(0, 0.0, 1e-3), obs(10, 0.1, 1e-3), obs(20, 0.2, 1e-3)]
    after = [obs(30, 5.0, 2e-2), obs(40, 5.3, 2e-2), obs(50, 5.7, 2e-2)]
    data = intervals({0: MemberHistory(0, (*before, *after), 3)}, LR, ["lr"], [])
    assert data.gain == pytest.approx([0.03, 0.04])  # per step, within the own stretch only
    assert list(data.t) == [40, 50] and data.unit == 10


def test_too_little_data_draws_from_the_prior():
    space = popbt.Space({"lr": popbt.LogUniform(1e-4, 1e-2), "n": popbt.IntUniform(1, 9)})
    one = run(space, members=1, rounds=1, gain=lambda h: 1.0)
    picks = []
    for seed in range(400):
        for history in (one, {}, None):
            new, ops = popbt.PB2().explore({"lr": 1e-3, "n": 3}, space,
                                           np.random.default_rng(seed), history=history)
            assert ops == {"lr": "pb2 random", "n": "pb2 random"}
            assert 1e-4 <= new["lr"] <= 1e-2 and type(new["n"]) is int
        picks.append(new["lr"])
    below = np.mean(np.array(picks) < 1e-3)  # the log-scale median; linearly only 9 %
    assert 0.4 < below < 0.6


def test_pb2_picks_near_the_optimum_far_more_often_than_at_random():
    history = run(LR, members=8, rounds=6, gain=bump)
    donor = history[0].observations[-1].hparams
    near = [abs(math.log10(popbt.PB2().explore(donor, LR, np.random.default_rng(seed),
                                              history=history)[0]["lr"]) + 2) < 0.5
            for seed in range(30)]
    assert np.mean(near) >= 0.8  # a draw from the prior lands there a third of the time


def test_pb2_follows_the_fitness_of_a_population_that_minimises():
    """A loss (mode "min") falls fastest at lr = 1e-2: its fitness rises fastest there."""
    history = run(LR, members=8, rounds=6, gain=bump)
    as_loss = {m: MemberHistory(m, tuple(Observation(step=o.step, hparams=o.hparams,
                                                     score=-o.score, fitness=o.score,
                                                     metrics={}) for o in h.observations), 0)
               for m, h in history.items()}
    donor = as_loss[0].observations[-1].hparams
    near = [abs(math.log10(popbt.PB2().explore(donor, LR, np.random.default_rng(seed),
                                              history=as_loss)[0]["lr"]) + 2) < 0.5
            for seed in range(30)]
    assert np.mean(near) >= 0.8


def test_the_first_interval_after_an_exploit_is_data():
    """A stretch that starts at the copied donor point adds the interval trained with the
    explored hyperparameters."""
    start = Observation(step=10, hparams={}, score=1.0, fitness=1.0, metrics={})
    after = Observation(step=20, hparams={"lr": 0.01}, score=3.0, fitness=3.0, metrics={})
    member = MemberHistory(0, (after,), 0, stretches=((start, after),))
    data = intervals({0: member}, LR, ["lr"], [])
    assert len(data) == 1 and data.gain[0] == pytest.approx(0.2)  # (3 - 1) / 10 steps
    assert len(intervals({0: MemberHistory(0, (after,), 0)}, LR, ["lr"], [])) == 0


def test_values_stay_in_the_space_on_its_own_scales():
    space = popbt.Space({"lr": popbt.LogUniform(1e-5, 1e-1), "batch": popbt.IntUniform(8, 12),
                         "width": popbt.Choice([32, 64, 128]), "m": popbt.Uniform(0.8, 0.99)})
    assert coordinates(space, ["lr"], [], {"lr": 1e-3})[0] == pytest.approx([0.5])

    def gain(h: Mapping[str, Any]) -> float:
        return -abs(math.log10(h["lr"]) + 3) - abs(h["batch"] - 10) + h["width"] / 128

    history = run(space, members=6, rounds=5, gain=gain)
    best = 0
    for seed in range(20):
        new, ops = popbt.PB2().explore(history[1].observations[-1].hparams, space,
                                       np.random.default_rng(seed), history=history)
        assert space.validate(new) == new and ops == dict.fromkeys(space, "pb2")
        assert type(new["batch"]) is int and new["width"] in (32, 64, 128)
        best += (new["batch"], new["width"]) == (10, 128)
    assert best >= 15


def test_pending_points_lower_the_variance_and_move_the_choice():
    z = np.array([[0.0], [0.1], [0.9], [1.0]])
    y = np.zeros(4)
    gp = GP(np.zeros(4), z, y, Hyper(0.15, 0.0, 0.01))
    at = np.array([[0.5]])
    mean, var = gp.predict(np.zeros(1), at)
    mean_p, var_p = gp.predict(np.zeros(1), at, pending=(np.zeros(1), at))
    assert mean_p == pytest.approx(mean) and var_p[0] < 0.1 * var[0]
    data = Intervals(np.zeros(4), np.ones(4), z, np.empty((4, 0), int), y)
    alone = ucb_argmax(gp, 0.0, np.empty((0, 1)), data, LR, ["lr"], np.random.default_rng(0))
    batch = ucb_argmax(gp, 0.0, np.array([alone]), data, LR, ["lr"], np.random.default_rng(0))
    assert alone[0] == pytest.approx(0.5, abs=0.02)  # the farthest from what is known
    assert abs(batch[0] - 0.5) > 0.15  # ... unless a member is already training there


def test_pb2mix_prefers_the_category_whose_intervals_improved_more():
    def gain(h: Mapping[str, Any]) -> float:
        return {"adam": 1.0, "sgd": 0.2, "rmsprop": 0.0}[h["opt"]] + 0.1 * bump(h)

    history = run(MIXED, members=8, rounds=12, gain=gain)
    picks = []
    for seed in range(200):
        new, ops = popbt.PB2Mix().explore(history[0].observations[-1].hparams, MIXED,
                                          np.random.default_rng(seed), history=history)
        assert ops["opt"] == "exp3" and ops["lr"] in ("pb2", "pb2 random")
        picks.append(new["opt"])
    assert picks.count("adam") > len(picks) / 2 > picks.count("sgd") > picks.count("rmsprop")


def test_the_bandit_caps_a_category_when_there_are_more_than_members():
    rounds = [[(0, 1.0), (1, 0.0)]] * 40
    p = probabilities(rounds, arms=5, batch=2)
    assert p.sum() == pytest.approx(1.0) and p[0] == pytest.approx(max(p))
    assert p[0] <= 0.5 + 1e-9  # EXP3.M: no category drawn with probability above 1/B
    assert probabilities([], arms=3, batch=4) == pytest.approx([1 / 3] * 3)
    # γ = 1 (few rounds, fewer members than categories): uniform, not a division by zero
    assert probabilities([[(0, 1.0), (1, 0.0)]], arms=4, batch=2) == pytest.approx([0.25] * 4)


def test_pb2mix_without_categories_is_pb2():
    history = run(LR, members=6, rounds=4, gain=bump)
    donor = history[2].observations[-1].hparams
    for seed in range(3):
        assert popbt.PB2Mix().explore(donor, LR, np.random.default_rng(seed), history=history) \
            == popbt.PB2().explore(donor, LR, np.random.default_rng(seed), history=history)


@pytest.mark.parametrize("strategy", [popbt.PB2(max_points=150, min_points=3), popbt.PB2Mix()])
def test_config_round_trip(strategy: popbt.Explore):
    config = strategy.to_config()
    assert json.loads(json.dumps(config)) == config
    assert from_config(json.loads(json.dumps(config))) == strategy
    assert config["type"] == type(strategy).__name__ and strategy.uses_history


@pytest.mark.parametrize("kwargs, message", [
    ({"max_points": 1}, r"max_points=1\): must be an integer >= 2"),
    ({"min_points": 0}, r"min_points=0\): must be an integer >= 1"),
    ({"max_points": True}, r"max_points=True"),
    ({"min_points": 9, "max_points": 5}, r"min_points must not exceed max_points"),
])
def test_invalid_settings_are_refused(kwargs: dict[str, Any], message: str):
    with pytest.raises(popbt.ConfigError, match=message):
        popbt.PB2(**kwargs)
    with pytest.raises(popbt.ConfigError, match=message):
        popbt.PB2Mix(**kwargs)


def test_settings_that_cannot_work_are_refused(tmp_path: Any):
    for strategy in (popbt.PB2(), popbt.PB2Mix()):
        with pytest.raises(popbt.ConfigError, match=r"at least 2 members, got size=1"):
            strategy.check(size=1, space=LR)
        strategy.check(size=2, space=LR)
    with pytest.raises(popbt.ConfigError, match=r"\['opt'\].*use popbt.PB2Mix"):
        popbt.PB2().check(size=4, space=MIXED)
    with pytest.raises(popbt.ConfigError, match="use popbt.PB2Mix"):
        popbt.PB2().explore({"lr": 1e-3, "opt": "sgd"}, MIXED, np.random.default_rng(0))
    popbt.PB2Mix().check(size=4, space=MIXED)
    popbt.PB2().check(size=4, space=popbt.Space({"width": popbt.Choice([32, 64])}))
    with pytest.raises(popbt.ConfigError, match="use popbt.PB2Mix"):
        popbt.create_population(name="p", storage=f"sqlite:///{tmp_path / 'p.db'}",
                                space=MIXED, size=4, metric="score", ready=popbt.Every(steps=5),
                                exploit=popbt.Truncation(0.25), explore=popbt.PB2())
