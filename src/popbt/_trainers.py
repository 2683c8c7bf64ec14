"""Which trainer a population belongs to (recorded in its settings: "workers" for the worker
loop, "vectorized" for `popbt.vectorized.VectorizedPopulation`, "ga" for
`popbt.ga.GeneticPopulation`): their members' states differ, so each refuses the others'."""

from __future__ import annotations

from typing import TYPE_CHECKING

from popbt.errors import ConfigError

if TYPE_CHECKING:
    from popbt.storage.base import PopulationRow

CONTINUE_WITH = {"workers": "Population.train or popbt run",
                 "vectorized": "popbt.vectorized.VectorizedPopulation",
                 "ga": "popbt.ga.GeneticPopulation"}


def check_trainer(row: PopulationRow, trainer: str) -> None:
    """Refuse (`ConfigError`) to run or load population `row` with `trainer` when another
    trainer trains it, naming the one to continue it with."""
    stored = row.settings.trainer
    if stored != trainer:
        how = CONTINUE_WITH.get(stored, CONTINUE_WITH["workers"])
        raise ConfigError(f"population {row.name!r} is trained by the {stored} trainer; "
                          f"continue it with {how}")
