"""Welch's t-test without SciPy (the Student t tail through the regularised incomplete beta),
and the sample statistics it and the noise-robust exploits share."""

from __future__ import annotations

import math
from collections.abc import Sequence


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def mean_var(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample variance (n − 1 in the denominator) of two or more values.

    Examples:
        >>> mean_var([1.0, 2.0, 3.0])
        (2.0, 1.0)

    Raises:
        ValueError: fewer than two values.
    """
    n = len(values)
    if n < 2:
        raise ValueError(f"a sample variance needs at least two values, got {n}")
    m = math.fsum(values) / n
    return m, math.fsum((x - m) ** 2 for x in values) / (n - 1)


def standard_error(values: Sequence[float]) -> float:
    """The standard error of the mean of two or more values: s / √n.

    Examples:
        >>> standard_error([1.0, 3.0, 5.0, 7.0])
        1.2909944487358056

    Raises:
        ValueError: fewer than two values.
    """
    return math.sqrt(mean_var(values)[1] / len(values))


def welch_p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test that `a` and `b` have equal means.

    Needs at least two values on each side. With no variance on either side the p-value is
    0.0 when the means differ and 1.0 when they are equal.
    """
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        raise ValueError("Welch's t-test needs at least two values per sample")
    ma, va = mean_var(a)
    mb, vb = mean_var(b)
    se2 = va / na + vb / nb
    if se2 == 0.0:
        return 1.0 if ma == mb else 0.0
    t = (ma - mb) / math.sqrt(se2)
    # Welch–Satterthwaite, scaled by se2 so tiny variances do not underflow when squared
    wa, wb = va / na / se2, vb / nb / se2
    df = 1.0 / (wa * wa / (na - 1) + wb * wb / (nb - 1))
    tail = t * t / (df + t * t)
    if tail < 0.5:  # a small |t|: df / (df + t²) rounds towards 1, its complement does not
        return 1.0 - betainc(0.5, df / 2.0, tail)
    return betainc(df / 2.0, 0.5, df / (df + t * t))
