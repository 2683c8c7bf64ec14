"""Bounded asynchrony (`max_lead`) and synchronous generations (`sync`): with one slow
worker, real worker processes and a real SQLite file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import popbt
from lead_trainables import SPACE, Climb
from popbt.records import EventKind, MemberState

TESTS = Path(__file__).resolve().parent
READY, TARGET, SIZE = 2, 24, 6


def _population(tmp_path: Path, name: str, **options: object) -> popbt.Population:
    return popbt.create_population(
        name=name, storage=f"sqlite:///{tmp_path / 'lead.db'}", space=SPACE, size=SIZE,
        metric="score", seed=3, ready=popbt.Every(steps=READY),
        exploit=popbt.Truncation(fraction=0.25), explore=popbt.Perturb(), **options)


def _leads(log: Path) -> list[int]:
    """How far ahead of the least-advanced live member each logged interval started."""
    rows = [tuple(map(int, line.split())) for line in log.read_text().splitlines()]
    return [step - least for _, step, least in rows]


def _run_with_a_slow_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                            **options: object) -> tuple[popbt.Population, list[int]]:
    log = tmp_path / f"{name}.log"
    monkeypatch.setenv("POPBT_TEST_LEAD_LOG", str(log))
    monkeypatch.setenv("POPBT_TEST_LEAD_DB", str(tmp_path / "lead.db"))
    pop = _population(tmp_path, name, **options)
    pop.train(Climb, steps=TARGET, workers=2, progress=False)
    return pop, _leads(log)


def _donor_leads(pop: popbt.Population) -> list[int]:
    """For every exploit, how many steps the donor was ahead of the member's last ready
    point."""
    leads, last = [], {}
    for e in pop.events():
        if e.kind is EventKind.READY:
            last[e.member_id] = e.step
        elif e.kind is EventKind.EXPLOIT:
            leads.append(e.data["donor_step"] - last[e.member_id])
    return leads


def test_settings_are_validated_stored_and_named_in_errors(tmp_path: Path):
    for bad, message in (({"max_lead": -1}, "max_lead=-1"), ({"max_lead": 1.5}, "max_lead=1.5"),
                         ({"sync": "yes"}, "sync='yes'"),
                         ({"sync": True, "max_lead": 2}, "max_lead=2 with sync=True")):
        with pytest.raises(popbt.ConfigError, match=message):
            _population(tmp_path, "bad", **bad)
    pop = _population(tmp_path, "kept", max_lead=1)
    again = popbt.load_population(name="kept", storage=pop.storage)
    assert (again.settings.max_lead, again.settings.sync) == (1, False)
    with pytest.raises(popbt.ConfigError, match="max_lead"):
        _population(tmp_path, "kept", max_lead=2, load_if_exists=True)


@pytest.mark.slow
def test_max_lead_bounds_how_far_a_fast_worker_runs_ahead(tmp_path: Path, monkeypatch):
    free, free_leads = _run_with_a_slow_worker(tmp_path, monkeypatch, "free")
    bounded, bounded_leads = _run_with_a_slow_worker(tmp_path, monkeypatch, "bounded",
                                                     max_lead=1)
    # Without a bound the fast worker runs several intervals ahead of the slow one's member
    # (so the test can tell); with max_lead=1 no interval starts more than one ahead.
    assert max(free_leads) > 2 * READY, free_leads
    assert max(bounded_leads) <= 1 * READY, bounded_leads
    # A donor is then at most (max_lead + 1) intervals ahead of the member copying it.
    assert _donor_leads(bounded) and max(_donor_leads(bounded)) <= 2 * READY
    for pop in (free, bounded):
        assert all(m.step == TARGET and m.state is MemberState.DONE for m in pop.members)


def _decisions(pop: popbt.Population) -> list[tuple[int, str, int, str]]:
    """Every decision event, in a form that does not depend on the order members took turns."""
    return sorted((e.member_id, e.kind.value, e.step,
                   repr(sorted((k, v) for k, v in e.data.items() if k != "checkpoint_id")))
                  for e in pop.events() if e.kind in (EventKind.EXPLOIT, EventKind.EXPLORE))


def _check_generations_to(pop: popbt.Population, target: int, *, size: int) -> None:
    """Each step's decisions come after every member's ready point at that step."""
    events = pop.events()
    for step in range(READY, target, READY):
        ready = [i for i, e in enumerate(events) if e.kind is EventKind.READY and e.step == step]
        decided = [i for i, e in enumerate(events)
                   if e.kind in (EventKind.EXPLOIT, EventKind.EXPLORE) and e.step == step]
        assert len(ready) == size, (step, len(ready))
        assert not decided or max(ready) < min(decided), step


def _check_generations(pop: popbt.Population) -> None:
    _check_generations_to(pop, TARGET, size=SIZE)


def test_sync_makes_the_same_decisions_whatever_the_workers(tmp_path: Path):
    one = _population(tmp_path, "one", sync=True)
    one.train(Climb, steps=TARGET, workers=1, progress=False)
    two = _population(tmp_path, "two", sync=True)
    two.train(Climb, steps=TARGET, workers=2, progress=False)
    assert _decisions(one), "no decision was made"
    assert _decisions(one) == _decisions(two)
    assert [m.score for m in one.members] == [m.score for m in two.members]
    for pop in (one, two):
        _check_generations(pop)


@pytest.mark.slow
def test_sync_with_a_slow_worker_holds_every_member_at_each_ready_step(tmp_path, monkeypatch):
    pop, leads = _run_with_a_slow_worker(tmp_path, monkeypatch, "sync", sync=True)
    assert set(leads) == {0}
    _check_generations(pop)
    assert all(m.step == TARGET for m in pop.members)


@pytest.mark.slow
def test_a_worker_killed_mid_generation_loses_nothing(tmp_path: Path, monkeypatch):
    log = tmp_path / "killed.log"
    monkeypatch.setenv("POPBT_TEST_LEAD_LOG", str(log))
    monkeypatch.setenv("POPBT_TEST_LEAD_DB", str(tmp_path / "lead.db"))
    pop = _population(tmp_path, "killed", sync=True)
    pop.storage.set_target(pop.row, TARGET)
    cmd = [sys.executable, "-m", "popbt", "worker", str(TESTS / "lead_trainables.py"),
           "--storage", pop.storage.url, "--name", "killed", "--trainable", "Climb",
           "--lease", "2"]
    workers = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while not (log.with_name(log.name + ".slow").exists() and log.exists()
                   and len(log.read_text().splitlines()) >= SIZE + 2):
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        _, err = workers[1].communicate(timeout=120)
        assert workers[1].returncode == 0, err.decode()
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    assert pop.row.error is None
    assert all(m.step == TARGET and m.state is MemberState.DONE for m in pop.members)
    _check_generations(pop)
    assert set(_leads(log)) == {0}


def test_cli_sync_and_max_lead(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    base = [sys.executable, "-m", "popbt", "run", str(TESTS / "lead_trainables.py"),
            "--trainable", "Climb", "--storage", url, "--name", "cli", "--metric", "score",
            "--ready-every", "2", "--population", "4", "--quiet"]
    done = subprocess.run([*base, "--steps", "8", "--workers", "2", "--sync"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pop = popbt.load_population(name="cli", storage=url)
    assert pop.settings.sync is True and pop.settings.max_lead is None
    _check_generations_to(pop, 8, size=4)
    refused = subprocess.run([*base, "--steps", "12", "--max-lead", "1"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "--max-lead 1 (stored: None)" in refused.stderr
    both = subprocess.run([*base, "--name", "both", "--steps", "4", "--sync", "--max-lead",
                           "2"], capture_output=True, text=True, timeout=120)
    assert both.returncode != 0 and "max_lead=2 with sync=True" in both.stderr
    bad = subprocess.run([*base, "--name", "bad", "--steps", "4", "--max-lead", "-1"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--max-lead" in bad.stderr

