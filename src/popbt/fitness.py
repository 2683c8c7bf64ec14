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
from typing import TYPE_CHECKING

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
