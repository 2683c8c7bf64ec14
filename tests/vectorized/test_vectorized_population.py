"""VectorizedPopulation end to end: training, records in the shared storage, resume, errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import popbt
from popbt.demos.digits import SPACE, DigitsMLP, load_data
from popbt.vectorized import VectorizedPopulation


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def digits() -> dict[str, Any]:
    data = load_data()
    return {"train": data["train"], "val": data["val"]}


def make(url: str, **overrides: Any) -> VectorizedPopulation:
    kwargs: dict[str, Any] = {
        "model_fn": mlp, "size": 6, "space": SPACE, "optimizer": "sgd", "metric": "accuracy",
        "ready": popbt.Every(steps=50), "exploit": popbt.Truncation(0.25), "name": "vec",
        "storage": url, "seed": 0}
    kwargs.update(overrides)
    return VectorizedPopulation(**kwargs)


def events_of(pop: popbt.Population) -> list[tuple[int, int, str, str]]:
    return [(e.member_id, e.step, e.kind.value, json.dumps(e.data, sort_keys=True))
            for e in pop.events()]


def test_training_improves_exploits_and_records_like_the_worker_loop(db_url: str):
    vp = make(db_url)
    best = vp.train(digits(), steps=300)
    pop = vp.population
    first = [s.score for s in pop.scores() if s.step == 50]
    assert len(first) == 6 and best.score > max(first) and best.score > 0.85
    assert [m.step for m in pop.members] == [300] * 6
    assert {m.state for m in pop.members} == {popbt.MemberState.DONE}
    exploits = pop.events(kinds=[popbt.EventKind.EXPLOIT])
    assert exploits and all(e.data["donor"] != e.member_id for e in exploits)
    assert len(pop.events(kinds=[popbt.EventKind.READY])) == 6 * 6
    # the member's module scores on validation what was recorded for it
    model = vp.member_model(best.member_id)
    x, y = load_data()["val"]
    with torch.no_grad():
        assert float((model(x).argmax(1) == y).float().mean()) == pytest.approx(best.score)
    # the schedule and lineage come from the same events as for the worker loop
    schedule = pop.schedule(best.member_id)
    assert schedule[0][0] == 0 and schedule[-1][1] == best.hparams


def test_the_cli_reads_a_vectorized_population(db_url: str, tmp_path: Path):
    make(db_url).train(digits(), steps=100)
    done = subprocess.run([sys.executable, "-m", "popbt", "status", "--storage", db_url,
                           "--name", "vec", "--json"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["steps"] == [100] * 6 and status["best"]["score"] > 0.5
    assert status["trainer"] == "vectorized" and status["exploits"] > 0


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                          marks=pytest.mark.postgres)])
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path: Path, backend: str,
                                                   request: pytest.FixtureRequest):
    whole = make(f"sqlite:///{tmp_path / 'a.db'}")
    whole.train(digits(), steps=200)
    url = (request.getfixturevalue("pg_url") if backend == "postgres"
           else f"sqlite:///{tmp_path / 'b.db'}")
    ckpt = tmp_path / "b_checkpoints"
    make(url, checkpoints=ckpt).train(digits(), steps=100)
    resumed = make(url, checkpoints=ckpt, load_if_exists=True)
    assert resumed.step == 100
    resumed.train(digits(), steps=200)
    assert torch.equal(whole.flat, resumed.flat)
    assert all(torch.equal(v, resumed.opt_state[k]) for k, v in whole.opt_state.items())
    assert events_of(whole.population) == events_of(resumed.population)


class Crash(RuntimeError):
    pass


def test_rounds_after_the_last_snapshot_are_forgotten_and_retrained(tmp_path: Path):
    whole = make(f"sqlite:///{tmp_path / 'a.db'}", snapshot_every=2)
    whole.train(digits(), steps=250)
    calls = {"n": 0}

    def crash_at_the_fourth_round(outputs: torch.Tensor, targets: torch.Tensor) -> dict:
        calls["n"] += 1
        if calls["n"] == 4:
            raise Crash("killed")
        return {}

    url = f"sqlite:///{tmp_path / 'b.db'}"
    with pytest.raises(Crash):
        make(url, snapshot_every=2, metrics_fn=crash_at_the_fourth_round).train(
            digits(), steps=250)
    crashed = popbt.load_population(name="vec", storage=url)
    assert [m.step for m in crashed.members] == [150] * 6  # round 3 recorded, not snapshotted
    resumed = make(url, snapshot_every=2, load_if_exists=True)
    assert resumed.step == 100
    assert max(s.step for s in resumed.population.scores()) == 100  # round 3 forgotten
    resumed.train(digits(), steps=250)
    assert events_of(whole.population) == events_of(resumed.population)
    assert [s.score for s in whole.population.scores()] == \
        [s.score for s in resumed.population.scores()]
    snapshots = sorted((tmp_path / "b_checkpoints" / "vec" / "population").iterdir())
    assert len(snapshots) <= 3  # keep_checkpoints


@pytest.mark.parametrize("exploit", [popbt.Tournament(), popbt.TTest(window=3, alpha=0.2)])
def test_every_exploit_strategy_runs_vectorized(db_url: str, exploit: popbt.Truncation):
    vp = make(db_url, exploit=exploit, ready=popbt.Every(steps=20), size=8)
    vp.train(digits(), steps=300)
    assert vp.population.events(kinds=[popbt.EventKind.EXPLOIT])


def test_adam_with_a_loss_coefficient_from_the_space(db_url: str):
    space = popbt.Space({"lr": popbt.LogUniform(1e-4, 1e-2),
                         "smoothing": popbt.Uniform(0.0, 0.3)})

    def loss(outputs: torch.Tensor, targets: torch.Tensor, hp: dict) -> torch.Tensor:
        logp = outputs.log_softmax(-1)
        nll = -logp.gather(-1, targets[:, None]).squeeze(-1)
        return (1 - hp["smoothing"]) * nll - hp["smoothing"] * logp.mean(-1)

    vp = make(db_url, space=space, optimizer="adam", loss_fn=loss, batch_size=32)
    best = vp.train(digits(), steps=150)
    assert best.score > 0.8 and set(best.hparams) == {"lr", "smoothing"}


def test_cuda_trains_where_present_and_is_refused_clearly_elsewhere(db_url: str):
    if not torch.cuda.is_available():
        with pytest.raises(popbt.ConfigError, match="CUDA is not available"):
            make(db_url, device="cuda")
        return
    cpu = make(db_url, name="cpu")
    gpu = make(db_url, name="gpu", device="cuda")
    cpu.train(digits(), steps=100)
    gpu.train(digits(), steps=100)
    assert gpu.flat.is_cuda and gpu.params["0.weight"].is_cuda
    torch.testing.assert_close(gpu.flat.cpu(), cpu.flat, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"optimizer": "lamb"}, "optimizer='lamb'"),
    ({"space": popbt.Space({"lr": popbt.LogUniform(1e-3, 0.1),
                            "act": popbt.Choice(["relu", "tanh"])})}, "'act' has choices"),
    ({"space": popbt.Space({"lr": popbt.LogUniform(1e-3, 0.1),
                            "dropout": popbt.Uniform(0.0, 0.5)})}, "'dropout'"),
    ({"model_fn": lambda: nn.Sequential(nn.Linear(64, 8), nn.BatchNorm1d(8))},
     r"buffers \['1.num_batches_tracked', '1.running_mean', '1.running_var'\].*batch_size "
     r"cannot be a hyperparameter"),
    ({"model_fn": lambda: "not a module"}, "not a torch.nn.Module"),
    ({"batch_size": 0}, "batch_size=0"),
    ({"size": 1}, "size=1"),
])
def test_bad_settings_are_refused_with_the_value(db_url: str, overrides: dict, message: str):
    with pytest.raises(popbt.ConfigError, match=message):
        make(db_url, **overrides)


def test_bad_data_and_metrics_are_refused(db_url: str):
    vp = make(db_url)
    with pytest.raises(popbt.ConfigError, match="without 'val'"):
        vp.train({"train": load_data()["train"]}, steps=10)
    with pytest.raises(popbt.ConfigError, match="same length"):
        vp.train({"train": load_data()["train"], "val": (torch.zeros(3, 64),
                                                         torch.zeros(2))}, steps=10)
    with pytest.raises(popbt.ConfigError, match="'f1' is not among"):
        make(db_url, name="other", metric="f1").train(digits(), steps=10)
    mean_loss = make(db_url, name="mean", loss_fn=lambda o, t: nn.functional.cross_entropy(o, t))
    with pytest.raises(popbt.ConfigError, match="one loss per example"):
        mean_loss.train(digits(), steps=10)
    per_example = make(db_url, name="per-example",
                       metrics_fn=lambda o, t: {"hit": (o.argmax(-1) == t).float()})
    with pytest.raises(popbt.ConfigError, match=r"metrics_fn's 'hit' is \(\d+,\) for one "
                                                r"member; return a 0-d tensor"):
        per_example.train(digits(), steps=50)


def test_the_two_trainers_do_not_take_each_others_populations(db_url: str):
    make(db_url).train(digits(), steps=50)
    pop = popbt.load_population(name="vec", storage=db_url)
    with pytest.raises(popbt.ConfigError, match="VectorizedPopulation"):
        pop.train(DigitsMLP, steps=100)
    popbt.create_population(name="workers", storage=db_url, space=SPACE, size=2,
                            metric="accuracy", ready=popbt.Every(steps=50))
    with pytest.raises(popbt.ConfigError, match="Population.train"):
        make(db_url, name="workers", size=2, exploit=popbt.Truncation(0.2),
             load_if_exists=True)


def test_truncation_exploits_exactly_the_bottom_fraction_each_round(db_url: str):
    vp = make(db_url, size=8, exploit=popbt.Truncation(0.25))
    vp.train(digits(), steps=300)
    per_round: dict[int, int] = {}
    for e in vp.population.events(kinds=[popbt.EventKind.EXPLOIT]):
        per_round[e.step] = per_round.get(e.step, 0) + 1
    assert per_round == {50: 2, 100: 2, 150: 2, 200: 2, 250: 2}


KILLED_SCRIPT = '''
import sys
from torch import nn
import popbt
from popbt.demos.digits import SPACE, load_data
from popbt.vectorized import VectorizedPopulation

vp = VectorizedPopulation(
    model_fn=lambda: nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), size=6,
    space=SPACE, optimizer="sgd", metric="accuracy", ready=popbt.Every(steps=20),
    exploit=popbt.Truncation(0.25), name="vec", storage=sys.argv[1], snapshot_every=3,
    load_if_exists=True)
data = load_data()
vp.train({"train": data["train"], "val": data["val"]}, steps=int(sys.argv[2]))
print(vp.step)
'''


def test_a_sigkilled_run_resumes_without_losing_or_repeating_a_round(tmp_path: Path):
    script = tmp_path / "vec.py"
    script.write_text(KILLED_SCRIPT)
    url = f"sqlite:///{tmp_path / 'v.db'}"
    run = [sys.executable, str(script), url]
    child = subprocess.Popen([*run, "100000"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                members = popbt.load_population(name="vec", storage=url).members
            except (popbt.ConfigError, popbt.StorageError):
                continue  # not created yet (a reader creates nothing)
            if members[0].step >= 300 and members[0].step % 60 != 0:
                break  # between two snapshots
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    # on a loaded machine the kill may land later than step 600: train three snapshots on
    reached = max(m.step for m in popbt.load_population(name="vec", storage=url).members)
    target = max(600, (reached // 60 + 3) * 60)
    done = subprocess.run([*run, str(target)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    pop = popbt.load_population(name="vec", storage=url)
    assert [m.step for m in pop.members] == [target] * 6
    ready = [(e.member_id, e.step) for e in pop.events(kinds=[popbt.EventKind.READY])]
    assert sorted(ready) == sorted({(m, s) for m in range(6) for s in range(20, target + 1, 20)})
    scores = [(s.member_id, s.step) for s in pop.scores()]
    assert len(scores) == len(set(scores)) == 6 * (target // 20)
    exploits = pop.events(kinds=[popbt.EventKind.EXPLOIT])
    assert len({(e.member_id, e.step) for e in exploits}) == len(exploits) > 0


class Recorder(popbt.Callback):
    """Keeps what a run delivers."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.reports: list[tuple[int, int]] = []
        self.end: popbt.RunEnd | None = None

    def on_start(self, pop: popbt.Population) -> None:
        self.calls.append("start")

    def on_report(self, pop: popbt.Population, score: popbt.Score) -> None:
        self.reports.append((score.member_id, score.step))

    def on_event(self, pop: popbt.Population, event: popbt.Event) -> None:
        self.calls.append(event.kind.value)

    def on_end(self, pop: popbt.Population, end: popbt.RunEnd) -> None:
        self.end = end


