"""A population under random kill -9 of its workers, at random moments, for over a minute;
then every promise is checked against the record."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

import popbt
from checks import check_no_member_trained_twice_at_once, kill_workers_for
from popbt.checkpoints import CheckpointStore
from popbt.records import EventKind, MemberState
from trainables import SPACE

TESTS = Path(__file__).parent
SIZE, READY, TARGET, WORKERS = 6, 5, 2000, 3
CHAOS_S = 65.0


def _check_chain(pop: popbt.Population) -> None:
    """Every member's record, in commit order, is one chain from step 0 to the target: each
    READY one interval after the previous step, each exploit copying a donor at or beyond
    it; so every interval it trained is recorded exactly once and no step repeats without
    the exploit that explains it. Scores match the READY events one for one."""
    chains: dict[int, list] = defaultdict(list)
    for e in pop.events(kinds=[EventKind.READY, EventKind.EXPLOIT]):
        chains[e.member_id].append(e)
    scores = Counter((s.member_id, s.step) for s in pop.scores())
    assert set(scores.values()) == {1}, "an interval was recorded twice"
    for mid in range(SIZE):
        step, readies = 0, []
        for e in chains[mid]:
            if e.kind is EventKind.READY:
                assert e.step == step + READY, f"member {mid}: READY at {e.step} after {step}"
                step = e.step
                readies.append(step)
            else:
                assert e.data["donor_step"] >= step, f"member {mid} went back to {e.step}"
                step = e.data["donor_step"]
        assert step == TARGET
        assert sorted(s for m, s in scores if m == mid) == readies


@pytest.mark.slow
def test_random_kill_9_of_workers_for_a_minute(tmp_path: Path, monkeypatch):
    log = tmp_path / "intervals.log"
    monkeypatch.setenv("POPBT_TEST_INTERVALS", str(log))
    url = f"sqlite:///{tmp_path / 'chaos.db'}"
    pop = popbt.create_population(name="chaos", storage=url, space=SPACE, size=SIZE,
                                  metric="score", seed=7, ready=popbt.Every(steps=READY),
                                  exploit=popbt.Truncation(0.25), explore=popbt.Perturb())
    pop.storage.set_target(pop.row, TARGET)
    cmd = [sys.executable, "-m", "popbt", "worker", str(TESTS / "fault_trainables.py"),
           "--storage", url, "--name", "chaos", "--trainable", "Chaos", "--lease", "5"]

    kills = kill_workers_for(cmd, workers=WORKERS, seconds=CHAOS_S, pause=(0.2, 2.5),
                             still_running=lambda: min(m.step for m in pop.members) < TARGET)
    assert kills >= 20
    assert all(m.step == TARGET and m.state is MemberState.DONE for m in pop.members)
    assert pop.row.error is None
    _check_chain(pop)
    assert check_no_member_trained_twice_at_once(log) > WORKERS
    store = CheckpointStore(pop.row.checkpoint_root)
    with pop.storage._read() as conn:  # every checkpoint row, not only those pointed at
        rows = conn.exec_driver_sql("SELECT path, checksum FROM popbt_checkpoints").all()
    for path, checksum in rows:
        store.load(path, checksum)  # raises if missing or corrupt
    done = subprocess.run([sys.executable, "-m", "popbt", "gc", "--storage", url, "--name",
                           "chaos", "--min-age", "0", "--json"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    swept = json.loads(done.stdout)
    print(f"\n{kills} kills in {CHAOS_S:.0f} s; {len(pop.scores())} intervals recorded, "
          f"{pop.storage.count_events(pop.row, EventKind.EXPLOIT)} exploits; gc removed "
          f"{len(swept['temporary'])} temporary and {len(swept['unreferenced'])} unreferenced "
          f"files")
    root = Path(pop.row.checkpoint_root)
    assert not [p for p in root.rglob("*") if p.name.startswith(".tmp-")]
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert files == {path for path, _ in rows}  # no orphan left either
