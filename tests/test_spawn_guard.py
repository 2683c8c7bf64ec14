"""A program whose worker processes could not start is refused before any starts, in one
line naming the class and the fix: a script that trains outside `if __name__ == "__main__":`,
a program read from stdin, a trainable defined in `python -c`. A guarded script trains."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from popbt.executors._spawn import _guarded

TRAINABLE = '''
import popbt

class Quad(popbt.Trainable):
    def setup(self, hparams, seed):
        self.x = 5.0
    def train(self, hparams, steps):
        for _ in range(steps):
            self.x -= hparams["lr"] * 2 * self.x
    def evaluate(self):
        return {"score": -self.x * self.x}
    def state_dict(self):
        return {"x": self.x}
    def load_state_dict(self, state):
        self.x = state["x"]
'''
TRAIN = '''
pop = popbt.create_population(
    name="q", storage="sqlite:///q.db", size=4, metric="score", load_if_exists=True,
    space=popbt.Space({"lr": popbt.LogUniform(1e-3, 0.1)}), ready=popbt.Every(steps=5))
pop.train(Quad, steps=10, workers=2, progress=False)
print("trained", [m.step for m in pop.members])
'''
UNGUARDED = TRAINABLE + TRAIN
GUARDED = TRAINABLE + "\ndef main():" + textwrap.indent(TRAIN, "    ") + \
    '\n\nif __name__ == "__main__":\n    main()\n'


def _run(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)


def _refused(done: subprocess.CompletedProcess, *expected: str) -> None:
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("popbt.errors.ConfigError: "), done.stderr
    for text in ("Quad", "workers=1", *expected):
        assert text in last, last
    for worker_trouble in ("died", "bootstrapping", "spawn_main"):
        assert worker_trouble not in done.stderr
    assert done.stderr.count("Traceback") == 1  # this program's own error, no worker's
    assert "trained" not in done.stdout


def test_an_unguarded_script_is_refused_before_any_worker_starts(tmp_path: Path):
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED)
    _refused(_run(tmp_path, str(script)), f"{script} starts the training of Quad",
             'if __name__ == "__main__":')


def test_a_program_read_from_stdin_is_refused(tmp_path: Path):
    _refused(_run(tmp_path, "-", stdin=GUARDED), "(<stdin>) is not a file")


def test_a_trainable_defined_in_python_c_is_refused(tmp_path: Path):
    _refused(_run(tmp_path, "-c", UNGUARDED),
             "Quad is defined in __main__ without a file", "move Quad to a module file")


def test_a_guarded_script_trains_with_its_class_in_main(tmp_path: Path):
    script = tmp_path / "guarded.py"
    script.write_text(GUARDED)
    done = _run(tmp_path, str(script))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "trained [10, 10, 10, 10]"


def test_python_c_with_an_importable_trainable_trains(tmp_path: Path):
    (tmp_path / "quad.py").write_text(TRAINABLE)
    done = _run(tmp_path, "-c", "from quad import Quad, popbt\n" + TRAIN)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "trained [10, 10, 10, 10]"


@pytest.mark.parametrize("source, line, guarded", [
    ("train()\n", 1, False),
    ('if __name__ == "__main__":\n    train()\n', 2, True),
    ("if '__main__' == __name__:\n    with x:\n        train()\n", 3, True),
    ("def main():\n    if __name__ == '__main__':\n        train()\nmain()\n", 3, True),
    ("if DEBUG:\n    train()\n", 2, False)])
def test_the_guard_is_any_if_that_tests_name(tmp_path: Path, source: str, line: int,
                                              guarded: bool):
    script = tmp_path / "s.py"
    script.write_text(source)
    assert _guarded(str(script), [line]) is guarded
    assert _guarded(str(tmp_path / "missing.py"), [line])  # unreadable: nothing is sure
