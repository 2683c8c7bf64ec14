"""Stop rules: each one ends a real run (in process and with two worker processes), the
reason is recorded in the storage, nothing trained is lost, and training again resumes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import popbt
from popbt.records import EventKind, MemberState
from popbt.stopping import RunProgress, from_options, stop_rules
from run_trainables import CAP, SPACE, Saturating, SlowSaturating

TARGET = 200
RUN_FILE = str(Path(__file__).parent / "run_trainables.py")


@pytest.fixture
def pop(make_pop) -> popbt.Population:
    return make_pop(space=SPACE, size=4, ready=popbt.Every(steps=5))


def check_stopped(pop: popbt.Population, prefix: str) -> str:
    """The run stopped early with a reason starting with `prefix`: no member is held or
    done, each member's record ends at its last report (nothing trained was lost)."""
    status = pop.status()
    reason = status["stopped"]
    assert reason is not None and reason.startswith(prefix), reason
    assert status["error"] is None
    assert pop.storage.holders(pop.row) == []
    for m in pop.members:
        assert m.state is MemberState.IDLE and m.step < TARGET
        scores = pop.scores(member_id=m.member_id)
        assert scores and scores[-1].step == m.step or any(
            e.kind is EventKind.EXPLOIT and e.step == m.step
            for e in pop.events(member_id=m.member_id))
    return reason


def resume(pop: popbt.Population) -> None:
    pop.train(Saturating, steps=TARGET, progress=False)
    assert pop.status()["stopped"] is None
    assert {(m.step, m.state) for m in pop.members} == {(TARGET, MemberState.DONE)}


def test_a_target_score_stops_a_run_in_process_and_training_again_resumes(pop):
    best = pop.train(Saturating, steps=TARGET, progress=False, stop=popbt.TargetScore(0.5))
    reason = check_stopped(pop, "target: score 0.5 reached 0.5 (member 0 at step 10)")
    assert best is not None and best.score == 0.5
    assert [m.step for m in pop.members] == [10, 5, 5, 5]  # stopped at the report
    assert pop.row.stopped == reason
    resume(pop)


def test_a_plateau_stops_a_run_in_process(pop):
    pop.train(Saturating, steps=TARGET, progress=False, stop=popbt.Plateau(rounds=2))
    check_stopped(pop, "plateau: best 1 not improved in 2 ready rounds")
    # every member reaches 1.0 at step CAP (round 4); rounds 5 and 6 bring nothing
    assert {m.step for m in pop.members} == {CAP + 2 * 5}
    resume(pop)


def test_a_time_budget_stops_a_run_in_process(pop):
    started = time.monotonic()
    pop.train(SlowSaturating, steps=TARGET, progress=False, stop=popbt.TimeBudget(0.5))
    assert time.monotonic() - started >= 0.5
    check_stopped(pop, "time budget: ")
    assert sum(m.step for m in pop.members) < 4 * TARGET


def test_the_first_rule_to_fire_stops_the_run(pop):
    pop.train(Saturating, steps=TARGET, progress=False,
              stop=[popbt.TimeBudget(3600), popbt.Plateau(rounds=1), popbt.TargetScore(2.0)])
    check_stopped(pop, "plateau: best 1 not improved in 1 ready rounds")


@pytest.mark.parametrize(("rule", "prefix"), [
    (popbt.TargetScore(0.5), "target: score "),
    (popbt.Plateau(rounds=2), "plateau: best 1 not improved in 2 ready rounds"),
    (popbt.TimeBudget(3.0), "time budget: "),
])
def test_each_rule_stops_two_worker_processes(pop, rule, prefix):
    """The driver reads the records about four times a second: members trained meanwhile
    finish their intervals (100 ms each) and report, long before the step target."""
    pop.train(SlowSaturating, steps=TARGET, workers=2, progress=False, stop=rule)
    check_stopped(pop, prefix)
    resume(pop)


def test_a_stopped_population_starts_no_worker_loop_until_trained_again(pop):
    from popbt.worker import Worker

    pop.train(Saturating, steps=TARGET, progress=False, stop=popbt.TargetScore(0.5))
    stats = Worker(pop.storage, pop.row, pop.settings, Saturating, name="late").run()
    assert stats.intervals == 0 and stats.stopped == pop.row.stopped


def test_mode_min_reaches_a_target_from_above(make_pop):
    pop = make_pop(space=SPACE, size=2, metric="gap", mode="min")
    pop.train(Saturating, steps=TARGET, progress=False, stop=popbt.TargetScore(0.5))
    assert pop.status()["stopped"] == "target: gap 0.5 reached 0.5 (member 0 at step 10)"
    assert [m.step for m in pop.members] == [10, 5]


