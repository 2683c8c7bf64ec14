"""`MLflowLogger`: a training run's records as MLflow runs (extra `mlflow`:
`pip install 'popbt[mlflow]'`, which installs `mlflow-skinny`, MLflow's client).

Contract:
- The population is one MLflow run (named after it) in the experiment `experiment`
  (default: the population's name, created if missing), holding the population's settings
  (but the space) as params; each member is a child run of it, `member_003`, tagged
  `mlflow.parentRunId`.
  Training the population again logs to the same runs (they are found by the tag
  `popbt.key`, which names the population and its creation time), so each member's metrics
  continue where they stopped.
- A member's params are its hyperparameters when its run is made (MLflow's params cannot
  change); every metric of every score is logged at the score's step, and each
  hyperparameter with a number value is a metric `hp/NAME` from the step it takes effect
  (the member's step when the run starts, then where an exploit or explore changes it).
- When the run ends, the population's run gets the best member's id and score as metrics,
  and every run is ended: FINISHED (every member done, or stopped by a rule), FAILED or
  KILLED (interrupted); the tag `popbt.end` says why.
- `tracking_uri`: an MLflow tracking URI (`http://...` for a tracking server, `file:...`
  for a folder), or a folder path; None uses MLflow's own default (`MLFLOW_TRACKING_URI`).
  MLflow 3 refuses a folder unless `MLFLOW_ALLOW_FILE_STORE` is true: a logger given a
  folder sets it for this process unless it is already set.
"""

from __future__ import annotations

import hashlib
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

__all__ = ["MLflowLogger"]

PARAM_CHARS = 500  # MLflow refuses longer param values (its limit varies by version)
STATUS = {"finished": "FINISHED", "stopped": "FINISHED", "failed": "FAILED",
          "interrupted": "KILLED"}
FILE_STORE_VAR = "MLFLOW_ALLOW_FILE_STORE"


def tracking_uri_of(where: str | os.PathLike[str] | None) -> str | None:
    """An MLflow tracking URI: a URI as it is, a folder as a `file:` URI."""
    if where is None:
        return None
    text = os.fspath(where)
    return text if "://" in text or text.startswith("file:") else Path(text).resolve().as_uri()


def population_key(pop: Population) -> str:
    """The value of the tag that finds the population's run again (its name and creation
    time, hashed: it is safe in a search filter)."""
    return hashlib.sha256(f"{pop.name}\0{pop.row.created!r}".encode()).hexdigest()[:32]


class MLflowLogger(Callback):
    """Logs a run to MLflow: a run for the population, a child run per member (see the
    module contract).

    Example (a folder; or a tracking server's "http://host:5000")::

        pop.train(MyTrainable, steps=1000, callbacks=[MLflowLogger("mlruns", experiment="mlp")])

    Raises:
        ConfigError: MLflow is not installed.
    """

    def __init__(self, tracking_uri: str | os.PathLike[str] | None = None, *,
                 experiment: str | None = None) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ConfigError("MLflowLogger needs MLflow: pip install 'popbt[mlflow]'") from None
        self.tracking_uri = tracking_uri_of(tracking_uri)
        if self.tracking_uri is not None and self.tracking_uri.startswith("file:"):
            os.environ.setdefault(FILE_STORE_VAR, "true")
        self.experiment = experiment
        self._client = MlflowClient(tracking_uri=self.tracking_uri)
        self._parent: str | None = None
        self._runs: dict[int, str] = {}  # member id → its run's id
        self._experiment_id = ""
        self._schedules = Schedules(self._log_hparams)

    def _batch(self, run_id: str, values: dict[str, float], step: int,
               time_s: float | None = None) -> None:
        from mlflow.entities import Metric

        stamp = int(1000 * (time_s if time_s is not None else time.time()))
        self._client.log_batch(run_id, metrics=[Metric(k, v, stamp, step)
                                                for k, v in values.items()])

    def _run_of(self, pop: Population, member_id: int) -> str:
        """The member's run, made (with its hyperparameters as params) if it has none."""
        run_id = self._runs.get(member_id)
        if run_id is None:
            from mlflow.entities import Param

            assert self._parent is not None
            run = self._client.create_run(
                self._experiment_id, run_name=f"member_{member_id:03d}",
                tags={"mlflow.parentRunId": self._parent, "popbt.member": str(member_id)})
            run_id = self._runs[member_id] = run.info.run_id
            hparams = self._schedules.current.get(member_id) or pop.member(member_id).hparams
            self._client.log_batch(run_id, params=[Param(k, str(v)[:PARAM_CHARS])
                                                   for k, v in flat(hparams).items()])
        return run_id

    def _log_hparams(self, member_id: int, step: int, hparams: dict[str, Any]) -> None:
        values = {f"hp/{k}": v for k, v in numbers(hparams).items()}
        if values:
            self._batch(self._runs[member_id], values, step)

    def on_start(self, pop: Population) -> None:
        from mlflow.entities import Param

        client = self._client
        name = self.experiment or pop.name
        found = client.get_experiment_by_name(name)
        self._experiment_id = (found.experiment_id if found is not None
                               else client.create_experiment(name))
        key = population_key(pop)
        runs = _search(client, self._experiment_id, f"tags.`popbt.key` = '{key}'")
        parent = next((r for r in runs if "popbt.member" not in r.data.tags), None)
        if parent is None:
            parent = client.create_run(self._experiment_id, run_name=pop.name,
                                       tags={"popbt.key": key, "popbt.population": pop.name})
            client.log_batch(parent.info.run_id, params=[
                Param(k, str(v)[:PARAM_CHARS]) for k, v in pop.settings.to_config().items()
                if k != "space"])
        self._parent = parent.info.run_id
        client.update_run(self._parent, status="RUNNING")
        for run in _search(client, self._experiment_id,
                           f"tags.`mlflow.parentRunId` = '{self._parent}'"):
            member = run.data.tags.get("popbt.member")
            if member is not None and member.isdigit():
                self._runs[int(member)] = run.info.run_id
                client.update_run(run.info.run_id, status="RUNNING")
        members = pop.members
        self._schedules.start(members)
        for m in members:
            self._run_of(pop, m.member_id)
        self._schedules.flush()

    def on_report(self, pop: Population, score: Score) -> None:
        run_id = self._run_of(pop, score.member_id)
        self._schedules.flush(score.member_id)
        self._batch(run_id, dict(score.metrics), score.step, score.time)

    def on_event(self, pop: Population, event: Event) -> None:
        self._run_of(pop, event.member_id)
        self._schedules.change(event)

    def on_end(self, pop: Population, end: RunEnd) -> None:
        from mlflow.entities import RunTag

        if self._parent is None:  # on_start did not get as far
            return
        status = STATUS[end.status]
        why = end.status if end.reason is None else f"{end.status}: {end.reason}"
        try:
            self._schedules.flush()
            best = None if pop.settings.objectives else pop.best
            if best is not None and best.score is not None:
                self._batch(self._parent, {"best_member": float(best.member_id),
                                           f"best_{pop.settings.metric}": best.score},
                            max(m.step for m in pop.members))
        finally:
            for run_id in [*self._runs.values(), self._parent]:
                self._client.log_batch(run_id, tags=[RunTag("popbt.end", why[:5000])])
                self._client.set_terminated(run_id, status=status)


def _search(client: Any, experiment_id: str, query: str) -> list[Any]:
    """Every run of the experiment that `query` finds, page after page."""
    found: list[Any] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], filter_string=query, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found
