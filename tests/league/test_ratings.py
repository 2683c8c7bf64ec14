"""Elo ratings as pure functions."""

from __future__ import annotations

import numpy as np
import pytest

from popbt.errors import ConfigError
from popbt.league.ratings import Elo


def test_expectations_and_updates_keep_the_sum():
    elo = Elo(k=32, initial=1500, scale=400)
    assert elo.expected(1500, 1500) == 0.5
    assert elo.expected(1900, 1500) == pytest.approx(10 / 11)  # 10 to 1 at one scale apart
    assert elo.expected(1500, 1900) + elo.expected(1900, 1500) == pytest.approx(1.0)
    a, b = elo.update(1500, 1900, 1.0)  # the upset moves ratings the most
    assert a - 1500 == pytest.approx(32 * 10 / 11) and a + b == pytest.approx(3400)
    assert elo.update(1500, 1500, 0.5) == (1500, 1500)


def test_the_matrix_of_expectations_is_expected_for_every_pair():
    elo, ratings = Elo(scale=300), np.array([900.0, 1000.0, 1400.0])
    matrix = elo.expected_matrix(ratings)
    for i, a in enumerate(ratings):
        for j, b in enumerate(ratings):
            assert matrix[i, j] == pytest.approx(elo.expected(a, b))
    assert np.allclose(np.diag(matrix), 0.5) and np.allclose(matrix + matrix.T, 1.0)


def test_ratings_learn_who_is_stronger():
    rng = np.random.default_rng(0)
    elo, ratings, gaps = Elo(), [1000.0, 1000.0], []
    for _ in range(4000):  # player 0 wins 76 % of its games: 200 points stronger
        ratings[0], ratings[1] = elo.update(ratings[0], ratings[1], float(rng.random() < 0.76))
        gaps.append(ratings[0] - ratings[1])
    assert np.mean(gaps[1000:]) == pytest.approx(200, abs=30)  # once it has settled


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Elo(k=0), r"Elo\(k=0\): must be a finite number > 0"),
    (lambda: Elo(scale=float("inf")), r"Elo\(scale=inf\)"),
    (lambda: Elo(initial="1000"), r"Elo\(initial='1000'\): must be a finite number"),
    (lambda: Elo().update(1000, 1000, 1.5), r"must be in \[0, 1\].*got 1.5; map a payoff"),
    (lambda: Elo().update(1000, 1000, True), r"a number in \[0, 1\].*got True"),
])
def test_bad_ratings_and_results_are_refused(make, message):
    with pytest.raises(ConfigError, match=message):
        make()
