"""What `Trainable.evaluate` returned, read: the metric's score, every recorded value, and the
metric's samples when it returned several.

Contract: a result is a number (the metric), a list of numbers (samples of the metric), or a
dict of numbers that holds the metric, whose value may be a list, tuple or 1-D array of
numbers (samples, e.g. episode returns). Samples make the score their mean (NaN when one is
not finite: such a score ranks worst). Anything else raises `ConfigError` naming the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from popbt.errors import ConfigError


class Evaluation(NamedTuple):
    """One `evaluate()` result read: the metric's value (`score`), every recorded value
    (`metrics`, the metric's among them), and the samples it is the mean of (`samples`;
    empty when the metric was one number)."""

    score: float
    metrics: dict[str, float]
    samples: tuple[float, ...]


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) and not hasattr(
            value, "__float__"):
        raise ConfigError(f"evaluate() returned {key!r}: {value!r}, not a number; return a "
                          f"number for each name (the metric may be a list of numbers)")
    return float(value)


def _samples(metric: str, value: Any) -> tuple[float, ...] | None:
    """The samples of a metric's value given as a list, a tuple or a 1-D array (None for any
    other value).

    Raises:
        ConfigError: an empty or multi-dimensional one, or one that holds a non-number.
    """
    if isinstance(value, list | tuple):
        values = list(value)
    elif hasattr(value, "ndim") and hasattr(value, "tolist") and value.ndim >= 1:
        if value.ndim != 1:
            raise ConfigError(f"evaluate() returned {metric!r} with shape "
                              f"{tuple(value.shape)!r}; samples of the metric must be 1-D")
        values = value.tolist()
    else:
        return None
    if not values:
        raise ConfigError(f"evaluate() returned no value under {metric!r} (an empty "
                          f"{type(value).__name__}); return one number, or a list of at least "
                          f"one sample")
    return tuple(_number(f"{metric}[{i}]", v) for i, v in enumerate(values))


def _mean(samples: tuple[float, ...]) -> float:
    """The mean of samples; NaN when one is not finite (such a score ranks worst)."""
    if all(math.isfinite(x) for x in samples):
        return math.fsum(samples) / len(samples)
    return math.nan


def evaluation_of(result: Any, metric: str) -> Evaluation:
    """An `evaluate()` result read: a number (the metric), a list of numbers (samples of the
    metric), or a dict of numbers that holds `metric`, whose value may be a list of numbers.
    The metric's samples (a list, tuple or 1-D array, e.g. episode returns) make its score
    their mean (NaN if one is not finite); the other names take one number each.

    Examples:
        >>> evaluation_of({"return": [1.0, 2.0, 6.0], "steps": 3}, "return")
        Evaluation(score=3.0, metrics={'return': 3.0, 'steps': 3.0}, samples=(1.0, 2.0, 6.0))

    Raises:
        ConfigError: the result is none of these, or its samples are empty or not numbers.
    """
    if isinstance(result, Mapping):
        metrics: dict[str, float] = {}
        samples: tuple[float, ...] = ()
        for key, value in result.items():
            found = _samples(str(key), value) if key == metric else None
            if found is not None:
                samples = found
                metrics[str(key)] = _mean(found)
            else:
                metrics[str(key)] = _number(str(key), value)
        if metric not in metrics:
            raise ConfigError(f"metric {metric!r} is not among the values evaluate() returned: "
                              f"{sorted(metrics)!r}")
        return Evaluation(metrics[metric], metrics, samples)
    found = _samples(metric, result)
    if found is not None:
        return Evaluation(_mean(found), {metric: _mean(found)}, found)
    if isinstance(result, bool) or not (isinstance(result, int | float) or hasattr(
            result, "__float__")):
        raise ConfigError(f"evaluate() returned {result!r}; return a number, a list of numbers "
                          f"(samples) or a dict of numbers holding {metric!r}")
    return Evaluation(float(result), {metric: float(result)}, ())


def score_of(result: Any, metric: str) -> tuple[float, dict[str, float]]:
    """The metric's value and every recorded value of an `evaluate()` result (see
    `evaluation_of`).

    Raises:
        ConfigError: as `evaluation_of`.
    """
    score, metrics, _ = evaluation_of(result, metric)
    return score, metrics
