"""Faults and races: runaway failure loops, killed workers' members, equal-step records,
concurrent runs on one population, SIGTERM. Real files, real processes, real kill -9."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import popbt
from checks import check_consistent, holder_pids, small_tmpfs
from fault_trainables import BadLoad, MixedState, Uneven
from popbt.records import EventKind, MemberState
from popbt.storage.sql import RESEEDS
from trainables import Quadratic

TESTS = Path(__file__).parent
FAULTS = str(TESTS / "fault_trainables.py")
TRAINABLES = str(TESTS / "trainables.py")


def cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "popbt", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("popbt:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


# -- 1. runaway failure loops ---------------------------------------------------------------

def test_a_member_that_can_never_be_restored_ends_the_run_bounded(make_pop):
    """load_state_dict always raises: re-seeds no longer reset the failure count, so the run
    stops after a bounded number of failures, naming the error, and keeps what was trained."""
    pop = make_pop(size=4, ready=popbt.Every(steps=5), exploit=popbt.Truncation(0.5))
    started = time.monotonic()
    with pytest.raises(popbt.TrainingError, match=r"failed 9 times in a row.*cannot restore"):
        pop.train(BadLoad, steps=40)
    assert time.monotonic() - started < 60
    limit = (RESEEDS + 1) * pop.settings.max_failures
    failures = pop.events(kinds=[EventKind.FAILURE])
    assert 0 < len(failures) <= limit * pop.settings.size
    assert max(Counter(e.member_id for e in failures).values()) == limit
    assert "cannot restore" in pop.row.error
    before = {m.member_id: m.step for m in pop.members}
    assert max(before.values()) > 0  # something was trained, and it is kept:
    pop.train(Quadratic, steps=40)  # the fixed trainable resumes the same population
    check_consistent(pop, 40)


def test_a_state_mixing_tensors_and_numpy_trains_and_restores(make_pop):
    pop = make_pop(size=4, ready=popbt.Every(steps=5), exploit=popbt.Truncation(0.5))
    pop.train(MixedState, steps=30, workers=2, progress=False)
    assert pop.events(kinds=[EventKind.FAILURE]) == []
    assert pop.events(kinds=[EventKind.EXPLOIT])  # exploits restored mixed checkpoints
    check_consistent(pop, 30)
    restored = pop.load(0, trainable=MixedState)
    assert float(restored.w[0]) == 30.0


def _quad(*extra: str) -> list[str]:
    return ["run", TRAINABLES, "--trainable", "Quadratic", "--metric", "score", "--population",
            "4", "--ready-every", "5", "--name", "quad", "--quiet", *extra]


def test_a_deleted_checkpoint_folder_is_refused_before_training(tmp_path: Path):
    assert cli(*_quad("--steps", "20"), cwd=tmp_path).returncode == 0
    shutil.rmtree(tmp_path / "popbt_checkpoints")
    done = cli(*_quad("--steps", "40"), cwd=tmp_path)
    assert done.returncode == 2
    line = one_error_line(done)
    assert "checkpoint folder" in line and "is missing" in line
    status = json.loads(cli("status", "--json", cwd=tmp_path).stdout)
    assert status["steps"] == [20] * 4 and status["failures"] == 0  # nothing was changed


def test_deleted_checkpoint_files_stop_the_run_after_bounded_failures(tmp_path: Path):
    assert cli(*_quad("--steps", "20"), cwd=tmp_path).returncode == 0
    for f in (tmp_path / "popbt_checkpoints").rglob("*.npz"):
        f.unlink()
    started = time.monotonic()
    args = [a for a in _quad("--steps", "40", "--workers", "2") if a != "--quiet"]
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 1 and time.monotonic() - started < 60
    line = one_error_line(done)
    assert "failed 9 times in a row" in line and "is missing" in line
    progress = [x for x in done.stderr.splitlines() if x.startswith("[quad]")]
    assert len(progress) + 1 == len(done.stderr.splitlines()), done.stderr  # nothing else
    assert "| failures " in progress[-1]  # the progress line shows them
    status = json.loads(cli("status", "--json", cwd=tmp_path).stdout)
    assert 9 <= status["failures"] <= 9 * 4


# -- 2. a dead local worker's member is reclaimed at once --------------------------------------

def _intervals(log: Path) -> list[tuple[int, int, float, float]]:
    rows = [line.split() for line in log.read_text().splitlines()]
    return [(int(seed), int(pid), float(start), float(end)) for seed, pid, start, end in rows]


def test_a_killed_workers_member_is_reclaimed_at_once(make_pop, tmp_path: Path, monkeypatch):
    """kill -9 of one of 2 worker processes (a lease of 60 s): its member trains again within
    a couple of intervals, not after every other member has finished."""
    log = tmp_path / "intervals.log"
    monkeypatch.setenv("POPBT_TEST_INTERVALS", str(log))
    from fault_trainables import SlowIntervalLog

    pop = make_pop(size=4, ready=popbt.Every(steps=10), exploit=popbt.NoExploit(explore=True))
    errors: list[BaseException] = []

    def train() -> None:
        try:
            pop.train(SlowIntervalLog, steps=60, workers=2, lease_s=60.0, progress=False)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)

    thread = threading.Thread(target=train)
    thread.start()
    victim = killed_at = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        holders = holder_pids(pop)
        if holders and min(m.step for m in pop.members) >= 10:
            time.sleep(0.3)  # into the interval
            victim, pid = next(iter(holder_pids(pop).items()))
            killed_at = time.time()
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    assert victim is not None, "no worker was seen holding a member"
    thread.join(180)
    assert not thread.is_alive() and not errors, errors
    check_consistent(pop, 60)
    seed = pop.settings.member_seed(victim)
    rows = _intervals(log)
    restart = min(start for s, _, start, _ in rows if s == seed and start > killed_at)
    others = [r for r in rows if r[0] != seed and killed_at < r[2] < restart]
    assert len(others) <= 5, f"{len(others)} intervals of other members ran first"


def test_a_member_held_by_a_killed_inprocess_run_is_reclaimed_by_the_rerun(tmp_path: Path):
    args = ["run", TRAINABLES, "--trainable", "SlowQuadratic", "--metric", "score",
            "--population", "4", "--ready-every", "10", "--name", "slow", "--quiet",
            "--steps", "100"]
    proc = subprocess.Popen([sys.executable, "-m", "popbt", *args], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pop = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (tmp_path / "popbt.db").exists():
            with contextlib.suppress(popbt.PopbtError):
                pop = pop or popbt.load_population(name="slow",
                                                   storage=f"sqlite:///{tmp_path}/popbt.db")
        if pop is not None and holder_pids(pop) and min(m.step for m in pop.members) >= 20:
            break
        time.sleep(0.05)
    assert pop is not None and holder_pids(pop)
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    before = max(e.event_id for e in pop.events())
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # one worker takes the least advanced member first, the one the killed run held among
    # them: the rerun's ready points come in step order, none starved behind the others
    rerun = [e.step for e in pop.events(kinds=[EventKind.READY]) if e.event_id > before]
    assert rerun == sorted(rerun)
    readies = Counter((e.member_id, e.step) for e in pop.events(kinds=[EventKind.READY]))
    assert set(readies.values()) == {1}


# -- 3. what "compared at equal steps" means across workers ------------------------------------

def _check_steps_never_repeat(pop: popbt.Population) -> None:
    """Each member's record moves forward: no READY step is repeated, and every exploit
    copies a donor at or beyond the member's own step."""
    events = pop.events()
    for mid in range(pop.settings.size):
        mine = [e for e in events if e.member_id == mid]
        step = 0
        for e in mine:
            if e.kind is EventKind.READY:
                assert e.step > step, f"member {mid} repeated step {e.step}"
                step = e.step
            elif e.kind is EventKind.EXPLOIT:
                assert e.data["donor_step"] >= step, f"member {mid} went back to {e.step}"
                step = e.data["donor_step"]


