"""One worker in this process: deterministic for a given population seed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from popbt.executors import worker_name
from popbt.trainable import Trainable
from popbt.worker import Worker, WorkerOptions

if TYPE_CHECKING:
    from popbt._progress import Progress
    from popbt.population import Population


def run_inprocess(pop: Population, trainable: type[Trainable], *, lease_s: float,
                  progress: Progress) -> None:
    """Run the worker loop here until no member is left."""
    worker = Worker(pop.storage, pop.row, pop.settings, trainable, name=worker_name(),
                    options=WorkerOptions(lease_s=lease_s),
                    on_report=lambda _outcome: progress.update())
    worker.run()
