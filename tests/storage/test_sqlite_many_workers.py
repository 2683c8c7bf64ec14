"""Eight worker processes on one SQLite file for about two minutes of 20 ms intervals: no
"database is locked" reaches anyone, and every interval is recorded exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import popbt
from checks import check_consistent, check_no_member_trained_twice_at_once
from popbt.records import EventKind
from trainables import IntervalLog

SIZE = 16
WORKERS = 8
SECONDS = 120


@pytest.mark.slow
def test_eight_workers_on_one_sqlite_file_for_two_minutes(make_pop, capfd, tmp_path: Path,
                                                          monkeypatch):
    log = tmp_path / "intervals"
    monkeypatch.setenv("POPBT_TEST_INTERVALS", str(log))
    pop = make_pop(size=SIZE, ready=popbt.Every(steps=1), exploit=popbt.Truncation(0.25))
    started = time.monotonic()
    target, more = 0, 20
    while more:  # continue the run in chunks sized by the speed seen, until two minutes
        target += more
        chunk = time.monotonic()
        pop.train(IntervalLog, steps=target, workers=WORKERS, progress=False)
        rate = more / (time.monotonic() - chunk)  # steps per member per second
        left = SECONDS - (time.monotonic() - started)
        more = max(10, round(rate * left)) if left > 10 else 0
    elapsed = time.monotonic() - started
    out, err = capfd.readouterr()
    assert "locked" not in out + err, err
    check_consistent(pop, target)
    intervals = log.read_text().splitlines()
    scores = pop.scores()
    readies = pop.events(kinds=[EventKind.READY])
    assert len(intervals) == len(scores) == len(readies), \
        "an interval trained was not recorded exactly once"
    assert check_no_member_trained_twice_at_once(log) >= WORKERS
    assert pop.events(kinds=[EventKind.EXPLOIT])
    print(f"{len(scores)} intervals in {elapsed:.0f} s ({len(scores) / elapsed:.0f}/s) by "
          f"{WORKERS} workers")
    assert elapsed >= 0.75 * SECONDS, f"the run lasted only {elapsed:.0f} s"
