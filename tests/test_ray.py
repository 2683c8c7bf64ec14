"""Workers as Ray tasks on a real local Ray cluster: a run to completion, Ray tasks and a
`popbt worker` command on one population, a Ray worker killed with SIGKILL, bad resources."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import ray

import popbt
from checks import check_consistent, check_no_member_trained_twice_at_once, holder_pids
from popbt.records import EventKind
from run_trainables import SPACE as STOP_SPACE
from run_trainables import SlowSaturating
from trainables import IntervalLog, Quadratic

pytestmark = pytest.mark.ray
TESTS = Path(__file__).parent
ROOT = TESTS.parent


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local two-CPU Ray cluster for this module, whose workers import the tests' modules;
    the `IntervalLog` file its workers write to."""
    log = tmp_path_factory.mktemp("ray") / "intervals"
    ray.init(num_cpus=2, logging_level="WARNING", runtime_env={"env_vars": {
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT / "src")]),
        "POPBT_TEST_INTERVALS": str(log)}})
    yield log
    ray.shutdown()


@pytest.fixture
def interval_log(ray_cluster: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cluster's `IntervalLog` file, emptied; this process and its children log there."""
    ray_cluster.unlink(missing_ok=True)
    monkeypatch.setenv("POPBT_TEST_INTERVALS", str(ray_cluster))
    return ray_cluster


def test_ray_tasks_train_a_population_to_the_end(ray_cluster, make_pop):
    pop = make_pop(size=6)
    best = pop.train(Quadratic, steps=30, workers=2, executor="ray", progress=False)
    check_consistent(pop, 30)
    assert pop.events(kinds=[EventKind.EXPLOIT])
    assert best is not None and best.step == 30


def test_ray_tasks_run_pb2_with_a_margin_in_synchronous_generations(ray_cluster, make_pop):
    pop = make_pop(size=4, sync=True, explore=popbt.PB2(),
                   exploit=popbt.Truncation(fraction=0.25, margin=0.01))
    pop.train(Quadratic, steps=30, workers=2, executor="ray", progress=False)
    check_consistent(pop, 30)
    events = pop.events()
    labels = {op for e in events if e.kind is EventKind.EXPLORE for op in e.data["ops"].values()}
    assert labels & {"pb2", "pb2 random"}
    for step in range(5, 30, 5):  # every decision of a step after every member's ready point
        ready = [i for i, e in enumerate(events) if e.kind is EventKind.READY and e.step == step]
        decided = [i for i, e in enumerate(events) if e.step == step
                   and e.kind in (EventKind.EXPLOIT, EventKind.EXPLORE)]
        assert len(ready) >= 4 and (not decided or max(ready) < min(decided)), step


def test_a_stop_rule_and_callbacks_serve_ray_tasks(ray_cluster, make_pop):
    class Reports(popbt.Callback):
        def __init__(self) -> None:
            self.scores: list[popbt.Score] = []

        def on_report(self, pop: popbt.Population, score: popbt.Score) -> None:
            self.scores.append(score)

    pop = make_pop(space=STOP_SPACE, size=4)
    reports = Reports()
    pop.train(SlowSaturating, steps=200, workers=2, executor="ray", progress=False,
              stop=popbt.TargetScore(0.5), callbacks=[reports])
    assert pop.row.stopped is not None and pop.row.stopped.startswith("target: score ")
    assert pop.storage.holders(pop.row) == []
    assert max(m.step for m in pop.members) < 200
    assert reports.scores == pop.scores()


def test_ray_tasks_and_a_popbt_worker_serve_one_population(interval_log, make_pop, db_url):
    log = interval_log
    pop = make_pop(size=4, ready=popbt.Every(steps=10))
    pop.storage.set_target(pop.row, 60)
    worker = subprocess.Popen(
        [sys.executable, "-m", "popbt", "worker", str(TESTS / "trainables.py"), "--storage",
         db_url, "--name", "test", "--trainable", "IntervalLog"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        pop.train(IntervalLog, steps=60, workers=1, executor="ray", progress=False)
        out, err = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, err.decode()
    check_consistent(pop, 60)
    pids = {line.split()[1] for line in log.read_text().splitlines()}
    assert str(worker.pid) in pids and len(pids) >= 2, "one side never trained"
    check_no_member_trained_twice_at_once(log)


def test_a_sigkilled_ray_worker_is_replaced_and_nothing_is_lost(interval_log, make_pop):
    log = interval_log
    pop = make_pop(size=4, ready=popbt.Every(steps=10))
    errors: list[BaseException] = []

    def train() -> None:
        try:
            pop.train(IntervalLog, steps=60, workers=2, executor="ray", lease_s=3.0,
                      progress=False)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)

    thread = threading.Thread(target=train)
    thread.start()
    deadline = time.monotonic() + 60
    while not (holder_pids(pop) and min(m.step for m in pop.members) >= 10):
        assert time.monotonic() < deadline, "no Ray worker was seen holding a member"
        time.sleep(0.02)
    time.sleep(0.05)  # into the interval
    victim = next(iter(holder_pids(pop).values()))
    assert victim != os.getpid()
    os.kill(victim, signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive(), "training did not finish after a Ray worker was killed"
    assert not errors, errors
    check_consistent(pop, 60)
    assert str(victim) in {line.split()[1] for line in log.read_text().splitlines()}
    check_no_member_trained_twice_at_once(log)


@pytest.mark.parametrize(("resources", "message"), [
    ({"CPU": -1}, "CPU"),
    ({"GPU": "half"}, "GPU"),
    ([("CPU", 1)], "dict"),
    ({"GPU": 1}, "cluster has"),
    ({"tpu_pod": 1}, "cluster has"),
])
def test_bad_or_missing_resources_are_refused(ray_cluster, make_pop, resources: Any,
                                              message: str):
    pop = make_pop(size=2)
    with pytest.raises(popbt.ConfigError, match=message):
        pop.train(Quadratic, steps=10, workers=2, executor="ray",
                  resources_per_worker=resources, progress=False)
    assert all(m.step == 0 for m in pop.members)


def test_ray_options_only_with_the_ray_executor(make_pop):
    pop = make_pop(size=2)
    with pytest.raises(popbt.ConfigError, match="executor='ray'"):
        pop.train(Quadratic, steps=10, workers=2, ray_address="auto")
    with pytest.raises(popbt.ConfigError, match="executor="):
        pop.train(Quadratic, steps=10, workers=2, executor="threads")


def test_cli_runs_on_the_ray_cluster_it_is_given(ray_cluster, tmp_path):
    """`popbt run --executor ray --ray-address auto` joins the running cluster; a trainable
    defined in the file given to the CLI travels to the Ray workers with the file, cached
    helpers of the file included (which pickling by value cannot carry)."""
    script = tmp_path / "mine.py"
    script.write_text(
        "import functools\n"
        "import popbt\n"
        "@functools.cache\n"
        "def start():\n    return 5.0\n"
        "space = popbt.Space({'lr': popbt.Uniform(0.01, 0.5)})\n"
        "metric = 'score'\n"
        "ready = popbt.Every(steps=5)\n"
        "class Mine(popbt.Trainable):\n"
        "    def setup(self, hparams, seed):\n        self.x = start()\n"
        "    def train(self, hparams, steps):\n"
        "        for _ in range(steps):\n            self.x -= 2 * hparams['lr'] * self.x\n"
        "    def evaluate(self):\n        return {'score': -self.x ** 2}\n"
        "    def state_dict(self):\n        return {'x': self.x}\n"
        "    def load_state_dict(self, state):\n        self.x = float(state['x'])\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "popbt", "run", str(script), "--storage",
         f"sqlite:///{tmp_path / 'mine.db'}", "--steps", "20", "--population", "4",
         "--workers", "2", "--executor", "ray", "--ray-address", "auto", "--resources",
         "CPU=1", "--json"], capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env=env)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["steps"] == [20] * 4 and status["states"] == {"done": 4}
