"""Loggers write what the storage holds: read back with TensorBoard's and MLflow's own
readers, every score and hyperparameter equals the storage's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import popbt
from popbt.loggers import MLflowLogger, TensorBoardLogger
from popbt.loggers.mlflow import FILE_STORE_VAR, tracking_uri_of
from popbt.loggers.tensorboard import member_folder
from popbt.records import EventKind
from run_trainables import SPACE, Saturating, SlowSaturating

TARGET = 30


@pytest.fixture
def pop(make_pop) -> popbt.Population:
    return make_pop(space=SPACE, size=4, ready=popbt.Every(steps=5))


def schedule(pop: popbt.Population, member_id: int, name: str) -> list[tuple[int, Any]]:
    """(step, value) of hyperparameter `name` wherever the member's changed, from step 0:
    the changes of one step (an exploit and its explore) as one, the last value."""
    values: dict[int, float] = {}
    for e in pop.events(member_id=member_id):
        if e.kind is EventKind.CREATED:
            values[e.step] = e.data["hparams"][name]
        elif e.kind in (EventKind.EXPLOIT, EventKind.EXPLORE):
            values[e.step] = e.data["new"][name]
    return sorted((step, v if isinstance(v, dict) else float(v)) for step, v in values.items())


def scores(pop: popbt.Population, member_id: int, name: str) -> list[tuple[int, float]]:
    return [(s.step, s.metrics[name]) for s in pop.scores(member_id=member_id)]


def tensorboard_scalars(folder: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def approx(pairs: list[tuple[int, float]]) -> Any:
    return [(step, pytest.approx(value, rel=1e-6)) for step, value in pairs]  # float32


@pytest.mark.parametrize("workers", [1, 2])
def test_tensorboard_event_files_hold_the_storage_s_scores_and_hparams(pop, tmp_path, workers):
    logdir = tmp_path / "tb"
    trainable = Saturating if workers == 1 else SlowSaturating
    pop.train(trainable, steps=TARGET, workers=workers, progress=False,
              callbacks=[TensorBoardLogger(logdir)])
    assert sorted(p.name for p in logdir.iterdir()) == [member_folder(i) for i in range(4)]
    assert any(pop.events(kinds=[EventKind.EXPLOIT]))
    for m in range(4):
        folder = logdir / member_folder(m)
        for name in ("score", "gap", "loss", "member", "evaluated_at"):
            assert tensorboard_scalars(folder, name) == approx(scores(pop, m, name))
        for name in ("lr", "width"):
            assert tensorboard_scalars(folder, f"hparams/{name}") == approx(
                schedule(pop, m, name))


def test_tensorboard_hparams_plugin_holds_the_final_hparams(pop, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    logdir = tmp_path / "tb"
    pop.train(Saturating, steps=TARGET, progress=False, callbacks=[TensorBoardLogger(logdir)])
    member = pop.members[1]
    events = EventAccumulator(str(logdir / member_folder(1))).Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.hparams["lr"].number_value == pytest.approx(member.hparams["lr"])
    assert start.hparams["width"].number_value == member.hparams["width"]


def test_tensorboard_logging_continues_when_training_resumes(pop, tmp_path):
    logdir = tmp_path / "tb"
    pop.train(Saturating, steps=TARGET, progress=False, stop=popbt.TargetScore(0.5),
              callbacks=[TensorBoardLogger(logdir)])
    pop.train(Saturating, steps=TARGET, progress=False, callbacks=[TensorBoardLogger(logdir)])
    for m in range(4):
        assert tensorboard_scalars(logdir / member_folder(m), "score") == approx(
            scores(pop, m, "score"))


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder for MLflow's file store; the variable that allows it is unset afterwards."""
    monkeypatch.delenv(FILE_STORE_VAR, raising=False)
    return tmp_path / "mlruns"


