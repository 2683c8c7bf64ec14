"""Whole runs on a real PostgreSQL server: worker processes, `popbt worker` commands that join
and leave, a worker killed with SIGKILL, and the server restarted under running workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import popbt
from checks import check_consistent, check_no_member_trained_twice_at_once, holder_pids
from pgserver import PASSWORD, PostgresServer
from popbt.records import EventKind
from trainables import SPACE, IntervalLog, Quadratic

pytestmark = pytest.mark.postgres
TESTS = Path(__file__).parent.parent


@pytest.fixture
def make_pg_pop(pg_url: str, tmp_path: Path) -> Callable[..., popbt.Population]:
    def make(**overrides: Any) -> popbt.Population:
        kwargs: dict[str, Any] = {
            "name": "pg", "storage": pg_url, "space": SPACE, "size": 6, "metric": "score",
            "ready": popbt.Every(steps=5), "exploit": popbt.Truncation(0.25),
            "checkpoints": tmp_path / "ckpt"}
        kwargs.update(overrides)
        return popbt.create_population(**kwargs)

    return make


def _train_in_thread(pop: popbt.Population, trainable: type, steps: int,
                     **kwargs: Any) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def train() -> None:
        try:
            pop.train(trainable, steps=steps, progress=False, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)

    thread = threading.Thread(target=train)
    thread.start()
    return thread, errors


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_two_worker_processes_finish_a_population_on_postgres(make_pg_pop):
    pop = make_pg_pop()
    pop.train(Quadratic, steps=30, workers=2, progress=False)
    check_consistent(pop, 30)
    assert pop.events(kinds=[EventKind.EXPLOIT])


def test_sigkilled_worker_process_on_postgres(make_pg_pop, monkeypatch, tmp_path):
    monkeypatch.setenv("POPBT_TEST_INTERVALS", str(tmp_path / "intervals"))
    pop = make_pg_pop(size=4, ready=popbt.Every(steps=10))
    thread, errors = _train_in_thread(pop, IntervalLog, 60, workers=2, lease_s=3.0)
    _wait_until(lambda: holder_pids(pop) and min(m.step for m in pop.members) >= 10, 60,
                "a worker holding a member after the first interval")
    time.sleep(0.05)  # into the interval
    os.kill(next(iter(holder_pids(pop).values())), signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive(), "training did not finish after a worker was killed"
    assert not errors, errors
    check_consistent(pop, 60)
    check_no_member_trained_twice_at_once(tmp_path / "intervals")


def test_popbt_workers_join_and_leave_at_any_time(make_pg_pop, pg_url, tmp_path):
    """`popbt worker` commands started one after another, one stopped with SIGTERM halfway:
    the population finishes, and no member was ever trained by two workers at once."""
    pop = make_pg_pop(size=6, ready=popbt.Every(steps=10))
    # 1,200 steps of 20 ms: the first worker is still at work when the third has joined
    pop.storage.set_target(pop.row, 200)
    env = {**os.environ, "POPBT_STORAGE": pg_url,
           "POPBT_TEST_INTERVALS": str(tmp_path / "intervals")}
    cmd = [sys.executable, "-m", "popbt", "worker", str(TESTS / "trainables.py"), "--name",
           "pg", "--trainable", "IntervalLog", "--lease", "5"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
    try:
        _wait_until(lambda: sum(m.step for m in pop.members) >= 60, 60, "the first worker")
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE))
        _wait_until(lambda: sum(m.step for m in pop.members) >= 180, 60, "the second worker")
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE))
        _wait_until(lambda: procs[2].pid in holder_pids(pop).values(), 60, "the third worker")
        procs[0].send_signal(signal.SIGTERM)  # the first one leaves
        assert procs[0].wait(30) != 0
        outputs = [p.communicate(timeout=180) for p in procs[1:]]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs[1:], outputs, strict=True):
        assert p.returncode == 0, err.decode()
        assert b"worker done" in out
        assert PASSWORD.encode() not in out + err
    check_consistent(pop, 200)
    assert check_no_member_trained_twice_at_once(tmp_path / "intervals") == 3


def test_workers_survive_a_database_restart(make_pg_pop, postgres_server: PostgresServer,
                                            capfd, tmp_path, monkeypatch):
    """PostgreSQL stopped for 3 s and started again while two worker processes train: they
    retry with backoff and carry on; every member finishes and nothing is counted twice."""
    monkeypatch.setenv("POPBT_TEST_INTERVALS", str(tmp_path / "intervals"))
    pop = make_pg_pop(size=4, ready=popbt.Every(steps=5))
    thread, errors = _train_in_thread(pop, IntervalLog, 100, workers=2, lease_s=30.0)
    _wait_until(lambda: min(m.step for m in pop.members) >= 20, 60, "training under way")
    postgres_server.stop()
    try:
        time.sleep(3)
    finally:
        postgres_server.start()
    thread.join(180)
    assert not thread.is_alive(), "training did not finish after the restart"
    assert not errors, errors
    check_consistent(pop, 100)
    check_no_member_trained_twice_at_once(tmp_path / "intervals")
    readies = [(e.member_id, e.step) for e in pop.events(kinds=[EventKind.READY])]
    scores = [(s.member_id, s.step) for s in pop.scores()]
    assert len(readies) == len(scores), "a report was recorded twice or in part"
    err = capfd.readouterr().err
    assert "retrying" in err, "the workers never noticed the database was gone"
    assert PASSWORD not in err
