"""The `popbt` command, run as a real subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import popbt

TESTS = Path(__file__).parent
TARGET = str(TESTS / "trainables.py")


def cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "popbt", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout)


def run_args(*extra: str) -> list[str]:
    return ["run", TARGET, "--trainable", "Quadratic", "--metric", "score", "--population",
            "4", "--ready-every", "5", "--name", "quad", *extra]


def test_run_then_status_best_schedule(tmp_path: Path):
    done = cli(*run_args("--steps", "20"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("best: member ")
    assert (tmp_path / "popbt.db").is_file() and (tmp_path / "popbt_checkpoints").is_dir()
    assert "steps 80/80 (100%)" in done.stderr  # the progress display's last line

    status = json.loads(cli("status", "--json", cwd=tmp_path).stdout)
    assert status["name"] == "quad" and status["steps"] == [20] * 4
    assert status["states"] == {"done": 4} and len(status["members"]) == 4
    best = json.loads(cli("best", "--json", cwd=tmp_path).stdout)
    assert best["score"] == max(m["score"] for m in status["members"])
    assert best == {k: status["best"][k] for k in ("member_id", "score", "step", "hparams")} | {
        "metrics": best["metrics"], "checkpoint": best["checkpoint"]}
    assert Path(best["checkpoint"]).is_absolute() and Path(best["checkpoint"]).is_file()
    assert Path(best["checkpoint"]).is_relative_to(tmp_path / "popbt_checkpoints" / "quad")
    schedule = json.loads(cli("schedule", str(best["member_id"]), "--json",
                                cwd=tmp_path).stdout)
    assert schedule[0]["step"] == 0 and schedule[-1]["hparams"] == best["hparams"]

    text = cli("status", cwd=tmp_path)
    assert text.returncode == 0 and "population quad" in text.stdout
    assert len([line for line in text.stdout.splitlines() if " done " in line]) == 4
    assert "schedule of member" in cli("schedule", "0", cwd=tmp_path).stdout


def test_run_again_resumes(tmp_path: Path):
    assert cli(*run_args("--steps", "10", "--quiet"), cwd=tmp_path).returncode == 0
    again = cli(*run_args("--steps", "25", "--quiet", "--json"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    status = json.loads(again.stdout)
    assert status["steps"] == [25] * 4
    created = json.loads(cli("status", "--json", cwd=tmp_path).stdout)
    assert created["exploits"] >= 1


def test_run_with_worker_processes(tmp_path: Path):
    done = cli(*run_args("--steps", "15", "--workers", "2", "--quiet", "--json"),
                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["steps"] == [15] * 4


@pytest.mark.parametrize(("args", "fragment"), [
    (run_args("--steps", "5", "--population", "1"), "size=1"),
    (run_args("--steps", "5", "--storage", "nosuchdb://u:secret@h/d"), "cannot open storage"),
    (run_args("--steps", "5", "--metric", "accuracy"), "metric 'accuracy'"),
    (["run", TARGET, "--steps", "5", "--metric", "score"], "exactly one popbt.Trainable"),
    (["run", "no_trainable.py", "--steps", "5"], "found none"),
    (["run", "no_such_file.py", "--steps", "5"], "not a Python file"),
    (["best"], "no storage at sqlite:///popbt.db (the file does not exist)"),
    (["schedule", "3", "--name", "missing"], "no storage at sqlite:///popbt.db"),
    (run_args("--steps", "5", "--fraction", "0.9"), "fraction=0.9"),
])
def test_bad_input_gets_one_line(tmp_path: Path, args: list[str], fragment: str):
    (tmp_path / "no_trainable.py").write_text("import popbt\nspace = None\n")
    done = cli(*args, cwd=tmp_path)
    assert done.returncode in (1, 2)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("popbt: error:")]
    assert len(lines) == 1 and fragment in lines[0], done.stderr
    assert "secret" not in done.stderr


def test_trainable_that_always_fails(tmp_path: Path):
    done = cli("run", TARGET, "--trainable", "AlwaysFails", "--metric", "score",
                 "--steps", "5", "--ready-every", "5", "--quiet", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "every member failed" in done.stderr and "broken training code" in done.stderr


def test_schedule_of_unknown_member(tmp_path: Path):
    assert cli(*run_args("--steps", "5", "--quiet"), cwd=tmp_path).returncode == 0
    done = cli("schedule", "9", cwd=tmp_path)
    assert done.returncode == 2 and "members are 0..3" in done.stderr


def _wait_for_progress(db: Path, steps: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                pop = popbt.load_population(name="slow", storage=f"sqlite:///{db}")
            except (popbt.ConfigError, popbt.StorageError):  # not created yet (readers don't)
                pop = None
            if pop is not None and sum(m.step for m in pop.members) >= steps:
                pop.storage.close()
                return
            if pop is not None:
                pop.storage.close()
        time.sleep(0.05)
    raise AssertionError("the run made no progress")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_run_stopped_halfway_resumes(tmp_path: Path, sig: signal.Signals):
    args = ["run", TARGET, "--trainable", "SlowQuadratic", "--metric", "score", "--population",
            "3", "--ready-every", "5", "--name", "slow", "--steps", "100", "--quiet"]
    # a run started in the background by a non-interactive shell inherits SIGINT ignored
    proc = subprocess.Popen([sys.executable, "-m", "popbt", *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_progress(tmp_path / "popbt.db", 30)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "popbt: interrupted; train again to resume (" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    again = cli(*args, "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["steps"] == [100] * 3
    pop = popbt.load_population(name="slow", storage=f"sqlite:///{tmp_path / 'popbt.db'}")
    for m in pop.members:
        for seg in pop.lineage(m.member_id):
            readies = [e.step for e in seg.events if e.kind is popbt.EventKind.READY]
            assert readies == sorted(set(readies))
