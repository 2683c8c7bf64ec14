"""`popbt resize`: grow or shrink a population (see `Population.resize`).

Contract: it changes the population's size and members only (one storage transaction) and
says on stderr what it did; workers running on the population pick the new members up at
their next claim. It creates no storage and imports no user code (with `--clone-best`, a
custom explore function stored by reference is imported to explore the clones).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from popbt._cli_args import MAX_POPULATION, integer, say
from popbt.cli._common import Command, open_population, storage_args

if TYPE_CHECKING:
    from popbt.population import Population


def resized(pop: Population, size: int, *, clone_best: bool) -> None:
    """Resize `pop` to `size` members, saying so on stderr."""
    before = pop.settings.size
    done = pop.resize(size, clone_best=clone_best)
    if done.donor is not None:
        how = f"{len(done.added)} new, cloned from member {done.donor}"
    elif done.added:
        how = f"{len(done.added)} new, sampled from the space"
    elif done.retired:
        how = f"retired the worst: {', '.join(map(str, done.retired))}"
    else:
        how = "unchanged"
    say(f"population {pop.name}: {before} → {done.size} members ({how})", err=True)


def cmd_resize(args: argparse.Namespace) -> int:
    """Resize the population `--name` to `--population` members."""
    resized(open_population(args), args.population, clone_best=args.clone_best)
    return 0


def _resize_args(p: argparse.ArgumentParser) -> None:
    storage_args(p)
    p.add_argument("--population", type=integer(2, MAX_POPULATION), required=True,
                   help="the new number of members: new ones are sampled from the space "
                        "(or copy the best, with --clone-best); shrinking retires the worst")
    p.add_argument("--clone-best", action="store_true",
                   help="new members copy the best member (weights, explored "
                        "hyperparameters)")


COMMANDS = (
    Command("resize", "grow or shrink a population", _resize_args, cmd_resize),
)
