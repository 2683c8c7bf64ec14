"""`popbt check` and `check_trainable` on a league's trainable: it plays frozen copies of
itself, its reports are checked, its rating is the metric "rating"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import popbt
from league_trainables import SKILL_SPACE, BadResult, Skill


def test_a_league_trainable_checks_clean_and_without_a_league_says_so():
    result = popbt.check_trainable(Skill, SKILL_SPACE, steps=2, metric="rating",
                                   league=popbt.League())
    assert result.ok, str(result)
    without = popbt.check_trainable(Skill, SKILL_SPACE, steps=2, metric="skill")
    assert not without.ok and "this population has no league" in str(without)


def test_a_bad_report_is_a_finding():
    result = popbt.check_trainable(BadResult, SKILL_SPACE, steps=2, metric="rating",
                                   league=popbt.League())
    assert [f.kind for f in result.findings] == ["error"]
    assert "must be in [0, 1]" in result.findings[0].message and "1.5" in str(result)


def test_state_left_out_is_still_found_in_a_league(tmp_path: Path):
    class Forgetful(Skill):
        def state_dict(self):
            return {"rng": self.rng.bit_generator.state}  # s is left out

        def load_state_dict(self, state):
            self.rng.bit_generator.state = state["rng"]

    result = popbt.check_trainable(Forgetful, SKILL_SPACE, steps=2, metric="skill",
                                   league=popbt.League())
    assert [f.kind for f in result.findings] == ["state"], str(result)


def test_popbt_check_reads_the_file_s_league(tmp_path: Path):
    run_file = tmp_path / "skill_league.py"
    run_file.write_text("import popbt\nfrom league_trainables import SKILL_SPACE, Skill\n"
                        "space = SKILL_SPACE\nmetric = 'rating'\nleague = popbt.League()\n")
    tests = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "popbt", "check", str(run_file),
                           "--trainable", "Skill"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path,
                          env={"PYTHONPATH": f"{tests}:{tests.parent / 'src'}",
                               "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