def test_uneven_workers_never_copy_a_donor_behind(make_pop):
    pop = make_pop(size=4, ready=popbt.Every(steps=10), exploit=popbt.Truncation(0.5))
    pop.train(Uneven, steps=300, workers=2, progress=False)
    check_consistent(pop, 300)
    assert pop.events(kinds=[EventKind.EXPLOIT])
    _check_steps_never_repeat(pop)
    for m in range(4):
        schedule = pop.schedule(m)
        assert [s for s, _ in schedule] == sorted({s for s, _ in schedule})


# -- 4. races between runs ---------------------------------------------------------------------

def at_once(n: int, call: Callable[[], object]) -> list[object]:
    """`call` in `n` threads released together; what each returned or raised."""
    barrier = threading.Barrier(n)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(call())
        except BaseException as exc:  # noqa: BLE001 - collected for the caller's assertion
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_simultaneous_create_with_load_if_exists_resolves_to_one(backend, tmp_path, request):
    from trainables import SPACE

    pg_url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    for attempt in range(10):  # on PostgreSQL the first attempt also creates the tables
        url = pg_url or f"sqlite:///{tmp_path / f'r{attempt}.db'}"
        results = at_once(3, lambda url=url, name=f"race{attempt}": popbt.create_population(
            name=name, storage=url, space=SPACE, size=4, metric="score",
            ready=popbt.Every(steps=5), load_if_exists=True, checkpoints=tmp_path / "ckpt"))
        assert len(results) == 3
        assert all(isinstance(r, popbt.Population) for r in results), results
        rows = {r.row.id for r in results}  # type: ignore[union-attr]
        assert len(rows) == 1
        assert [m.hparams for m in results[0].members] == [  # type: ignore[union-attr]
            m.hparams for m in results[1].members]  # type: ignore[union-attr]


