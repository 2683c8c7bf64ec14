"""Loggers: callbacks (`popbt.Callback`) that copy a training run's records to experiment
trackers, as the run goes.

- `TensorBoardLogger(logdir)` (extra `tensorboard`): event files per member.
- `MLflowLogger(tracking_uri, experiment=...)` (extra `mlflow`): a run for the population
  and a child run per member.

Pass them as `Population.train(..., callbacks=[...])`. Like every callback they run in the
process that called `train`, from the records in the storage, so they log the same with
every executor; they log what the run trains from its start (records committed before it
are in the storage: `pop.scores()`, `pop.events()`). Each imports its package when it is
made, so `import popbt.loggers` stays light.
"""

from __future__ import annotations

from popbt.loggers.mlflow import MLflowLogger
from popbt.loggers.tensorboard import TensorBoardLogger

__all__ = ["MLflowLogger", "TensorBoardLogger"]
