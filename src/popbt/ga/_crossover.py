"""Crossover of two parents' weights, an option of `popbt.ga.GeneticPopulation`.

Contract:
- `uniform(a, b, seed)` takes each weight from `a` or from `b` with equal chance; the mask is
  drawn on the CPU from a generator seeded with `seed`, so it is the same on every machine.
- `mate(rng, parent, parents)` draws the second parent uniformly from the `parents` other
  than `parent` (None when there is no other).
- `note(events, child, parent, mate, step, hparams)` records the second parent in the
  child's EXPLOIT event of this generation (`"crossover_with"`); a child whose first parent
  is itself has no such event, so one is added with the mate as its donor (and
  `"crossover_with"` the child itself), its hyperparameters unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from popbt.records import EventKind

Events = list[tuple[int, int, EventKind, dict]]


def uniform(a: torch.Tensor, b: torch.Tensor, seed: int) -> torch.Tensor:
    """Each weight of `a` or of `b` with equal chance (flat rows of one size)."""
    mask = torch.rand(a.numel(), generator=torch.Generator().manual_seed(seed)) < 0.5
    return torch.where(mask.to(a.device), a, b)


def mate(rng: np.random.Generator, parent: int, parents: Sequence[int]) -> int | None:
    """A second parent among `parents`, not `parent` (None: there is no other)."""
    others = [p for p in parents if p != parent]
    return others[int(rng.integers(len(others)))] if others else None


def note(events: Events, *, child: int, parent: int, mate: int, step: int,
         hparams: Mapping[str, Any]) -> None:
    """Record the crossover in `events` (see the module contract)."""
    if parent != child:
        for member_id, _, kind, data in reversed(events):
            if member_id == child and kind is EventKind.EXPLOIT:
                data["crossover_with"] = mate
                return
    events.append((child, step, EventKind.EXPLOIT, {
        "donor": mate, "donor_step": step, "checkpoint_id": None, "score": None,
        "old": dict(hparams), "new": dict(hparams), "crossover_with": child}))