def mlflow_runs(store: Path, experiment: str) -> tuple[Any, Any, dict[int, Any]]:
    """The client, the population's run and each member's run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri_of(store))
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    runs = client.search_runs([found.experiment_id])
    parents = [r for r in runs if "popbt.member" not in r.data.tags]
    assert len(parents) == 1
    members = {int(r.data.tags["popbt.member"]): r for r in runs if r not in parents}
    assert {r.data.tags["mlflow.parentRunId"] for r in members.values()} == {
        parents[0].info.run_id}
    return client, parents[0], members


def history(client: Any, run: Any, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))


def test_mlflow_runs_hold_the_storage_s_scores_and_hparams(pop, mlflow_store):
    initial = {m.member_id: dict(m.hparams) for m in pop.members}
    pop.train(Saturating, steps=TARGET, progress=False,
              callbacks=[MLflowLogger(mlflow_store, experiment="pbt")])
    client, parent, members = mlflow_runs(mlflow_store, "pbt")
    assert parent.info.run_name == "test" and parent.info.status == "FINISHED"
    assert parent.data.params["metric"] == "score" and parent.data.params["size"] == "4"
    best = pop.best
    assert best is not None
    assert parent.data.metrics == {"best_member": best.member_id, "best_score": best.score}
    assert sorted(members) == [0, 1, 2, 3]
    for m, run in members.items():
        assert run.info.run_name == member_folder(m) and run.info.status == "FINISHED"
        assert run.data.params == {k: str(v) for k, v in initial[m].items()}
        assert run.data.tags["popbt.end"] == "finished"
        for name in ("score", "loss", "trained_from"):
            assert history(client, run, name) == scores(pop, m, name)
        for name in ("lr", "width"):
            assert history(client, run, f"hp/{name}") == schedule(pop, m, name)


def test_mlflow_logging_continues_in_the_same_runs_and_says_why_it_ended(pop, mlflow_store):
    pop.train(Saturating, steps=TARGET, progress=False, stop=popbt.TargetScore(0.5),
              callbacks=[MLflowLogger(mlflow_store)])
    client, parent, members = mlflow_runs(mlflow_store, "test")
    assert parent.data.tags["popbt.end"] == f"stopped: {pop.row.stopped}"
    assert parent.info.status == "FINISHED"
    pop.train(Saturating, steps=TARGET, progress=False, callbacks=[MLflowLogger(mlflow_store)])
    client, again, members = mlflow_runs(mlflow_store, "test")
    assert again.info.run_id == parent.info.run_id
    for m, run in members.items():
        assert history(client, run, "score") == scores(pop, m, "score")
        assert run.data.tags["popbt.end"] == "finished"


def test_loggers_name_the_extra_they_need(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_trackers(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in ("tensorboardX", "mlflow"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_trackers)
    with pytest.raises(popbt.ConfigError, match=r"popbt\[tensorboard\]"):
        TensorBoardLogger("tb")
    with pytest.raises(popbt.ConfigError, match=r"popbt\[mlflow\]"):
        MLflowLogger("mlruns")



def test_a_mixture_is_logged_one_weight_per_component(tmp_path, db_url):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    from trainables import MIX_SPACE, Mixture

    mixed = popbt.create_population(name="mixed", storage=db_url, space=MIX_SPACE, size=4,
                                    metric="score", ready=popbt.Every(steps=5))
    logdir = tmp_path / "tb"
    mixed.train(Mixture, steps=20, progress=False, callbacks=[TensorBoardLogger(logdir)])
    folder = logdir / member_folder(2)
    for component in ("web", "code", "books"):
        expected = schedule(mixed, 2, "mix")  # its own changes: from step 0, in order
        logged = tensorboard_scalars(folder, f"hparams/mix/{component}")
        assert logged == approx([(step, mix[component]) for step, mix in expected])
    events = EventAccumulator(str(folder)).Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.hparams["mix/web"].number_value == pytest.approx(
        mixed.member(2).hparams["mix"]["web"])
