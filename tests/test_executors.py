"""Executors as objects: the shorthands resolve to them, they check their arguments eagerly,
they are given a plain `Work`, and processes and Ray share one restart loop."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import popbt
from checks import check_consistent
from popbt._execution import SHORTHANDS, Work, executor_for
from popbt.errors import TrainingError
from popbt.executors import EXECUTORS, FATAL_EXIT, Executor, InProcess, Processes, Ray, Running
from popbt.executors._restart import Ended, keep_running
from trainables import Quadratic

ROOT = Path(__file__).resolve().parent.parent


def test_the_executor_classes_are_popbts():
    assert (popbt.InProcess, popbt.Processes, popbt.Ray) == (InProcess, Processes, Ray)
    assert EXECUTORS == ("inprocess", "processes", "ray") == tuple(SHORTHANDS)


@pytest.mark.parametrize(("executor", "workers", "options", "expected"), [
    (None, None, {}, InProcess()),
    (None, 1, {}, InProcess()),
    ("inprocess", None, {}, InProcess()),
    (None, 3, {}, Processes(workers=3)),
    ("processes", None, {}, Processes(workers=1)),
    ("ray", 2, {"ray_address": "auto", "resources_per_worker": {"GPU": 0.5}},
     Ray(workers=2, address="auto", resources={"GPU": 0.5})),
])
def test_shorthands_stand_for_executor_objects(executor: str | None, workers: int | None,
                                               options: dict[str, Any], expected: Executor):
    assert executor_for(executor, workers=workers, **options) == expected


def test_an_executor_object_is_used_as_it_is():
    processes = Processes(workers=2, max_restarts=5)
    assert executor_for(processes, workers=None) is processes
    assert executor_for(processes, workers=2) is processes


@pytest.mark.parametrize(("executor", "workers", "options", "message"), [
    (Processes(workers=2), 3, {}, r"workers=3 but executor=Processes\(workers=2"),
    (Ray(workers=2), None, {"ray_address": "auto"}, "give them to the executor"),
    (InProcess(), None, {"resources_per_worker": {"CPU": 1}}, "give them to the executor"),
    (3, None, {}, "executor=3: expected one of inprocess, processes, ray, or an executor"),
    ("threads", None, {}, "executor='threads'"),
    ("inprocess", 2, {}, "runs one worker, not workers=2"),
    ("processes", 2, {"ray_address": "auto"}, "apply to executor='ray', not 'processes'"),
    ("ray", 2, {"resources_per_worker": {"CPU": -1}}, r"resources_per_worker\['CPU'\]=-1"),
])
def test_conflicting_or_unknown_executors_are_refused(executor: Any, workers: int | None,
                                                      options: dict[str, Any], message: str):
    with pytest.raises(popbt.ConfigError, match=message):
        executor_for(executor, workers=workers, **options)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Processes(workers=0), "workers=0: must be an integer >= 1"),
    (lambda: Processes(workers=True), "workers=True"),
    (lambda: Processes(workers=2, max_restarts=-1), "max_restarts=-1"),
    (lambda: Ray(workers=1.5), r"workers=1\.5"),
    (lambda: Ray(workers=1, address=""), "address=''"),
    (lambda: Ray(workers=1, resources={"GPU": "half"}), r"resources\['GPU'\]='half'"),
    (lambda: Ray(workers=1, resources=[("CPU", 1)]), r"resources=\[\('CPU', 1\)\]: expected a"),
])
def test_constructors_check_their_arguments_at_once(make: Any, message: str):
    with pytest.raises(popbt.ConfigError, match=message):
        make()


def test_constructors_are_keyword_only():
    with pytest.raises(TypeError):
        Processes(2)  # type: ignore[misc]


def _work(**overrides: Any) -> Work:
    fields: dict[str, Any] = {
        "storage_url": "postgresql://user:secret@db/popbt", "population": "p",
        "trainable": Quadratic, "checkpoint_root": "/ckpt"}
    return Work(**{**fields, **overrides})


def test_work_is_a_plain_picklable_description():
    work = _work()
    assert "secret" not in repr(work)
    by_ref = work.by_reference()
    assert by_ref.trainable == "trainables:Quadratic"
    assert pickle.loads(pickle.dumps(by_ref)) == by_ref
    assert by_ref.trainable_class() is Quadratic
    assert by_ref.by_reference() is by_ref


@pytest.mark.parametrize(("overrides", "message"), [
    ({"population": ""}, "population=''"),
    ({"trainable": int}, "trainable=<class 'int'>"),
    ({"lease_s": -1}, "lease_s=-1"),
    ({"explore": "perturb"}, "explore='perturb'"),
])
def test_work_checks_its_fields(overrides: dict[str, Any], message: str):
    with pytest.raises(popbt.ConfigError, match=re.escape(message)):
        _work(**overrides)


def test_a_trainable_defined_in_a_function_is_refused_by_processes():
    class Local(Quadratic):
        pass

    with pytest.raises(popbt.ConfigError, match="module level"):
        Processes(workers=2).check(_work(trainable=Local))
    InProcess().check(_work(trainable=Local))  # in process, anything goes


def test_memory_checkpoints_are_refused_out_of_process():
    work = _work(checkpoint_root="memory://ckpt")
    for executor in (Processes(workers=2), Ray(workers=2)):
        with pytest.raises(popbt.ConfigError, match="executor='inprocess'"):
            executor.check(work)
    InProcess().check(work)


def test_an_executor_object_trains_as_its_shorthand_does(make_pop, tmp_path: Path):
    by_object = make_pop(size=4)
    by_object.train(Quadratic, steps=20, executor=popbt.InProcess(), progress=False)
    by_name = make_pop(size=4, name="by-name")
    by_name.train(Quadratic, steps=20, progress=False)
    assert [m.hparams for m in by_object.members] == [m.hparams for m in by_name.members]
    assert [m.score for m in by_object.members] == [m.score for m in by_name.members]


def test_processes_object_trains_a_population(make_pop):
    pop = make_pop(size=4)
    pop.train(Quadratic, steps=20, executor=popbt.Processes(workers=2), progress=False)
    check_consistent(pop, 20)


class _Recording(Executor):
    """A custom executor: runs the worker here, and keeps the work it was given."""

    workers = 1

    def __init__(self) -> None:
        self.given: list[Work] = []

    def check(self, work: Work) -> None:
        pass

    def run(self, work: Work, running: Running) -> None:
        self.given.append(work)
        running.work_here(work, name="recording")


def test_a_custom_executor_is_given_the_work(make_pop):
    pop = make_pop(size=2)
    executor = _Recording()
    best = pop.train(Quadratic, steps=10, executor=executor, lease_s=12.0, progress=False)
    [work] = executor.given
    assert (work.population, work.trainable, work.lease_s) == ("test", Quadratic, 12.0)
    assert work.storage_url == pop.storage.shared_url
    assert best is not None and best.step == 10


class _FakePool:
    """Workers that end as scripted: each start takes the next exit status."""

    what = "fake workers"

    def __init__(self, codes: list[int | None]) -> None:
        self.codes = codes
        self.started = 0
        self.stopped: list[int] = []

    def start(self) -> int:
        self.started += 1
        return self.started

    def wait(self, running: Sequence[int], timeout_s: float) -> list[Ended[int]]:
        handle = running[0]
        code = self.codes.pop(0)
        return [Ended(handle, code, None if code is not None else RuntimeError("node lost"))]

    def stop(self, running: Sequence[int]) -> None:
        self.stopped.extend(running)


class _FakeRunning:
    def __init__(self, remain: bool = True) -> None:
        self.remain = remain
        self.shown: list[int] = []

    def members_remain(self) -> bool:
        return self.remain

    def show(self, *, workers: int) -> None:
        self.shown.append(workers)

    def work_here(self, work: Work, *, name: str) -> None:
        raise AssertionError("not in process")


def test_the_restart_loop_replaces_workers_that_die():
    pool = _FakePool([1, None, 0, FATAL_EXIT])
    running = _FakeRunning()
    keep_running(pool, running, workers=2, limit=2)
    assert pool.started == 4  # two, and two replacements
    assert running.shown[0] == 2 and pool.stopped == []


def test_the_restart_loop_gives_up_and_stops_the_rest():
    pool = _FakePool([1, 1, 1])
    with pytest.raises(TrainingError, match=r"fake workers died 3 times \(the last: exit "
                                            r"status 1\)"):
        keep_running(pool, _FakeRunning(), workers=2, limit=2)
    assert pool.stopped == [4]  # the one still running


def test_the_restart_loop_replaces_nobody_when_no_member_remains():
    pool = _FakePool([1, 1])
    keep_running(pool, _FakeRunning(remain=False), workers=2, limit=0)
    assert pool.started == 2


def _readme_script() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"```python\n(# anywhere\.py.*?)```", text, re.S)
    assert match, "the README's executor example is gone"
    return match.group(1)


def test_the_readme_executor_example_runs_as_written(tmp_path: Path):
    script = tmp_path / "anywhere.py"
    script.write_text(_readme_script())
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("100 {'lr': ")