def test_processes_opening_a_new_sqlite_file_at_once_all_succeed(tmp_path: Path):
    """Switching a new file to WAL can be refused at once as "locked" (the busy timeout does
    not cover it): opening is retried, so no opener fails (3 in 40 rounds did before)."""
    from popbt.storage.sql import SQLStorage

    errors: list[object] = []
    for attempt in range(40):
        url = f"sqlite:///{tmp_path / f'o{attempt}.db'}"
        opened = at_once(4, lambda url=url: SQLStorage(url))
        errors += [r for r in opened if isinstance(r, BaseException)]
        for store in opened:
            if isinstance(store, SQLStorage):
                store.close()
    assert errors == []


def test_a_second_run_cannot_lower_a_running_runs_target(tmp_path: Path):
    args = ["run", TRAINABLES, "--trainable", "SlowQuadratic", "--metric", "score",
            "--population", "4", "--ready-every", "10", "--name", "slow", "--quiet"]
    first = subprocess.Popen([sys.executable, "-m", "popbt", *args, "--steps", "100"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        pop = None
        while time.monotonic() < deadline:
            try:
                pop = popbt.load_population(name="slow", storage=f"sqlite:///{tmp_path}/popbt.db")
                if holder_pids(pop):
                    break
            except popbt.PopbtError:
                pass
            time.sleep(0.05)
        assert pop is not None and holder_pids(pop)
        second = cli(*args, "--steps", "50", cwd=tmp_path)
        assert second.returncode == 2
        line = one_error_line(second)
        assert "being trained to 100 steps by another run" in line
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert "at step 100" in out
    assert [m.step for m in pop.members] == [100] * 4


def test_lowering_the_target_with_no_run_going_is_said(make_pop):
    pop = make_pop(size=2)
    pop.train(Quadratic, steps=20)
    with pytest.warns(RuntimeWarning, match="goes down from 20 to 10"):
        pop.train(Quadratic, steps=10)
    assert [m.step for m in pop.members] == [20, 20]


# -- SIGTERM -----------------------------------------------------------------------------------

def test_sigterm_to_popbt_run_stops_its_workers_and_gives_members_back(tmp_path: Path):
    args = ["run", TRAINABLES, "--trainable", "SlowQuadratic", "--metric", "score",
            "--population", "4", "--ready-every", "10", "--name", "slow", "--quiet",
            "--workers", "2", "--steps", "400"]
    proc = subprocess.Popen([sys.executable, "-m", "popbt", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pop = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            pop = popbt.load_population(name="slow", storage=f"sqlite:///{tmp_path}/popbt.db")
            if len(holder_pids(pop)) == 2:
                break
        except popbt.PopbtError:
            pass
        time.sleep(0.05)
    assert pop is not None
    workers = set(holder_pids(pop).values())
    assert len(workers) == 2 and proc.pid not in workers
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert "Traceback" not in err and "terminated" in err
    for pid in workers:  # the worker processes are gone, not training on
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
            f"/proc/{pid}/status").read_text().lower()
    assert holder_pids(pop) == {}  # their members were given back
    assert all(m.state is MemberState.IDLE for m in pop.members)
    steps = [m.step for m in pop.members]
    time.sleep(1.0)
    assert [m.step for m in pop.members] == steps  # nothing trains any more


# -- a full checkpoint disk --------------------------------------------------------------------

def test_a_full_checkpoint_disk_stops_the_run_at_once(make_pop, tmp_path: Path, monkeypatch):
    """A checkpoint folder on a 256 kB tmpfs fills up: the run stops with one error naming
    it, without failure loops; what was reported stays."""
    with small_tmpfs(tmp_path / "small", "256k") as small:
        from fault_trainables import Chaos  # 1 MB of ballast per checkpoint

        monkeypatch.setenv("POPBT_TEST_INTERVALS", str(tmp_path / "intervals.log"))
        pop = make_pop(size=2, checkpoints=small)
        started = time.monotonic()
        with pytest.raises(popbt.TrainingError, match="No space left on device"):
            pop.train(Chaos, steps=10)
        assert time.monotonic() - started < 30
        assert pop.events(kinds=[EventKind.FAILURE]) == []
        assert not [p for p in small.rglob("*") if p.is_file()]  # no partial file either
