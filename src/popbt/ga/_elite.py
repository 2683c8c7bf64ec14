"""The Deep GA's choice of the elite (Such et al. 2017): a generation's best scores are
evaluated again, and the elite is the best of them by that mean.

Contract:
- `evaluate_candidates` evaluates the `candidates` best members by this generation's score
  `episodes` more times each (all copies as one batched network, with `seed`) and records
  each one's mean in its results as `elite_<metric>`; with no finite score, nothing.
- `elite_samples` gives those recorded means as the samples `GeneticSelection` chooses the
  elites by, one per candidate, oriented by the population's fitness.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from popbt._evaluation import evaluation_of
from popbt.ga.evaluation import EvaluateFn, Policy, per_member
from popbt.records import Peer
from popbt.settings import Settings
from popbt.strategies import GeneticSelection
from popbt.strategies.genetic import elite_metric


def evaluate_candidates(results: list[dict[str, Any]], *, flat: torch.Tensor,
                        model_fn: Callable[[], nn.Module], evaluate: EvaluateFn,
                        settings: Settings, candidates: int, episodes: int,
                        seed: int) -> None:
    """Add `elite_<metric>` to the candidates' `results` (see the module contract)."""
    metric, fitness = settings.metric, settings.fitness
    peers = [Peer(i, 0, fitness.of(evaluation_of(r, metric)[1]))
             for i, r in enumerate(results)]
    chosen = GeneticSelection.ranking(peers)[:candidates]
    if not chosen:
        return
    rows = flat[torch.as_tensor(chosen, device=flat.device)]
    out = evaluate(Policy.of(model_fn, rows.repeat_interleave(episodes, 0)), seed)
    extra = [evaluation_of(r, metric).score
             for r in per_member(out, metric, len(chosen) * episodes)]
    for k, i in enumerate(chosen):
        results[i][elite_metric(metric)] = float(np.mean(extra[k * episodes:(k + 1) * episodes]))


def elite_samples(records: Sequence[dict[str, Any]],
                  settings: Settings) -> dict[int, list[float]]:
    """Member id → [its elite mean, oriented], for the members that carry one."""
    metric = settings.metric
    name = elite_metric(metric)
    return {r["member_id"]: [settings.fitness.of({metric: r["metrics"][name]})]
            for r in records if name in r["metrics"]}
