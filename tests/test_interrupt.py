"""Ctrl-C (and SIGTERM) in `Population.train`: the members are given back, not left `running`,
one line on stderr says how to resume, `KeyboardInterrupt` reaches the caller, and training
again finishes the run. Real signals to real processes, in-process and with worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import popbt
from checks import check_consistent
from popbt._signals import told
from popbt.records import MemberState
from trainables import Quadratic

TESTS = Path(__file__).parent
SCRIPT = textwrap.dedent("""
    import json, sys
    import popbt
    from trainables import SPACE, SlowQuadratic

    if __name__ == "__main__":
        pop = popbt.create_population(
            name="slow", storage=sys.argv[1], space=SPACE, size=4, metric="score", seed=0,
            ready=popbt.Every(steps=5), load_if_exists=True)
        try:
            pop.train(SlowQuadratic, steps=40, workers=int(sys.argv[2]), progress=False)
        except KeyboardInterrupt:
            print(json.dumps([m.state.value for m in pop.members]))
            sys.exit(130)
        print(json.dumps([m.state.value for m in pop.members]))
""")


def _start(tmp_path: Path, workers: int, *, group: bool) -> subprocess.Popen[str]:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    # a process started in the background by a non-interactive shell inherits SIGINT ignored
    return subprocess.Popen(
        [sys.executable, str(script), f"sqlite:///{tmp_path / 'popbt.db'}", str(workers)],
        cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=group, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(db: Path, *, report: bool, timeout: float = 60) -> None:
    """Until the population exists (and, with `report`, a member has reported)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pop = popbt.load_population(name="slow", storage=f"sqlite:///{db}")
        except (popbt.ConfigError, popbt.StorageError):  # not created yet
            pop = None
        if pop is not None:
            reported = any(m.checkpoint_id is not None for m in pop.members)
            pop.storage.close()
            if reported or not report:
                return
        time.sleep(0.05)
    raise AssertionError("the run reported nothing")


@pytest.mark.parametrize(("workers", "group", "report"), [
    (1, False, True), (2, False, True), (2, True, True), (2, True, False)],
    ids=["in-process", "processes", "processes-whole-group", "processes-starting"])
def test_ctrl_c_gives_members_back_and_training_again_resumes(tmp_path: Path, workers: int,
                                                              group: bool, report: bool):
    """`group`: SIGINT to the whole process group, as a terminal's Ctrl-C sends it (the
    worker processes get it too); else to the training process alone. Sent once a member has
    reported, or (not `report`) while the worker processes are starting."""
    proc = _start(tmp_path, workers, group=group)
    try:
        _wait_for(tmp_path / "popbt.db", report=report)
        if not report:
            time.sleep(0.2)  # the worker processes are importing what they need
        if group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    states = json.loads(out)
    assert "running" not in states and "idle" in states, states
    line = (f"popbt: interrupted; train again to resume ({states.count('done')} of 4 members "
            f"done, {states.count('idle')} idle)\n")
    assert err == line  # nothing else: no traceback of the run or of a worker process
    again = _start(tmp_path, workers, group=False)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert json.loads(out) == ["done"] * 4
    check_consistent(popbt.load_population(name="slow", storage=f"sqlite:///{tmp_path}/popbt.db"),
                     40)


def test_sigterm_is_told_as_terminated(tmp_path: Path):
    proc = _start(tmp_path, 2, group=False)
    try:
        _wait_for(tmp_path / "popbt.db", report=True)
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "running" not in json.loads(out)
    assert err.startswith("popbt: terminated (SIGTERM); train again to resume (")
    assert err.count("\n") == 1


def test_an_interrupt_just_after_a_claim_gives_the_member_back(
        make_pop: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """The claim is committed but the worker never gets to train: the member would stay
    `running`, held by this live process, until its lease ran out."""
    pop = make_pop(size=2)
    claim = pop.storage.claim

    def claim_then_interrupt(*args: Any, **kwargs: Any) -> Any:
        if claim(*args, **kwargs) is not None:
            raise KeyboardInterrupt
        return None

    monkeypatch.setattr(pop.storage, "claim", claim_then_interrupt)
    with pytest.raises(KeyboardInterrupt) as caught:
        pop.train(Quadratic, steps=10, progress=False)
    assert told(caught.value)
    assert [m.state for m in pop.members] == [MemberState.IDLE] * 2
    assert capsys.readouterr().err == ("popbt: interrupted; train again to resume (0 of 2 "
                                       "members done, 2 idle)\n")
    monkeypatch.setattr(pop.storage, "claim", claim)
    pop.train(Quadratic, steps=10, progress=False)
    check_consistent(pop, 10)