def test_rules_read_progress_in_the_population_mode():
    up = RunProgress(metric="m", mode="max", best=0.5, rounds=2,
                     best_after_round=[0.4, 0.5, 0.5])
    assert popbt.TargetScore(0.5).check(up) is not None
    assert popbt.TargetScore(0.51).check(up) is None
    assert popbt.Plateau(rounds=1).check(up) is not None  # 0.5 after round 1, 0.5 now
    assert popbt.Plateau(rounds=2).check(up) is None  # 0.4 → 0.5
    assert popbt.Plateau(rounds=2, min_delta=0.1).check(up) is not None
    down = RunProgress(metric="m", mode="min", best=0.5, rounds=1, best_after_round=[0.7, 0.5])
    assert popbt.TargetScore(0.6).check(down) is not None
    assert popbt.TargetScore(0.4).check(down) is None
    assert popbt.Plateau(rounds=1).check(down) is None
    empty = RunProgress(metric="m", mode="max", rounds=1, best_after_round=[None, None])
    assert popbt.TargetScore(0.0).check(empty) is None
    assert popbt.Plateau(rounds=1).check(empty) == ("plateau: no finite score not improved "
                                                     "in 1 ready rounds")
    assert popbt.TimeBudget(10).check(RunProgress(metric="m", mode="max", elapsed_s=9.9)) \
        is None


@pytest.mark.parametrize(("make", "message"), [
    (lambda: popbt.TargetScore(float("nan")), "score=nan: expected a finite number"),
    (lambda: popbt.TimeBudget(0), "seconds=0: must be above 0"),
    (lambda: popbt.Plateau(rounds=0), "rounds=0: must be an integer >= 1"),
    (lambda: popbt.Plateau(rounds=2, min_delta=-1.0), "min_delta=-1.0: must be >= 0"),
    (lambda: stop_rules(3600), "stop=3600: expected a stop rule"),
    (lambda: stop_rules([popbt.TimeBudget(1), "plateau"]), "expected a stop rule"),
])
def test_bad_rules_are_refused(make, message):
    with pytest.raises(popbt.ConfigError, match=message):
        make()


def test_bad_stop_argument_changes_nothing(pop):
    with pytest.raises(popbt.ConfigError, match="stop="):
        pop.train(Saturating, steps=TARGET, progress=False, stop="plateau")
    assert pop.row.target_steps == 0


def test_options_make_rules():
    assert from_options() == []
    assert from_options(score=0.9, seconds=60, plateau=3, min_delta=0.01) == [
        popbt.TargetScore(0.9), popbt.TimeBudget(60), popbt.Plateau(3, 0.01)]


def popbt_command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "popbt", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=120)


def test_popbt_run_stops_by_its_options_and_the_same_command_continues(tmp_path):
    run = ["run", RUN_FILE, "--trainable", "Saturating", "--metric", "score", "--population",
           "4", "--ready-every", "5", "--name", "sat", "--steps", str(TARGET), "--quiet"]
    done = popbt_command(*run, "--plateau", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    reason = "plateau: best 1 not improved in 2 ready rounds"
    assert f"stopped: {reason}; run the same command again to continue" in done.stderr
    status = json.loads(popbt_command("status", "--json", cwd=tmp_path).stdout)
    assert status["stopped"] == reason and status["steps"] == [CAP + 10] * 4
    assert f"stopped: {reason}" in popbt_command("status", cwd=tmp_path).stdout
    again = popbt_command(*run, "--json", "--stop-score", "2", "--time-budget", "600",
                          cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    status = json.loads(again.stdout)
    assert status["stopped"] is None and status["steps"] == [TARGET] * 4


@pytest.mark.parametrize(("option", "fragment"), [
    (["--time-budget", "0"], "argument --time-budget: expected a number above 0, got '0'"),
    (["--plateau", "0"], "argument --plateau: expected an integer >= 1"),
    (["--stop-score", "nan"], "argument --stop-score: expected a finite number"),
    (["--plateau", "2", "--plateau-delta", "-1"], "min_delta=-1.0: must be >= 0"),
])
def test_popbt_run_refuses_bad_stop_options(tmp_path, option, fragment):
    done = popbt_command("run", RUN_FILE, "--trainable", "Saturating", "--metric", "score",
                         "--ready-every", "5", "--steps", "10", *option, cwd=tmp_path)
    assert done.returncode == 2 and fragment in done.stderr, done.stderr
    assert not (tmp_path / "popbt.db").exists()  # refused before anything was stored
