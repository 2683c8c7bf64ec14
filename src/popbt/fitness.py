"""Fitness: what exploit ranks, computed from what members report.

Contract:
- `Fitness.of(metrics)` turns one evaluation's metrics into an oriented number: higher is
  better, `-inf` when it is not finite (such a member ranks worst and is never a donor). It
  is stored with every score and as the member's current fitness, which `best`, the peers'
  columns and the report read; the storage never computes it.
- `Fitness.rank(context)` gives the peers as a decision's exploit ranks them. The default
  ranks by the stored fitness; a fitness that ranks otherwise (by Pareto fronts over several
  objectives, or by ratings from matches between members) overrides it, reading what it needs
  from the decision context, without any change to the storage or the worker loop.
- `MetricFitness(metric, mode)` is the population's `metric`/`mode`: every population's
  default.

Examples:
    >>> MetricFitness(metric="loss", mode="min").of({"loss": 0.25, "accuracy": 0.9})
    -0.25
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from popbt.errors import ConfigError
from popbt.pareto import rank_values
from popbt.records import Peers

if TYPE_CHECKING:
    from popbt.decisions import DecisionContext


def fitness_of(score: float, mode: str) -> float:
    """The oriented fitness of a score: higher is better; -inf when not finite."""
    if not math.isfinite(score):
        return -math.inf
    return score if mode == "max" else -score


class Fitness:
    """Base class; see the module contract."""

    def of(self, metrics: Mapping[str, float]) -> float:
        """The oriented fitness of one evaluation's `metrics`."""
        raise NotImplementedError

    def rank(self, context: DecisionContext) -> Peers:
        """The peers with the fitness a decision's exploit ranks them by (default: the
        stored one)."""
        return Peers.of(context.peers)


@dataclass(frozen=True, kw_only=True)
class MetricFitness(Fitness):
    """One metric, maximised (`mode="max"`) or minimised (`mode="min"`)."""

    metric: str
    mode: str = "max"

    def of(self, metrics: Mapping[str, float]) -> float:
        return fitness_of(float(metrics[self.metric]), self.mode)


@dataclass(frozen=True)
class Objective:
    """One objective of a multi-objective population: a metric, maximised or minimised, and
    optionally its value at the reference point the hypervolume is measured from."""

    metric: str
    mode: str = "max"
    reference: float | None = None

    @classmethod
    def of(cls, spec: object) -> Objective:
        """`spec` as an Objective: one already, or a tuple `(metric, mode)` or
        `(metric, mode, reference)`.

        Raises:
            ConfigError: any other shape, an empty metric, a mode other than "max" or
                "min", or a reference that is not a finite number.
        """
        if isinstance(spec, Objective):
            return spec
        if not isinstance(spec, tuple | list) or len(spec) not in (2, 3):
            raise ConfigError(f"objective {spec!r}: give (metric, mode) or (metric, mode, "
                              f"reference), e.g. ('accuracy', 'max', 0.0)")
        metric, mode, *rest = spec
        if not isinstance(metric, str) or not metric:
            raise ConfigError(f"objective {spec!r}: the metric must be a non-empty string")
        if mode not in ("max", "min"):
            raise ConfigError(f"objective {spec!r}: mode {mode!r} must be 'max' or 'min'")
        reference = rest[0] if rest else None
        if reference is not None and (isinstance(reference, bool) or not isinstance(
                reference, int | float) or not math.isfinite(reference)):
            raise ConfigError(f"objective {spec!r}: the reference must be a finite number")
        return cls(metric, mode, None if reference is None else float(reference))

    def oriented(self, value: float) -> float:
        """`value` with higher better (negated for "min"); -inf when not finite."""
        return fitness_of(value, self.mode)

    def to_config(self) -> list[Any]:
        return [self.metric, self.mode, self.reference]


@dataclass(frozen=True)
class ParetoFitness(Fitness):
    """Several objectives at once (multi-objective PBT, Dushatskiy et al. 2023).

    Members are ranked by non-dominated front, then by crowding distance within the front
    (the extremes first), as NSGA-II's selection does: exploit copies from the first fronts'
    spread-out members into the last fronts' crowded ones. The stored fitness of an
    evaluation (what `popbt status` sorts and score curves draw) is the first objective's;
    a member whose objectives are not all finite ranks worst.
    """

    objectives: tuple[Objective, ...]

    def vector(self, metrics: Mapping[str, float]) -> tuple[float, ...]:
        """The oriented objective values of one evaluation (higher better; -inf where
        missing or not finite)."""
        return tuple(o.oriented(float(metrics.get(o.metric, math.nan)))
                     for o in self.objectives)

    def of(self, metrics: Mapping[str, float]) -> float:
        """The first objective's oriented value.

        Raises:
            ConfigError: an objective is not among `metrics`.
        """
        missing = [o.metric for o in self.objectives if o.metric not in metrics]
        if missing:
            raise ConfigError(f"the objectives {missing} are not among the values evaluate() "
                              f"returned: {sorted(metrics)}")
        return self.objectives[0].oriented(float(metrics[self.objectives[0].metric]))

    def rank(self, context: DecisionContext) -> Peers:
        peers = Peers.of(context.peers)
        return Peers(peers.member_ids, peers.steps, self.rank_values(peers), peers.history,
                     samples=peers.samples, objectives=peers.objectives)

    def rank_values(self, peers: Peers) -> np.ndarray:
        """Each peer's place as a number (higher better; see the class), from
        `peers.objectives`; -inf for a peer without finite objectives."""
        values = np.full(len(peers), -np.inf)
        rows = [peers.objectives.get(int(m)) for m in peers.member_ids]
        ok = np.array([r is not None and all(math.isfinite(x) for x in r) for r in rows],
                      dtype=bool)
        if ok.any():
            points = np.array([rows[i] for i in np.flatnonzero(ok)], dtype=float)
            values[ok] = rank_values(points)
        return values

    @property
    def reference(self) -> np.ndarray | None:
        """The oriented reference point, or None when an objective states none."""
        references = [o.reference for o in self.objectives]
        if any(r is None for r in references):
            return None
        return np.array([o.oriented(float(r or 0.0))
                         for o, r in zip(self.objectives, references, strict=True)])
