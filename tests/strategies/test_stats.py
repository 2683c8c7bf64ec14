"""The SciPy-free Welch t-test and incomplete beta function, checked against SciPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from popbt.strategies._stats import betainc, mean_var, standard_error, welch_p_value

# SciPy warns about near-identical samples; the comparisons below still hold
pytestmark = pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")

RTOL = 1e-8
ATOL = 1e-8


def close(actual: float, expected: float) -> bool:
    return math.isclose(actual, expected, rel_tol=RTOL, abs_tol=ATOL)


def scipy_welch(a: list[float], b: list[float]) -> float:
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


# ---------------------------------------------------------------------------------------------
# betainc


def test_betainc_matches_scipy_on_random_grid() -> None:
    gen = np.random.default_rng(20240601)
    for _ in range(2000):
        a = float(10 ** gen.uniform(-2, 3))
        b = float(10 ** gen.uniform(-2, 3))
        x = float(gen.uniform(0, 1))
        expected = float(special.betainc(a, b, x))
        got = betainc(a, b, x)
        assert math.isclose(got, expected, rel_tol=RTOL, abs_tol=1e-12), (a, b, x, got,
                                                                           expected)


@settings(max_examples=300, deadline=None)
@given(a=st.floats(min_value=0.05, max_value=500.0),
       b=st.floats(min_value=0.05, max_value=500.0),
       x=st.floats(min_value=0.0, max_value=1.0))
def test_betainc_matches_scipy_hypothesis(a: float, b: float, x: float) -> None:
    expected = float(special.betainc(a, b, x))
    assert close(betainc(a, b, x), expected)


@pytest.mark.parametrize("a", [0.5, 5.0, 50.0, 500.0, 5000.0, 20000.0])
@pytest.mark.parametrize("b", [0.5, 5.0, 50.0, 500.0, 5000.0])
def test_betainc_near_the_switch_point(a: float, b: float) -> None:
    """Where the continued fraction converges slowest: x near (a + 1) / (a + b + 2)."""
    mid = (a + 1.0) / (a + b + 2.0)
    for x in (mid - 1e-3, mid - 1e-9, mid, mid + 1e-9, mid + 1e-3):
        if 0.0 < x < 1.0:
            assert close(betainc(a, b, x), float(special.betainc(a, b, x))), x


@pytest.mark.parametrize(("a", "b"), [(0.5, 0.5), (1.0, 1.0), (2.0, 3.0), (50.0, 0.5)])
def test_betainc_ends_and_symmetry(a: float, b: float) -> None:
    assert betainc(a, b, 0.0) == 0.0
    assert betainc(a, b, -0.5) == 0.0
    assert betainc(a, b, 1.0) == 1.0
    assert betainc(a, b, 1.5) == 1.0
    for x in (0.01, 0.2, 0.5, 0.77, 0.999):
        assert betainc(a, b, x) + betainc(b, a, 1.0 - x) == pytest.approx(1.0, abs=1e-12)


def test_betainc_closed_forms() -> None:
    for x in np.linspace(0.01, 0.99, 25):
        x = float(x)
        assert betainc(1.0, 1.0, x) == pytest.approx(x, rel=1e-12)  # uniform CDF
        assert betainc(2.0, 1.0, x) == pytest.approx(x * x, rel=1e-12)
        assert betainc(0.5, 0.5, x) == pytest.approx(2 / math.pi * math.asin(math.sqrt(x)),
                                                     rel=1e-12)


def test_betainc_is_monotone_in_x() -> None:
    xs = np.linspace(0.0, 1.0, 401)
    for a, b in [(0.3, 4.0), (5.0, 0.5), (20.0, 20.0)]:
        values = [betainc(a, b, float(x)) for x in xs]
        assert all(v1 <= v2 + 1e-15 for v1, v2 in zip(values, values[1:], strict=False))
        assert values[0] == 0.0 and values[-1] == 1.0


# ---------------------------------------------------------------------------------------------
# welch_p_value


def test_welch_matches_scipy_on_random_samples() -> None:
    gen = np.random.default_rng(7)
    for _ in range(500):
        na, nb = (int(n) for n in gen.integers(2, 40, size=2))
        scale_a, scale_b = (float(10 ** s) for s in gen.uniform(-3, 2, size=2))
        shift = float(gen.normal(0, 2))
        a = list(gen.normal(0.0, scale_a, size=na))
        b = list(gen.normal(shift, scale_b, size=nb))
        expected = scipy_welch(a, b)
        got = welch_p_value(a, b)
        assert close(got, expected), (a, b, got, expected)
        assert 0.0 <= got <= 1.0


def test_welch_matches_scipy_large_samples() -> None:
    gen = np.random.default_rng(11)
    for n in (100, 500, 2000):
        for shift in (0.0, 0.02, 0.1, 1.0):
            a = list(gen.normal(0.0, 1.0, size=n))
            b = list(gen.normal(shift, 3.0, size=n // 2))
            assert close(welch_p_value(a, b), scipy_welch(a, b))


def test_welch_tiny_p_values_are_relatively_accurate() -> None:
    gen = np.random.default_rng(3)
    for _ in range(100):
        a = list(gen.normal(0.0, 1.0, size=10))
        b = list(gen.normal(8.0, 1.0, size=12))
        expected = scipy_welch(a, b)
        assert expected < 1e-6
        assert math.isclose(welch_p_value(a, b), expected, rel_tol=1e-7)


# moderate magnitudes here; tiny variances have their own test below
finite = st.floats(min_value=-1e3, max_value=1e3).filter(lambda x: x == 0 or abs(x) > 1e-50)


@settings(max_examples=120, deadline=None)
@given(a=st.lists(finite, min_size=2, max_size=12), b=st.lists(finite, min_size=2, max_size=12))
def test_welch_matches_scipy_hypothesis(a: list[float], b: list[float]) -> None:
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)
    # keep clear of near-constant samples, where both sides only measure rounding noise
    scale = max(map(abs, a + b)) or 1.0
    if va + vb < (1e-6 * scale) ** 2:
        return
    assert close(welch_p_value(a, b), scipy_welch(a, b))


def test_welch_is_symmetric_and_shift_invariant() -> None:
    a = [0.1, 0.5, 0.3, 0.7]
    b = [1.0, 1.4, 0.9, 1.6, 1.1]
    p = welch_p_value(a, b)
    assert welch_p_value(b, a) == pytest.approx(p, rel=1e-12)
    assert welch_p_value([x + 100 for x in a], [x + 100 for x in b]) == pytest.approx(p,
                                                                                      rel=1e-9)
    assert welch_p_value(a, a) == pytest.approx(1.0)


def test_welch_zero_variance() -> None:
    assert welch_p_value([1.0, 1.0, 1.0], [2.0, 2.0]) == 0.0
    assert welch_p_value([2.0, 2.0], [1.0, 1.0, 1.0, 1.0]) == 0.0
    assert welch_p_value([3.0, 3.0], [3.0, 3.0, 3.0]) == 1.0
    assert welch_p_value([0.0, 0.0], [0.0, 0.0]) == 1.0


def test_welch_zero_variance_on_one_side_matches_scipy() -> None:
    a = [1.0, 1.0, 1.0, 1.0]
    for b in ([1.5, 1.7, 1.2], [0.9, 1.1, 1.0, 1.05], [-3.0, 4.0]):
        assert close(welch_p_value(a, b), scipy_welch(a, b))
        assert close(welch_p_value(b, a), scipy_welch(b, a))


def test_welch_tiny_variance_does_not_divide_by_zero() -> None:
    # t = -1 on one degree of freedom: p = 0.5, whatever the scale
    assert welch_p_value([0.0, 0.0], [0.0, 1.0]) == pytest.approx(0.5, rel=1e-9)
    assert welch_p_value([0.0, 0.0], [0.0, 2.706780358288826e-153]) == pytest.approx(
        0.5, rel=1e-6)


@pytest.mark.parametrize(("a", "b"), [([1.0], [1.0, 2.0]), ([1.0, 2.0], [3.0]), ([], [])])
def test_welch_needs_two_values_per_side(a: list[float], b: list[float]) -> None:
    with pytest.raises(ValueError, match="at least two"):
        welch_p_value(a, b)


def test_welch_accepts_tuples_and_numpy() -> None:
    a = (0.2, 0.4, 0.3)
    b = np.array([0.8, 0.7, 0.9, 0.6])
    assert close(welch_p_value(a, b), scipy_welch(list(a), list(b)))


# ---------------------------------------------------------------------------------------------
# mean_var, standard_error


def test_mean_var_and_standard_error_match_numpy_and_scipy() -> None:
    gen = np.random.default_rng(11)
    for n in (2, 3, 8, 100):
        for _ in range(20):
            values = [float(x) for x in gen.normal(gen.uniform(-5, 5), gen.uniform(0.01, 3), n)]
            m, v = mean_var(values)
            assert close(m, float(np.mean(values)))
            assert close(v, float(np.var(values, ddof=1)))
            assert close(standard_error(values), float(stats.sem(values)))


def test_standard_error_of_constant_values_is_zero() -> None:
    assert standard_error([0.3, 0.3, 0.3]) == 0.0


@pytest.mark.parametrize("values", [[], [1.0]])
def test_mean_var_needs_two_values(values: list[float]) -> None:
    with pytest.raises(ValueError, match=f"at least two values, got {len(values)}"):
        mean_var(values)
    with pytest.raises(ValueError):
        standard_error(values)
