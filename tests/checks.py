"""Checks shared by the tests of real worker runs (processes, Ray, PostgreSQL), and the
loading of benchmark scripts their tests share."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import popbt
from popbt.checkpoints import CheckpointStore
from popbt.records import EventKind, MemberState


def check_consistent(pop: popbt.Population, target: int) -> None:
    """Every member at `target`, READY events never repeated for one (member, step) within a
    lineage stretch, every pointed checkpoint present and intact, lineages well formed."""
    store = CheckpointStore(pop.row.checkpoint_root)
    for m in pop.members:
        assert m.step == target and m.state is MemberState.DONE
        row = pop.storage.checkpoint(pop.row, m.checkpoint_id)
        store.load(row.path, row.checksum)  # raises if missing or corrupt
        segments = pop.lineage(m.member_id)
        assert segments[0].start_step == 0 and segments[-1].end_step == target
        for seg in segments:
            readies = [e.step for e in seg.events if e.kind is EventKind.READY]
            assert readies == sorted(set(readies)), f"a ready point was counted twice: {readies}"


def holder_pids(pop: popbt.Population) -> dict[int, int]:
    """member id → pid of the worker process holding it."""
    return {mid: int(owner.rsplit(":", 2)[1]) for mid, owner, _ in pop.storage.holders(pop.row)}


def check_no_member_trained_twice_at_once(log: Path) -> int:
    """Read an `IntervalLog` file; assert no two `train` calls of one member (its seed)
    overlapped in time. Returns how many processes trained."""
    by_member: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    pids = set()
    for line in log.read_text().splitlines():
        seed, pid, start, end = line.split()
        by_member[seed].append((float(start), float(end), pid))
        pids.add(pid)
    assert by_member, "no interval was logged"
    for seed, spans in by_member.items():
        spans.sort()
        for (_, end, pid), (start, _, other) in zip(spans, spans[1:], strict=False):
            assert start >= end, f"member seed {seed} trained by {pid} and {other} at once"
    return len(pids)


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str, *, mode: str | None = None) -> Iterator[Path]:
    """A tmpfs of `size` ("256k", "1m") mounted at `where` (created), unmounted afterwards.

    Mounting needs root, which CI has: without it the test fails (a skip would pass unseen).
    """
    if os.geteuid() != 0:
        pytest.fail("mounting a small filesystem needs root (CI runs as root)")
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (f",mode={mode}" if mode else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def hparams_by_interval(pop: popbt.Population) -> dict[tuple[int, int], dict[str, Any]]:
    """(member, step reported) -> the hyperparameters the member trained under in the
    interval that ended there: its created hyperparameters, then the `new` ones of each of
    its exploit and explore events decided before that step."""
    events = sorted(pop.events(), key=lambda e: e.event_id)
    result = {}
    for score in pop.scores():
        current = None
        for event in events:
            if event.member_id != score.member_id or event.step >= score.step:
                continue
            if event.kind is popbt.EventKind.CREATED:
                current = event.data["hparams"]
            elif event.kind in (popbt.EventKind.EXPLOIT, popbt.EventKind.EXPLORE):
                current = event.data["new"]
        assert current is not None
        result[score.member_id, score.step] = current
    return result


def intervals_after_exploits(pop: popbt.Population, *, interval: int,
                             explored: str) -> dict[tuple[int, int], dict[str, Any]]:
    """`hparams_by_interval(pop)`, once checked that the run is one that tests mutations:
    at least 3 exploits, each explored away from the donor's `explored` value, and every
    interval of `interval` steps after an exploit reported."""
    exploits = pop.events(kinds=[popbt.EventKind.EXPLOIT])
    assert len(exploits) >= 3
    new = [e.data["new"] for e in pop.events(kinds=[popbt.EventKind.EXPLORE])]
    donors = [e.data["new"] for e in exploits]
    assert all(after[explored] != donor[explored]
               for after, donor in zip(new, donors, strict=True))  # not the donor's values
    expected = hparams_by_interval(pop)
    assert {(e.member_id, e.step + interval) for e in exploits} <= set(expected)
    return expected


def load_script(path: Path) -> ModuleType:
    """A benchmark script imported as a module named after its file (registered in
    `sys.modules`: its dataclasses look their module up there)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def kill_workers_for(cmd: list[str], *, workers: int, seconds: float,
                     pause: tuple[float, float], still_running: Callable[[], bool]) -> int:
    """Start `workers` processes of `cmd`; for `seconds`, kill -9 one of them at random after
    each pause (drawn uniformly from `pause`) and start another in its place; then check that
    the run had not ended (`still_running()`), let the workers finish, and check that each
    exited with status 0. Returns the number of kills; a worker left on the way out is
    killed."""
    import random
    import signal
    import time

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    chance = random.Random()
    running = [start() for _ in range(workers)]
    kills, started = 0, time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            time.sleep(chance.uniform(*pause))
            alive = [w for w in running if w.poll() is None]
            assert alive, "every worker exited during the chaos"
            victim = chance.choice(alive)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            kills += 1
            running = [w for w in running if w is not victim] + [start()]
        assert still_running(), "the run ended before the chaos"
        for w in running:
            _, err = w.communicate(timeout=300)
            assert w.returncode == 0, err.decode()
    finally:
        for w in running:
            if w.poll() is None:
                w.kill()
                w.wait()
    return kills


def popbt_cli(url: str, name: str, cwd: Path, *args: str) -> str:
    """`popbt ARGS --storage URL --name NAME` run in `cwd`: its output, once it succeeded."""
    done = subprocess.run([sys.executable, "-m", "popbt", *args, "--storage", url,
                           "--name", name], capture_output=True, text=True, timeout=60,
                          cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout
