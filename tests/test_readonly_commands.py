"""The commands that only read (status, best, schedule, export, report, dashboard, gc) never
import or run the user's code (a stored custom explore function stays a reference until a
trainer applies it), and never create a storage: a mistyped SQLite path is an error, and no
file appears; nor does `resize` (which explores only clones). Real `popbt` processes, real
files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import popbt
from popbt.records import EventKind

RUN_FILE = '''
import pathlib

import popbt

pathlib.Path(__file__).with_name("imported.marker").write_text("this file was imported")


class Walk(popbt.Trainable):
    def setup(self, hparams, seed):
        self.x = 5.0

    def train(self, hparams, steps):
        for _ in range(steps):
            self.x -= hparams["lr"] * 2 * self.x

    def evaluate(self):
        return {"score": -self.x ** 2}

    def state_dict(self):
        return {"x": self.x}

    def load_state_dict(self, state):
        self.x = float(state["x"])


def halve(hparams, space, rng):
    return {"lr": hparams["lr"] * 0.5}


space = popbt.Space({"lr": popbt.LogUniform(1e-3, 0.5)})
metric = "score"
ready = popbt.Every(steps=5)
explore = halve
'''


def cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "popbt", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout)


def _dashboard_pages(url: str, cwd: Path, name: str) -> list[str]:
    proc = subprocess.Popen([sys.executable, "-m", "popbt", "dashboard", "--storage", url,
                             "--port", "0"], cwd=cwd, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        base = first.split(" at ", 1)[1].split(" ", 1)[0]
        pages = []
        for path in ("api/populations", f"api/population?name={name}"):
            with urllib.request.urlopen(base + path, timeout=30) as response:
                pages.append(response.read().decode())
        return pages
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, str]:
    """A population trained by `popbt run` with a custom explore function from a file that
    leaves a marker whenever it is imported; the marker is removed afterwards."""
    (tmp_path / "run_file.py").write_text(RUN_FILE)
    done = cli("run", "run_file.py", "--population", "3", "--steps", "10", "--quiet",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "imported.marker").unlink()
    return tmp_path, f"sqlite:///{tmp_path / 'popbt.db'}"


def test_reading_commands_never_import_the_users_file(stored: tuple[Path, str]):
    folder, url = stored
    marker = folder / "imported.marker"
    status = json.loads(cli("status", "--json", cwd=folder).stdout)
    assert status["settings"]["explore"]["type"] == "callable"
    assert status["settings"]["explore"]["ref"].endswith("run_file.py:halve")
    for args in (["status"], ["best"], ["best", "--json"], ["schedule", "0"],
                 ["schedule", "1", "--format", "csv"], ["report", "-o", "r.html"],
                 ["gc", "--dry-run"], ["gc"], ["export", "-o", "best.npz"],
                 ["resize", "--population", "4"]):  # resize: no explore without clones
        done = cli(*args, cwd=folder)
        assert done.returncode == 0, (args, done.stderr)
        assert not marker.exists(), f"`popbt {' '.join(args)}` imported the user's file"
    pages = _dashboard_pages(url, folder, "run_file")
    assert json.loads(pages[1])["data"]["name"] == "run_file"
    assert not marker.exists(), "the dashboard imported the user's file"
    # nor does reading through the Python API
    pop = popbt.load_population(name="run_file", storage=url)
    assert pop.status()["settings"]["explore"]["name"] == "halve" and pop.best is not None
    assert not marker.exists()


def test_a_trainer_still_applies_the_stored_explore(stored: tuple[Path, str]):
    """Loaded without importing, the explore function is imported by the workers that apply
    it (here two worker processes), and explores as stored."""
    folder, url = stored
    script = (
        "import sys, popbt\n"
        "from popbt._refs import load_file\n"
        "pop = popbt.load_population(name='run_file', storage=sys.argv[1])\n"
        "assert not __import__('pathlib').Path('imported.marker').exists()\n"
        "walk = load_file('run_file.py').Walk\n"
        "pop.train(walk, steps=30, workers=2, progress=False)\n")
    done = subprocess.run([sys.executable, "-c", script, url], cwd=folder, text=True,
                          capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr
    pop = popbt.load_population(name="run_file", storage=url)
    later = [e for e in pop.events(kinds=[EventKind.EXPLORE]) if e.step > 10]
    assert later, "no explore after the resume"
    for e in later:
        assert e.data["ops"] == {"lr": "custom"}
        assert e.data["new"]["lr"] == pytest.approx(max(e.data["old"]["lr"] * 0.5, 1e-3))


@pytest.mark.parametrize("args", [
    ["status"], ["status", "--json"], ["best"], ["schedule", "0"], ["report", "-o", "r.html"],
    ["gc"], ["dashboard", "--port", "0"], ["export", "-o", "r.html"],
    ["resize", "--population", "4"],
])
def test_a_mistyped_sqlite_path_creates_nothing(tmp_path: Path, args: list[str]):
    typo = tmp_path / "sub" / "popbt.bd"
    typo.parent.mkdir()
    done = cli(*args, "--storage", f"sqlite:///{typo}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"popbt: error: no storage at sqlite:///{typo} (the file "
                                  f"does not exist); "), done.stderr
    assert "Traceback" not in done.stderr
    assert os.listdir(typo.parent) == [] and not (tmp_path / "r.html").exists()


def test_a_file_that_is_no_popbt_storage_is_left_as_it_is(tmp_path: Path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    done = cli("status", "--storage", f"sqlite:///{empty}", cwd=tmp_path)
    assert done.returncode == 2 and "no popbt storage at" in done.stderr, done.stderr
    assert "none of popbt's tables" in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["empty.db"] and empty.read_bytes() == b""
    with pytest.raises(popbt.StorageError, match="the file does not exist"):
        popbt.load_population(name="x", storage=f"sqlite:///{tmp_path / 'nope.db'}")
    assert sorted(os.listdir(tmp_path)) == ["empty.db"]
