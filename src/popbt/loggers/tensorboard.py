"""`TensorBoardLogger`: a training run's records as TensorBoard event files (extra
`tensorboard`: `pip install 'popbt[tensorboard]'`).

The files are written with tensorboardX, which needs neither TensorFlow nor PyTorch (a
population of any trainable can log); reading them takes the `tensorboard` package
(`tensorboard --logdir LOGDIR`).

Contract:
- One folder per member, `LOGDIR/member_003/`, so TensorBoard shows each member as a run.
- Every metric of every score (the population's metric, the other values `evaluate`
  returns and those logged with `Trainable.log`) is a scalar of that name at the score's
  step.
- Each hyperparameter with a number value is a scalar `hparams/NAME` from the step it
  takes effect: the member's step when the run starts, then where an exploit or explore
  changes it (once per step: an exploit's copy and its explore are one change).
- When the run ends, each member's final hyperparameters and metric go to TensorBoard's
  hyperparameters plugin (text values included), and every file is flushed and closed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from popbt.callbacks import Callback, RunEnd
from popbt.errors import ConfigError
from popbt.loggers._hparams import Schedules, flat, numbers
from popbt.records import Event, Score

if TYPE_CHECKING:
    from popbt.population import Population

__all__ = ["TensorBoardLogger"]


def member_folder(member_id: int) -> str:
    """The folder of a member's event files, under the logger's `logdir`."""
    return f"member_{member_id:03d}"


class TensorBoardLogger(Callback):
    """Writes a run's scores and hyperparameters as TensorBoard event files under `logdir`
    (see the module contract).

    Example (then `tensorboard --logdir runs/mlp`: one run per member)::

        pop.train(MyTrainable, steps=1000, callbacks=[TensorBoardLogger("runs/mlp")])

    Raises:
        ConfigError: tensorboardX is not installed.
    """

    def __init__(self, logdir: str | os.PathLike[str], *, flush_secs: float = 10.0) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ConfigError("TensorBoardLogger needs tensorboardX: "
                              "pip install 'popbt[tensorboard]'") from None
        self.logdir = Path(logdir)
        self._writer_class = SummaryWriter
        self._flush_secs = flush_secs
        self._writers: dict[int, Any] = {}
        self._schedules = Schedules(self._write_hparams)

    def _writer(self, member_id: int) -> Any:
        writer = self._writers.get(member_id)
        if writer is None:
            # tensorboardX names a file by the second: a run resumed within it would replace
            # the file. The suffix makes the name unique, and later files sort after earlier
            # ones, so TensorBoard reads the steps in order.
            writer = self._writer_class(logdir=str(self.logdir / member_folder(member_id)),
                                        flush_secs=self._flush_secs,
                                        filename_suffix=f".{time.time_ns()}.{os.getpid()}")
            self._writers[member_id] = writer
        return writer

    def _write_hparams(self, member_id: int, step: int, hparams: dict[str, Any]) -> None:
        writer = self._writer(member_id)
        for name, value in numbers(hparams).items():
            writer.add_scalar(f"hparams/{name}", value, step)

    def on_start(self, pop: Population) -> None:
        self._schedules.start(pop.members)
        self._schedules.flush()

    def on_report(self, pop: Population, score: Score) -> None:
        self._schedules.flush(score.member_id)
        writer = self._writer(score.member_id)
        for name, value in score.metrics.items():
            writer.add_scalar(name, value, score.step, walltime=score.time)

    def on_event(self, pop: Population, event: Event) -> None:
        self._schedules.change(event)

    def on_end(self, pop: Population, end: RunEnd) -> None:
        from tensorboardX.summary import hparams

        try:
            self._schedules.flush()
            metric = pop.settings.metric
            for member in pop.members:
                if member.score is None or member.member_id not in self._writers:
                    continue
                file_writer = self._writers[member.member_id].file_writer
                for summary in hparams(flat(member.hparams), {metric: member.score}):
                    file_writer.add_summary(summary)
        finally:
            for writer in self._writers.values():
                writer.close()
            self._writers.clear()
