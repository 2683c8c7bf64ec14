"""Opponent samplers, win-rate estimates and the Nash mixture, as pure functions."""

from __future__ import annotations

import numpy as np
import pytest

from popbt.errors import ConfigError
from popbt.league._nash import nash_mixture
from popbt.league.opponents import (
    PFSP,
    Latest,
    Mixture,
    Nash,
    Pool,
    SelfPlay,
    Uniform,
    estimate_win_rates,
    sampler_config,
    sampler_from_config,
)


def pool(win_rate: list[float], payoff: np.ndarray | None = None, own: int = 0,
         added: list[float] | None = None) -> Pool:
    n = len(win_rate)
    return Pool(keys=tuple(f"entry:{i}" for i in range(n)), ratings=np.full(n, 1000.0),
                win_rate=np.array(win_rate, float),
                payoff=np.full((n, n), 0.5) if payoff is None else payoff,
                added=np.arange(n, dtype=float) if added is None else np.array(added, float),
                own=own)


def test_each_sampler_s_probabilities():
    p = pool([0.5, 0.2, 0.9, 0.5], own=3)
    assert Uniform().probabilities(p).tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0])
    assert Latest().probabilities(p).tolist() == [0, 0, 1, 0]  # the newest but itself
    assert SelfPlay().probabilities(p).tolist() == [0, 0, 0, 1]
    hard = PFSP().probabilities(p)  # (1 - x)^2: 0.25, 0.64, 0.01
    assert hard.tolist() == pytest.approx([0.25 / 0.9, 0.64 / 0.9, 0.01 / 0.9, 0])
    variance = PFSP(weighting="variance").probabilities(p)  # x(1 - x): 0.25, 0.16, 0.09
    assert variance.tolist() == pytest.approx([0.5, 0.32, 0.18, 0])
    linear = PFSP(weighting="linear", p=5).probabilities(p)  # p only shapes "hard"
    assert linear.tolist() == pytest.approx([0.5 / 1.4, 0.8 / 1.4, 0.1 / 1.4, 0])
    mix = Mixture([(0.35, SelfPlay()), (0.65, Latest())]).probabilities(p)
    assert mix.tolist() == pytest.approx([0, 0, 0.65, 0.35])


def test_a_pool_of_the_player_alone_is_self_play_and_hopeless_weights_are_uniform():
    alone = pool([0.5])
    for sampler in (Uniform(), Latest(), SelfPlay(), PFSP(), Nash()):
        assert sampler.probabilities(alone).tolist() == [1.0]
    beaten = pool([0.5, 1.0, 1.0])  # the player beats both: every "hard" weight is 0
    assert PFSP().probabilities(beaten).tolist() == pytest.approx([0, 0.5, 0.5])


def test_draws_follow_the_probabilities_and_the_generator():
    p = pool([0.5, 0.2, 0.9])
    keys = [p.draw(PFSP(), np.random.default_rng(s)) for s in range(2000)]
    share = keys.count("entry:1") / len(keys)
    assert share == pytest.approx(0.64 / 0.65, abs=0.02) and "entry:0" not in keys
    again = [p.draw(PFSP(), np.random.default_rng(s)) for s in range(2000)]
    assert keys == again


def test_nash_mixtures_of_known_games():
    rps = np.array([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]])
    assert nash_mixture(rps).tolist() == pytest.approx([1 / 3] * 3, abs=1e-9)
    dominated = np.array([[0.0, 0.2], [-0.2, 0.0]])  # row 0 beats row 1
    assert nash_mixture(dominated).tolist() == pytest.approx([1.0, 0.0])
    biased = np.array([[0.0, -1, 2], [1, 0, -1], [-2, 1, 0]])  # weighted RPS: (1/4, 1/2, 1/4)
    assert nash_mixture(biased).tolist() == pytest.approx([0.25, 0.5, 0.25], abs=1e-9)
    with pytest.raises(ConfigError, match="finite, non-empty"):
        nash_mixture(np.array([[np.nan]]))


def test_nash_samples_the_cycle_not_the_dominated_player():
    # candidates 1-3 play rock-paper-scissors among themselves; 4 loses to all of them
    payoff = np.full((5, 5), 0.5)
    for a, b in ((1, 3), (2, 1), (3, 2)):  # a beats b
        payoff[a, b], payoff[b, a] = 0.9, 0.1
    payoff[1:4, 4], payoff[4, 1:4] = 0.8, 0.2
    p = Nash().probabilities(pool([0.5] * 5, payoff, own=0))
    assert p.tolist() == pytest.approx([0, 1 / 3, 1 / 3, 1 / 3, 0], abs=1e-9)


def test_estimates_pool_both_directions_and_fall_back_on_the_ratings():
    results = np.array([[0.0, 3.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    games = np.array([[0.0, 4.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    expected = np.array([[0.5, 0.6, 0.7], [0.4, 0.5, 0.3], [0.3, 0.7, 0.5]])
    w = estimate_win_rates(results, games, expected, prior_games=1.0)
    # 0 vs 1: 3 of 4 as the player, 2 of 2 as the opponent, plus the prior 0.6 as one game
    assert w[0, 1] == pytest.approx((3 + 2 + 0.6) / 7)
    assert w[1, 0] == pytest.approx(1 - w[0, 1])
    assert w[0, 2] == pytest.approx(0.7)  # never met: the ratings' expectation
    assert np.diag(w).tolist() == [0.5] * 3


@pytest.mark.parametrize("sampler", [Uniform(), Latest(), SelfPlay(), Nash(),
                                     PFSP(weighting="variance", p=3),
                                     Mixture([(1, SelfPlay()), (2, PFSP())])])
def test_samplers_round_trip_through_their_stored_config(sampler):
    import json

    stored = json.loads(json.dumps(sampler_config(sampler)))
    assert sampler_from_config(stored) == sampler


@pytest.mark.parametrize(("make", "message"), [
    (lambda: PFSP(weighting="easy"), r"PFSP\(weighting='easy'\): must be one of 'hard'"),
    (lambda: PFSP(p=0), r"PFSP\(p=0\): must be a number > 0"),
    (lambda: Mixture([]), r"at least one"),
    (lambda: Mixture([(-1, Uniform())]), r"weight -1 must be a number >= 0"),
    (lambda: Mixture([(1, "uniform")]), r"'uniform' is not an opponent sampler"),
    (lambda: sampler_from_config({"type": "Best"}), r"unknown opponent sampler 'Best'; known:"),
])
def test_bad_samplers_are_refused(make, message):
    with pytest.raises(ConfigError, match=message):
        make()
