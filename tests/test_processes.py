"""Real worker processes on one SQLite file: parallel runs, and workers killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import popbt
from checks import check_consistent, holder_pids
from popbt.records import EventKind
from trainables import Quadratic, SlowQuadratic

TESTS = Path(__file__).parent


def test_two_worker_processes_finish_a_population(make_pop):
    pop = make_pop(size=6)
    pop.train(Quadratic, steps=30, workers=2, progress=False)
    check_consistent(pop, 30)
    assert pop.events(kinds=[EventKind.EXPLOIT])


def test_sigkilled_worker_process_is_replaced_and_nothing_is_lost(make_pop):
    pop = make_pop(size=4, ready=popbt.Every(steps=10))
    done = threading.Event()
    errors: list[BaseException] = []

    def train() -> None:
        try:
            pop.train(SlowQuadratic, steps=60, workers=2, lease_s=3.0, progress=False)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=train)
    thread.start()
    deadline = time.monotonic() + 60
    killed = None
    while killed is None and time.monotonic() < deadline:
        holders = holder_pids(pop)
        if holders and min(m.step for m in pop.members) >= 10:
            time.sleep(0.05)  # into the interval
            killed = next(iter(holders.values()))
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    assert killed is not None, "no worker process was ever seen holding a member"
    assert done.wait(120), "training did not finish after a worker was killed"
    thread.join()
    assert not errors, errors
    check_consistent(pop, 60)


def test_popbt_worker_processes_join_and_survive_a_kill(make_pop, db_url):
    """Two `popbt worker` commands serve one population; one is SIGKILLed mid-interval; the
    other finishes every member; ready points are exactly those of uninterrupted training."""
    pop = make_pop(size=4, ready=popbt.Every(steps=10), exploit=popbt.NoExploit(explore=True))
    pop.storage.set_target(pop.row, 60)
    cmd = [sys.executable, "-m", "popbt", "worker", str(TESTS / "trainables.py"),
           "--storage", db_url, "--name", "test", "--trainable", "SlowQuadratic",
           "--lease", "3"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        victim = None
        while victim is None and time.monotonic() < deadline:
            holders = set(holder_pids(pop).values())
            for p in procs:
                if p.pid in holders and min(m.step for m in pop.members) >= 10:
                    time.sleep(0.05)
                    p.send_signal(signal.SIGKILL)
                    victim = p
                    break
            time.sleep(0.02)
        assert victim is not None, "no worker was seen holding a member"
        assert victim.wait(10) == -signal.SIGKILL
        survivor = next(p for p in procs if p is not victim)
        out, err = survivor.communicate(timeout=120)
        assert survivor.returncode == 0, err.decode()
        assert b"worker done" in out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    check_consistent(pop, 60)
    readies = Counter((e.member_id, e.step) for e in pop.events(kinds=[EventKind.READY]))
    assert sorted(readies) == [(m, s) for m in range(4) for s in range(10, 61, 10)]
    assert set(readies.values()) == {1}, "an interval was counted twice"


def _gaps(pop: popbt.Population) -> list[int]:
    """For every exploit: the donor's step minus the receiver's step at its ready point."""
    events = pop.events()
    gaps = []
    for e in events:
        if e.kind is EventKind.EXPLOIT:
            ready = [r for r in events if r.kind is EventKind.READY
                     and r.member_id == e.member_id and r.event_id < e.event_id][-1]
            gaps.append(e.data["donor_step"] - ready.step)
    return gaps


def test_members_taking_turns_are_compared_at_equal_steps(make_pop):
    """One worker, nine members: every decision at step s is made before any member trains
    past s, so every exploit copies a donor at the same step."""
    pop = make_pop(size=9, ready=popbt.Every(steps=5))
    pop.train(Quadratic, steps=25)
    gaps = _gaps(pop)
    assert gaps and set(gaps) == {0}


def test_population_larger_than_workers_advances_together(make_pop):
    pop = make_pop(size=9, ready=popbt.Every(steps=5))
    pop.train(Quadratic, steps=25, workers=3, progress=False)
    check_consistent(pop, 25)
    gaps = _gaps(pop)
    # asynchronous workers may let a peer run ahead while a member is still training (it is
    # then compared by its newer score), but never is a donor behind; members that take turns
    # mostly meet at equal steps
    assert gaps and min(gaps) >= 0 and statistics.median(gaps) == 0


def test_inline_explore_cannot_go_to_worker_processes(make_pop):
    pop = make_pop(explore=lambda hparams, space, rng: hparams)
    with pytest.raises(popbt.ConfigError, match="module level"):
        pop.train(Quadratic, steps=5, workers=2, progress=False)


THREADS_SCRIPT = '''
import sys
import torch  # imported by the main script, before any worker code runs
import popbt

class Threads(popbt.Trainable):
    def setup(self, hparams, seed):
        self.n = 0
    def train(self, hparams, steps):
        self.n += steps
    def evaluate(self):
        return {"score": float(self.n), "threads": float(torch.get_num_threads())}
    def state_dict(self):
        return {"n": self.n}
    def load_state_dict(self, state):
        self.n = int(state["n"])

if __name__ == "__main__":
    pop = popbt.create_population(
        name="t", storage=sys.argv[1], space=popbt.Space({"lr": popbt.Uniform(0, 1)}), size=2,
        metric="score", ready=popbt.Every(steps=5))
    pop.train(Threads, steps=10, workers=2)
    print(sorted({s.metrics["threads"] for s in pop.scores()}))
'''


def test_workers_get_one_compute_thread_even_when_the_script_imported_torch(tmp_path: Path):
    script = tmp_path / "threads.py"
    script.write_text(THREADS_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",
                                                            "MKL_NUM_THREADS")}
    done = subprocess.run([sys.executable, str(script), f"sqlite:///{tmp_path / 't.db'}"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1.0]"
