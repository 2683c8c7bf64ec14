"""Bad input to the `popbt` command, run as a real subprocess: one line on stderr,
`popbt: error: ...`, naming the bad value and what would be valid, exit status 2, never a
traceback; and names and values with control characters shown escaped, never raw."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import popbt
from popbt import schedules
from popbt._progress import Progress

TESTS = Path(__file__).parent
TARGET = str(TESTS / "trainables.py")
QUAD = ["--trainable", "Quadratic", "--metric", "score", "--ready-every", "5"]
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]")  # all but "\n"

ESCAPES_FILE = '''
import popbt


class Counter(popbt.Trainable):
    def setup(self, hparams, seed):
        self.x = 0.0

    def train(self, hparams, steps):
        self.x += steps

    def evaluate(self):
        return {"score": self.x}

    def state_dict(self):
        return {"x": self.x}

    def load_state_dict(self, state):
        self.x = float(state["x"])


space = popbt.Space({"act": popbt.Choice(["\\x1b[31mred", "bell\\x07", "cr\\rx"])})
metric = "score"
ready = popbt.Every(steps=2)
'''

FAILING_FILE = '''
import popbt


class Broken(popbt.Trainable):
    def setup(self, hparams, seed):
        pass

    def train(self, hparams, steps):
        raise RuntimeError("\\x1b]0;owned\\x07\\x1b[31mred\\rline")

    def evaluate(self):
        return {"score": 0.0}

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


space = popbt.Space({"lr": popbt.Uniform(0.0, 1.0)})
'''


def cli(*args: str | bytes, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "popbt", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout)


def one_error_line(done: subprocess.CompletedProcess[str], *fragments: str,
                   status: int = 2) -> str:
    """The single stderr line of a refused command, checked."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("popbt: error: "), done.stderr
    assert done.returncode == status, done.stderr
    assert not RAW_CONTROL.search(done.stderr), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def quad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose popbt.db holds a trained population "quad" of 4 members."""
    folder = tmp_path_factory.mktemp("quad")
    done = cli("run", TARGET, *QUAD, "--population", "4", "--steps", "10", "--name", "quad",
               "--quiet", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


# -- numbers and text that used to end in a traceback ------------------------------------------

@pytest.mark.parametrize(("args", "fragments"), [
    (["run", TARGET, *QUAD, "--steps", "5", "--lease", "inf"], ["--lease", "'inf'", "604800"]),
    (["run", TARGET, *QUAD, "--steps", "5", "--lease", "1e12"], ["--lease", "'1e12'"]),
    (["run", TARGET, *QUAD, "--steps", "5", "--lease", "nan"], ["--lease", "'nan'"]),
    (["run", TARGET, *QUAD, "--steps", "5", "--lease", "0"], ["--lease", "'0'", "above 0"]),
    (["run", TARGET, *QUAD, "--steps", "5", "--lease", "-1"], ["--lease", "'-1'"]),
    (["worker", TARGET, "--name", "quad", "--lease", "inf"], ["worker", "--lease", "'inf'"]),
    (["worker", TARGET, "--name", "quad", "--lease", "-5"], ["worker", "--lease", "'-5'"]),
    (["run", TARGET, *QUAD, "--steps", str(10**23)], ["--steps", str(10**23), str(2**63 - 1)]),
    (["run", TARGET, *QUAD, "--steps", "5", "--ready-every", str(10**23)], ["--ready-every"]),
    (["run", TARGET, *QUAD, "--steps", "5", "--population", str(10**11)],
     ["--population", "1000000"]),
    (["run", TARGET, *QUAD, "--steps", "5", "--workers", str(10**11)], ["--workers"]),
    (["run", TARGET, *QUAD, "--steps", "5", "--workers", "9"],
     ["--workers 9", "8 members", "at most 8 workers"]),
    (["run", TARGET, *QUAD, "--steps", "ten"], ["--steps", "'ten'"]),
    (["run", TARGET, *QUAD, "--steps", "5", "--seed", "-1"], ["--seed", "'-1'", ">= 0"]),
    (["replay", TARGET, "--trainable", "Quadratic", "--member", "0", "--seed", "-1"],
     ["--seed", "'-1'"]),
    (["demo", "toy", "--seeds", "0"], ["--seeds", "'0'", "from 1"]),
    (["demo", "toy", "--seeds", "-3"], ["--seeds", "'-3'"]),
    (["demo", "toy", "--steps", "0", "--out", ""], ["--steps", "'0'", "from 1"]),
    (["demo", "toy", "--seeds", "1", "--steps", "4", "--out", "missing/x.png"],
     ["'missing/x.png'", "'missing' does not exist"]),
    (["demo", "digits", "--population", "1"], ["--population", "'1'", "from 2"]),
    (["demo", "digits", "--workers", "0"], ["--workers", "'0'", "from 1"]),
    (["run", TARGET, *QUAD, "--steps", "5", "--fraction", "nan"], ["--fraction", "'nan'"]),
    (["dashboard", "--port", "70000"], ["--port", "'70000'", "0 to 65535"]),
    (["dashboard", "--port", "http"], ["--port", "'http'"]),
    (["nosuchcommand"], ["invalid choice", "'nosuchcommand'", "popbt --help"]),
    (["run", TARGET], ["required", "--steps", "popbt run --help"]),
    (["status", "--storage", "postgresql+psycopg://u:secret@localhost:abc/db"],
     ["port is not a number", "localhost:abc", "u:***@"]),
    (["status", "--storage", "sqlite://u@localhost:abc/db"], ["port is not a number"]),
    (["run", TARGET, *QUAD, "--steps", "5",
      "--storage", "postgresql+psycopg://u:secret@localhost:abc/db"], ["port is not a number"]),
])
def test_bad_values_get_one_clean_line(args: list[str], fragments: list[str], tmp_path: Path):
    done = cli(*args, cwd=tmp_path)
    one_error_line(done, *fragments)
    assert "secret" not in done.stderr
    assert not (tmp_path / "toy.png").exists() and not (tmp_path / "missing").exists()


def test_a_name_that_is_not_utf8_is_refused(tmp_path: Path):
    for args in (["run", TARGET, *QUAD, "--steps", "5", "--name", b"\xff"],
                 ["status", "--name", b"p\xffq"]):
        one_error_line(cli(*args, cwd=tmp_path), "--name", "not UTF-8")
    assert not (tmp_path / "popbt.db").exists()


@pytest.mark.parametrize(("name", "fragments"), [
    ("a" * 300, ["too long (300 characters", "1 to 200 characters", "255 bytes"]),
    ("é" * 150, ["300 bytes in UTF-8"]),
    ("a/b", ["holds '/'"]),
    ("a\\b", ["holds '\\\\'"]),
    ("..", ["is '..'"]),
    ("red\x1b[31m", ["holds '\\x1b'", "control characters"]),
    ("", ["empty"]),
])
def test_run_refuses_a_name_that_cannot_name_a_population(name: str, fragments: list[str],
                                                          tmp_path: Path):
    done = cli("run", TARGET, *QUAD, "--steps", "5", "--name", name, cwd=tmp_path)
    line = one_error_line(done, "--name", *fragments)
    assert len(line) < 500  # the value is shortened
    assert not (tmp_path / "popbt.db").exists()


def test_a_long_name_within_the_limits_trains(tmp_path: Path):
    """63 four-byte characters: 252 bytes, the checkpoint folder's name, within 255."""
    name = "\N{GRINNING FACE}" * 63
    done = cli("run", TARGET, *QUAD, "--population", "2", "--steps", "10", "--name", name,
               "--quiet", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["name"] == name and status["failures"] == 0 and status["steps"] == [10, 10]


def test_schedule_to_an_unwritable_path(quad: Path):
    one_error_line(cli("schedule", "0", "-o", "missing/s.csv", cwd=quad),
                   "'missing/s.csv'", "No such file or directory")
    one_error_line(cli("schedule", "0", "-o", str(quad), cwd=quad), "cannot write")


@pytest.mark.parametrize(("content", "fragments"), [
    (bytes(range(256)) * 4, ["is not UTF-8 text", "byte"]),
    (b"step,lr,noise\n0,nan,0.01\n", ["'lr'", "must be a number", "'nan'"]),
    (b"step,lr,noise\n0,0.1,0.01\n5,1e999,0.01\n", ["1e999", "not a finite number"]),
    (b"step,lr,noise,bogus\n0,0.1,0.01,3\n", ["unknown hyperparameters ['bogus']",
                                               "['lr', 'noise']"]),
    (b"step,lr,noise\n0,0.1,'adam\n", ["'noise'", "must be a number", "'adam'"]),
    (b"step,lr,noise\n0,5.0,0.01\n", ["'lr' = 5.0 is outside LogUniform(0.001, 1.0)"]),
    (b"step,lr\n0,0.1\n", ["['noise'] are missing"]),
    (b"step,lr,lr\n0,0.1,0.2\n", ["more than once"]),
    (b"step,lr,noise\n0,0.1,\x00\n", ["must be a number"]),
])
def test_replay_refuses_a_schedule_file_that_does_not_fit(content: bytes, fragments: list[str],
                                                          tmp_path: Path):
    (tmp_path / "s.csv").write_bytes(content)
    done = cli("replay", TARGET, "--trainable", "Quadratic", "--schedule", "s.csv", "--steps",
               "10", "--ready-every", "5", "--metric", "score", cwd=tmp_path)
    one_error_line(done, "'s.csv'", *fragments)


def test_replay_of_a_good_schedule_file_still_works(tmp_path: Path):
    (tmp_path / "s.csv").write_text("step,lr,noise\n0,0.1,0.01\n5,0.2,0\n")
    done = cli("replay", TARGET, "--trainable", "Quadratic", "--schedule", "s.csv", "--steps",
               "10", "--ready-every", "5", "--metric", "score", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changes"] == 1


@pytest.mark.parametrize(("source", "fragments"), [
    ("import sys\nsys.exit(0)\n", ["called sys.exit(0) while being imported",
                                   "if __name__ == '__main__':"]),
    ("raise SystemExit\n", ["called sys.exit() while being imported"]),
    ("import sys\nsys.exit('bye \\x1b[31m')\n", ["sys.exit('bye \\x1b[31m')"]),
    ("class Stop(BaseException):\n    pass\n\n\nraise Stop('now')\n", ["raised Stop(now)"]),
])
def test_a_file_that_exits_at_import_is_an_error(source: str, fragments: list[str],
                                                 tmp_path: Path):
    (tmp_path / "exits.py").write_text(source)
    for args in (["run", "exits.py", "--steps", "5", "--ready-every", "5", "--metric", "s"],
                 ["replay", "exits.py", "--member", "0"],
                 ["worker", "exits.py", "--name", "x"]):
        one_error_line(cli(*args, cwd=tmp_path), "'exits.py'", *fragments)


def test_a_space_with_bounds_that_overflow_is_an_error(tmp_path: Path):
    for domain, fragments in (
            ("popbt.IntUniform(0, 10**30)", ["hi=" + str(10**30), str(2**63 - 1)]),
            ("popbt.LogUniform(1e-320, 1.0)", ["lo=1e-320", "subnormal",
                                                "2.2250738585072014e-308"]),
            ("popbt.LogUniform(1e-300, 1e300)", ["hi / lo overflows"]),
            ("popbt.Uniform(-1e308, 1e308)", ["too wide"])):
        (tmp_path / "wide.py").write_text(f"import popbt\n\nspace = popbt.Space({{'h': "
                                          f"{domain}}})\n")
        done = cli("run", "wide.py", "--steps", "5", "--ready-every", "5", "--metric",
                   "score", cwd=tmp_path, timeout=60)
        one_error_line(done, *fragments)


# -- control characters are shown escaped -----------------------------------------------------

@pytest.fixture(scope="module")
def escapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder whose popbt.db holds one population with a Choice of values with control
    characters, renamed in the database to a name full of them (as one created before names
    were checked would be); and that name."""
    folder = tmp_path_factory.mktemp("escapes")
    (folder / "esc.py").write_text(ESCAPES_FILE)
    done = cli("run", "esc.py", "--population", "3", "--steps", "6", "--name", "esc", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert not RAW_CONTROL.search(done.stdout + done.stderr), done.stdout + done.stderr
    assert done.stdout.startswith("best: member ") and "act=" in done.stdout
    name = "e\x1b]0;owned\x07\u202evil\r"
    with sqlite3.connect(folder / "popbt.db") as db:
        db.execute("UPDATE popbt_populations SET name = ? WHERE name = 'esc'", (name,))
    return folder, name


@pytest.mark.parametrize("args", [["status"], ["best"], ["schedule", "0"], ["schedule", "1"],
                                  ["schedule", "0", "--format", "csv"],
                                  ["report", "-o", "r.html"]])
def test_names_and_values_are_shown_escaped(escapes: tuple[Path, str], args: list[str]):
    folder, name = escapes
    done = cli(*args, cwd=folder)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert not RAW_CONTROL.search(out), out
    if args[0] in ("status", "report"):
        assert "e\\x1b]0;owned\\x07\\u202evil\\r" in out
    if args[0] in ("best", "status") or args[-1] == "0":
        assert re.search(r"\\x1b\[31mred|bell\\x07|cr\\rx", out), out


def test_json_output_keeps_the_values_exactly(escapes: tuple[Path, str]):
    folder, name = escapes
    status = json.loads(cli("status", "--json", cwd=folder).stdout)
    assert status["name"] == name
    assert {m["hparams"]["act"] for m in status["members"]} <= \
        {"\x1b[31mred", "bell\x07", "cr\rx"}
    for member in range(3):
        csv_text = cli("schedule", str(member), "--format", "csv", cwd=folder).stdout
        json_text = cli("schedule", str(member), "--json", cwd=folder).stdout
        assert schedules.from_csv(csv_text) == schedules.from_json(json_text)


def test_errors_naming_such_a_name_are_escaped(escapes: tuple[Path, str]):
    folder, name = escapes
    one_error_line(cli("status", "--name", "nope", cwd=folder), "e\\x1b]0;owned\\x07")
    one_error_line(cli("best", "--name", name + "x", cwd=folder), "\\x1b")


def test_the_progress_line_is_escaped(escapes: tuple[Path, str]):
    folder, name = escapes
    pop = popbt.load_population(name=name, storage=f"sqlite:///{folder / 'popbt.db'}")
    try:
        stream = io.StringIO()
        Progress(pop, enabled=True, workers=1, stream=stream).update(force=True)
        assert stream.getvalue().startswith("[e\\x1b]0;owned\\x07\\u202evil\\r] steps ")
        assert not RAW_CONTROL.search(stream.getvalue())
    finally:
        pop.storage.close()


def test_a_member_error_with_control_characters_is_escaped(tmp_path: Path):
    (tmp_path / "broken.py").write_text(FAILING_FILE)
    done = cli("run", "broken.py", "--steps", "4", "--ready-every", "2", "--metric", "score",
               "--population", "2", "--quiet", cwd=tmp_path)
    line = one_error_line(done, "\\x1b]0;owned\\x07\\x1b[31mred\\rline", status=1)
    assert "every member failed" in line
    status = cli("status", cwd=tmp_path)
    assert status.returncode == 0 and not RAW_CONTROL.search(status.stdout), status.stdout
