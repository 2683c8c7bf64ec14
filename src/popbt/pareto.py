"""Pareto fronts of points to maximise: non-dominated sorting, crowding distance, hypervolume.

Every function takes points as an [n, m] array whose columns are oriented so that higher is
better (a minimised objective negated), every value finite.

Examples:
    >>> import numpy as np
    >>> points = np.array([[1.0, 0.2], [0.2, 1.0], [0.5, 0.5], [0.2, 0.2]])
    >>> [front.tolist() for front in fronts(points)]
    [[0, 1, 2], [3]]
    >>> round(hypervolume(points, reference=np.array([0.0, 0.0])), 9)
    0.45
"""

from __future__ import annotations

import numpy as np


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether `a` is at least as good as `b` everywhere and better somewhere."""
    return bool(np.all(a >= b) and np.any(a > b))


def fronts(points: np.ndarray) -> list[np.ndarray]:
    """The indices of `points` by non-dominated front (Deb et al.'s fast sorting): the first
    holds the points no other dominates, the next those only the first dominates, and so on;
    each front's indices in increasing order."""
    n = len(points)
    if n == 0:
        return []
    ge = np.all(points[:, None, :] >= points[None, :, :], axis=2)
    gt = np.any(points[:, None, :] > points[None, :, :], axis=2)
    beats = ge & gt  # beats[i, j]: point i dominates point j
    beaten = beats.sum(axis=0)
    out = []
    current = np.flatnonzero(beaten == 0)
    while len(current):
        out.append(current)
        beaten = beaten - beats[current].sum(axis=0)
        beaten[current] = -1  # placed
        current = np.flatnonzero(beaten == 0)
    return out


def crowding(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each point within its set: for each objective, the gap
    between its two neighbours over the objective's range, summed; the extremes of any
    objective get infinity (they are always kept)."""
    n, m = points.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(points[:, k], kind="stable")
        column = points[order, k]
        span = column[-1] - column[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (column[2:] - column[:-2]) / span
    return distance


def rank_values(points: np.ndarray) -> np.ndarray:
    """One number per point that orders them as multi-objective PBT ranks members: by front
    first (−front index), then by crowding distance within the front (mapped into [0, 1),
    the extremes highest): higher is better."""
    values = np.zeros(len(points))
    for depth, front in enumerate(fronts(points)):
        d = crowding(points[front])
        spread = np.ones(len(d))
        finite = np.isfinite(d)
        spread[finite] = d[finite] / (1.0 + d[finite])
        values[front] = -depth + spread * (1 - 1e-9)
    return values


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The volume dominated by `points` and dominating `reference` (points not better than
    the reference in every objective add nothing); exact, by slicing along the last
    objective (fine for the fronts of a population: tens of points, a few objectives)."""
    points = np.asarray(points, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if len(points) == 0:
        return 0.0
    points = points[np.all(points > reference, axis=1)]
    if len(points) == 0:
        return 0.0
    if points.shape[1] == 1:
        return float(points[:, 0].max() - reference[0])
    order = np.argsort(-points[:, -1], kind="stable")  # best in the last objective first
    points = points[order]
    volume = 0.0
    for i in range(len(points)):
        below = points[i + 1, -1] if i + 1 < len(points) else reference[-1]
        height = points[i, -1] - below
        if height > 0:
            volume += height * hypervolume(points[:i + 1, :-1], reference[:-1])
    return float(volume)