def test_callbacks_see_every_score_and_event_and_the_end(db_url: str):
    vp, seen = make(db_url), Recorder()
    vp.train(digits(), steps=150, callbacks=[seen])
    pop = vp.population
    assert seen.reports == [(s.member_id, s.step) for s in pop.scores()]
    assert seen.calls[0] == "start"
    assert seen.calls[1:] == [e.kind.value for e in pop.events()
                              if e.kind is not popbt.EventKind.CREATED]
    assert seen.end == popbt.RunEnd("finished")


def test_a_stop_rule_ends_the_run_and_training_again_continues(db_url: str):
    vp, seen = make(db_url), Recorder()
    vp.train(digits(), steps=1000, stop=popbt.TargetScore(0.5), callbacks=[seen])
    pop = vp.population
    assert [m.step for m in pop.members] == [50] * 6  # the first round reached 0.5
    assert pop.best.score >= 0.5
    assert {m.state for m in pop.members} == {popbt.MemberState.IDLE}
    assert pop.status()["stopped"].startswith("target: accuracy")
    assert seen.end is not None and seen.end.status == "stopped"
    again = make(db_url, load_if_exists=True)  # a new object resumes from the snapshot
    again.train(digits(), steps=150)
    assert [m.step for m in pop.members] == [150] * 6
    assert pop.status()["stopped"] is None
    assert {m.state for m in pop.members} == {popbt.MemberState.DONE}


def test_a_raising_callback_stops_the_run_and_is_raised(db_url: str):
    class Fails(popbt.Callback):
        def on_report(self, pop: popbt.Population, score: popbt.Score) -> None:
            raise ValueError("disk full")

    vp = make(db_url)
    with pytest.raises(popbt.CallbackError, match="disk full"):
        vp.train(digits(), steps=300, callbacks=[Fails()])
    assert [m.step for m in vp.population.members] == [50] * 6
    with pytest.raises(popbt.ConfigError, match="stop="):
        vp.train(digits(), steps=300, stop="plateau")  # type: ignore[arg-type]
