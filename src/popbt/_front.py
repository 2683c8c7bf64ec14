"""A multi-objective population's front and hypervolume, read from its members' records.

Contract: a member belongs to the front when its latest objective values are all finite and
no other such member's dominate them; the front is listed by the first objective, best
first (lowest member id on ties). The hypervolume is that of the front against the
objectives' reference point, None when an objective states no reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from popbt.fitness import ParetoFitness
from popbt.pareto import fronts, hypervolume
from popbt.records import Member


def _points(members: Sequence[Member], fitness: ParetoFitness) -> tuple[list[Member], np.ndarray]:
    scored = [m for m in members if m.score is not None]
    rows = [fitness.vector(m.metrics) for m in scored]
    keep = [i for i, row in enumerate(rows) if all(np.isfinite(row))]
    return [scored[i] for i in keep], np.array([rows[i] for i in keep], dtype=float)


def front(members: Sequence[Member], fitness: ParetoFitness) -> list[Member]:
    """The non-dominated members (see the module contract)."""
    kept, points = _points(members, fitness)
    if not kept:
        return []
    first = fronts(points)[0]
    return sorted((kept[i] for i in first),
                  key=lambda m: (-fitness.vector(m.metrics)[0], m.member_id))


def front_hypervolume(members: Sequence[Member], fitness: ParetoFitness) -> float | None:
    """The hypervolume of the members' front (see the module contract)."""
    reference = fitness.reference
    if reference is None:
        return None
    _, points = _points(members, fitness)
    return hypervolume(points, reference) if len(points) else 0.0
