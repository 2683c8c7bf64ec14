"""Growing and shrinking a population while it lives (`Population.resize`).

Contract:
- The size is the number of members not retired, at least 2, stored with the population's
  settings (so `status`, reports and every worker see it).
- Growing adds members with the ids after the highest ever used. By default each starts at
  step 0 with hyperparameters sampled from the space by a generator seeded by (population
  seed, first new id): the same call on the same population adds the same members. With
  `clone_best`, each copies the best member's checkpoint and step, its hyperparameters
  explored as an exploit's (`popbt.decider.Decider.clone`), recorded as EXPLOIT and EXPLORE
  events; before any member has a score and a checkpoint they are sampled instead.
- Shrinking retires the worst members: those without a score first, then the lowest fitness
  (the highest id first on ties). A retired member keeps its records but is never claimed,
  ranked, copied or the best again; a worker training it when it is retired has its report
  refused (as for a lost claim).
- All of it is one storage transaction (`Storage.resize`); workers that are running pick up
  the new members at their next claim.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np

from popbt.decider import Decider
from popbt.errors import ConfigError
from popbt.storage.base import Resized

if TYPE_CHECKING:
    from popbt.population import Population


def resize(pop: Population, size: int, *, clone_best: bool = False) -> Resized:
    """Make `pop` `size` members (see the module contract); what was added and retired.

    Raises:
        ConfigError: `size` is not an integer >= 2, `clone_best` is not a bool, the
            population is trained by the vectorized trainer, or (with `clone_best`) its
            explore raised.
    """
    row = pop.row
    if row.settings.trainer != "workers":
        raise ConfigError(f"population {pop.name!r} is trained by the {row.settings.trainer} "
                          f"trainer, whose size is fixed; train a new population to change it")
    if not isinstance(clone_best, bool):
        raise ConfigError(f"clone_best={clone_best!r}: expected True or False")
    settings = dataclasses.replace(pop.settings, size=size)  # checks size
    first = len(pop.storage.members(row))  # member ids are 0..first-1
    rng = np.random.default_rng([settings.seed, 3, first])
    hparams = [settings.space.sample(rng) for _ in range(settings.size)]
    done = pop.storage.resize(row, size=settings.size, hparams=hparams,
                              clone=Decider(settings) if clone_best else None, now=time.time())
    pop.settings = settings
    return done
