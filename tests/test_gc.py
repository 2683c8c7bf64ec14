"""`popbt gc` and `Population.gc`: the temporary files of killed writes and the checkpoints
of workers killed before they reported are swept once old enough; a file a row points at,
a young file, or a file popbt did not write is never removed. Real processes are killed
mid-write and mid-report; local folders, file:// and (moto) s3:// roots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import popbt
from checks import small_tmpfs
from popbt.checkpoints import CheckpointStore
from trainables import SPACE, Quadratic

TESTS = Path(__file__).parent
OLD = time.time() - 7200  # two hours ago: older than the default minimum age (one hour)

KILLED_WRITE = """
import os, signal, sys
from popbt.checkpoints import CheckpointStore
store = CheckpointStore(sys.argv[1])
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
os.replace = die  # a local folder publishes with os.replace, an fsspec root with fs.mv
if hasattr(store._files, "fs"):
    store._files.fs.mv = die
store.save(sys.argv[2], 999, {"x": list(range(1000))})
"""

KILLED_REPORT = """
import os, signal, sys
import popbt
from popbt.storage.sql import SQLStorage
from trainables import Quadratic
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
SQLStorage.report = die  # killed after writing its checkpoint, before reporting it
pop = popbt.load_population(name="t", storage=sys.argv[1])
pop.train(Quadratic, steps=15, progress=False)
"""


def _python(script: str, *args: str) -> None:
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=TESTS, timeout=120,
                          capture_output=True, text=True)
    assert done.returncode == -9, done.stderr  # it died by SIGKILL, as planned


def _gc(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "popbt", "gc", "--storage", url, *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _age(folder: Path, rels: set[str], when: float = OLD) -> None:
    for rel in rels:
        os.utime(folder / rel, (when, when))


def _referenced(pop: popbt.Population) -> set[str]:
    return pop.storage.checkpoint_paths()


@pytest.mark.parametrize("kind", ["local-dir", "file-url"])
def test_gc_sweeps_what_killed_processes_left(tmp_path: Path, kind: str):
    folder = tmp_path / "ckpt"
    root = str(folder) if kind == "local-dir" else folder.as_uri()
    url = f"sqlite:///{tmp_path / 'popbt.db'}"
    pop = popbt.create_population(name="t", storage=url, space=SPACE, size=3, metric="score",
                                  ready=popbt.Every(steps=5), checkpoints=root)
    pop.train(Quadratic, steps=10, progress=False)
    before = _files(folder)
    assert before == _referenced(pop)

    _python(KILLED_WRITE, root, "t/m00001")  # a write cut short: its .tmp- file stays
    _python(KILLED_REPORT, url)  # a checkpoint written, never reported
    left = _files(folder) - before
    tmp = {r for r in left if "/.tmp-" in r}
    orphan = left - tmp
    assert len(tmp) == 1 and len(orphan) == 1, left
    young = "t/m00002/.tmp-s0000000999-0123456789ab.npz"  # a write in progress, just now
    (folder / young).write_bytes(b"in progress")
    (folder / "t" / "notes.txt").write_text("mine")  # not a name popbt writes
    (folder / "other" / "m00000").mkdir(parents=True)  # another population's folder
    (folder / "other" / "m00000" / ".tmp-s0000000001-0123456789ab.npz").write_bytes(b"x")
    everything = _files(folder)
    _age(folder, everything - {young})

    dry = _gc(url, "--dry-run")
    assert _files(folder) == everything
    assert f"would remove: {tmp.pop()}" in dry.stdout and f"would remove: {orphan.pop()}" in \
        dry.stdout
    assert "would remove 1 temporary and 1 unreferenced checkpoint files" in dry.stdout
    assert "1 younger than 3600 s" in dry.stdout

    done = _gc(url)
    assert "removed 1 temporary and 1 unreferenced checkpoint files (" in done.stdout
    assert _files(folder) == everything - left
    assert young in _files(folder) and "t/notes.txt" in _files(folder)

    report = json.loads(_gc(url, "--min-age", "0", "--json").stdout)
    assert report["temporary"] == [young] and report["unreferenced"] == []
    assert report["removed_bytes"] == len(b"in progress")
    assert _files(folder) == before | {"t/notes.txt",
                                       "other/m00000/.tmp-s0000000001-0123456789ab.npz"}
    # every member's checkpoint is still there and loads
    for m in popbt.load_population(name="t", storage=url).members:
        assert pop.load(m.member_id, trainable=Quadratic).steps > 0


def test_gc_never_removes_a_file_a_row_points_at(make_pop, tmp_path: Path):
    pop = make_pop(checkpoints=tmp_path / "ckpt", keep_checkpoints=5)
    pop.train(Quadratic, steps=20, progress=False)
    folder = tmp_path / "ckpt"
    kept = _files(folder)
    assert kept == _referenced(pop) and len(kept) > pop.settings.size
    _age(folder, kept)
    done = pop.gc(min_age_s=0)
    assert done.removed == () and done.referenced == len(kept) and _files(folder) == kept


def test_gc_refuses_a_bad_age_and_a_missing_storage(make_pop, tmp_path: Path):
    pop = make_pop(checkpoints=tmp_path / "ckpt")
    for bad in (-1, float("nan"), "60", True):
        with pytest.raises(popbt.ConfigError, match="min_age_s"):
            pop.gc(min_age_s=bad)
    done = subprocess.run([sys.executable, "-m", "popbt", "gc", "--storage",
                           f"sqlite:///{tmp_path / 'typo.db'}"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "no storage at" in done.stderr
    assert not (tmp_path / "typo.db").exists()


def test_gc_sweeps_unreported_snapshots_of_the_vectorized_trainer(tmp_path: Path,
                                                                   monkeypatch):
    import torch

    from popbt.storage.sql import SQLStorage
    from popbt.vectorized import VectorizedPopulation

    def trainer(**overrides: Any) -> VectorizedPopulation:
        return VectorizedPopulation(
            model_fn=lambda: torch.nn.Linear(4, 2), size=4, optimizer="sgd",
            space=popbt.Space({"lr": popbt.LogUniform(1e-3, 0.5)}), metric="accuracy",
            ready=popbt.Every(steps=5), exploit=popbt.Truncation(0.25), name="vec",
            storage=f"sqlite:///{tmp_path / 'v.db'}", checkpoints=str(tmp_path / "ckpt"),
            seed=0, **overrides)

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen)
    data = {"train": (x, (x[:, 0] > 0).long()), "val": (x, (x[:, 0] > 0).long())}
    trainer().train(data, steps=10)
    real = SQLStorage.write_round
    calls = {"n": 0}

    def crash_once(self: SQLStorage, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the snapshot is on disk; the process "dies" before recording
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SQLStorage, "write_round", crash_once)
    with pytest.raises(KeyboardInterrupt):
        trainer(load_if_exists=True).train(data, steps=20)
    monkeypatch.setattr(SQLStorage, "write_round", real)
    folder = tmp_path / "ckpt"
    pop = popbt.load_population(name="vec", storage=f"sqlite:///{tmp_path / 'v.db'}")
    orphans = _files(folder) - _referenced(pop)
    assert len(orphans) == 1 and next(iter(orphans)).startswith("vec/population/"), orphans
    assert pop.gc().removed == ()  # too young for the default age
    done = pop.gc(min_age_s=0)
    assert set(done.unreferenced) == orphans and _files(folder) == _referenced(pop)
    resumed = trainer(load_if_exists=True)  # it resumes from its last recorded snapshot
    resumed.train(data, steps=20)
    assert resumed.step == 20


def test_gc_on_s3(make_pop, s3_bucket: str):
    import s3fs

    url = f"s3://{s3_bucket}/runs"
    pop = make_pop(checkpoints=url)
    pop.train(Quadratic, steps=10, progress=False)
    store = CheckpointStore(url)
    orphan, _, _ = store.save("test/m00000", 999, {"x": 1})  # written, never reported
    fs = s3fs.S3FileSystem()
    fs.pipe_file(f"{s3_bucket}/runs/test/m00001/.tmp-s0000000999-0123456789ab.npz", b"cut")
    assert pop.gc().removed == ()  # both just written
    done = pop.gc(min_age_s=0)
    assert set(done.removed) == {orphan, "test/m00001/.tmp-s0000000999-0123456789ab.npz"}
    left = {p.split("/runs/", 1)[1] for p in fs.find(f"{s3_bucket}/runs")}
    assert left == _referenced(pop)


def test_a_write_that_fails_on_a_full_disk_leaves_no_temporary_file(tmp_path: Path):
    with small_tmpfs(tmp_path / "small", "256k") as small:
        store = CheckpointStore(small)
        with pytest.raises(OSError, match="No space left"):
            store.save("t/m00000", 5, {"w": os.urandom(1 << 20)})
        assert [p for p in small.rglob("*") if p.is_file()] == []
