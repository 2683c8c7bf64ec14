"""Checkpoints under fsspec URLs (memory://, file://, s3:// through a local S3 server) and
under a plain directory: round trips, atomic publication, checksums, errors without
credentials, and whole populations (in-process, worker processes, vectorized) on them."""

from __future__ import annotations

import hashlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fsspec.core import url_to_fs
from fsspec.registry import known_implementations

import popbt
from popbt.checkpoints import CheckpointStore, redact_url
from popbt.errors import CheckpointError, ConfigError
from popbt.records import EventKind, MemberState
from popbt.vectorized import VectorizedPopulation
from trainables import Quadratic


@pytest.fixture
def memory_url() -> Iterator[str]:
    """A fresh prefix in this process's fsspec memory filesystem, removed afterwards."""
    url = f"memory://popbt-tests/{uuid.uuid4().hex}"
    yield url
    fs, base = url_to_fs(url)
    if fs.exists(base):
        fs.rm(base, recursive=True)


@pytest.fixture(params=["memory", "file-url", "local-dir"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A checkpoint root of each kind: memory:// URL, file:// URL, plain directory."""
    if request.param == "memory":
        return request.getfixturevalue("memory_url")
    folder = tmp_path / "ckpts"
    return folder.as_uri() if request.param == "file-url" else str(folder)


def objects(root: str) -> list[str]:
    """Every object under `root`, as paths relative to it (sorted)."""
    fs, base = url_to_fs(root)
    base = base.rstrip("/")
    return sorted(p[len(base) + 1:] for p in fs.find(base))


def raw(root: str, rel: str) -> tuple[Any, str]:
    """(filesystem, path) of one stored object, to corrupt or remove it behind the store."""
    fs, base = url_to_fs(root)
    return fs, f"{base.rstrip('/')}/{rel}"


# ---------------------------------------------------------------------------------------------
# the store on every kind of root


def test_save_load_delete_round_trip(root: str) -> None:
    store = CheckpointStore(root)
    state = {"w": np.arange(12.0).reshape(3, 4), "step": 7, "name": "m", "t": (1, b"xy")}
    rel, checksum, size = store.save("run/m00003", 400, state)
    assert rel.startswith("run/m00003/s0000000400-") and rel.endswith(".npz")
    fs, path = raw(root, rel)
    data = fs.cat_file(path)
    assert checksum == hashlib.sha256(data).hexdigest() and size == len(data)
    loaded = store.load(rel, checksum)
    assert np.array_equal(loaded["w"], state["w"])
    assert {k: loaded[k] for k in ("step", "name", "t")} == {"step": 7, "name": "m",
                                                             "t": (1, b"xy")}
    other, other_sum, _ = store.save("run/m00004", 400, {"x": 1})
    store.delete([rel, "run/m00003/never-existed.npz", rel])
    assert objects(root) == [other]
    assert store.load(other, other_sum) == {"x": 1}
    store.delete([other])
    assert objects(root) == []


def test_no_temporary_objects_are_left(root: str) -> None:
    store = CheckpointStore(root)
    rels = [store.save(f"run/m{i % 3}", i, {"w": np.full(10, i)})[0] for i in range(9)]
    assert objects(root) == sorted(rels)
    assert not any("tmp" in r for r in objects(root))


def test_torch_state_round_trip(root: str) -> None:
    store = CheckpointStore(root)
    state = {"weight": torch.randn(4, 3), "step": torch.tensor(5), "meta": {"lr": 0.1}}
    rel, checksum, _ = store.save("run/m0", 5, state)
    assert rel.endswith(".pt")
    loaded = store.load(rel, checksum)
    assert torch.equal(loaded["weight"], state["weight"])
    assert int(loaded["step"]) == 5 and loaded["meta"] == {"lr": 0.1}
    assert objects(root) == [rel]


@pytest.mark.parametrize("kind", ["memory", "file-url"])
def test_url_roots_publish_only_complete_objects(kind: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 request: pytest.FixtureRequest) -> None:
    """The bytes go to a temporary name; the final name appears only by the move."""
    url = request.getfixturevalue("memory_url") if kind == "memory" else tmp_path.as_uri()
    store = CheckpointStore(url)
    fs = store._files.fs
    calls: list[tuple[str, str, str]] = []
    pipe, move = fs.pipe_file, fs.mv

    def recording_pipe(path: str, data: bytes, **kwargs: Any) -> None:
        calls.append(("write", path, ""))
        pipe(path, data, **kwargs)

    def recording_mv(src: str, dst: str, **kwargs: Any) -> None:
        assert not fs.exists(dst), "the final name existed before the move"
        calls.append(("move", src, dst))
        move(src, dst, **kwargs)

    monkeypatch.setattr(fs, "pipe_file", recording_pipe)
    monkeypatch.setattr(fs, "mv", recording_mv)
    rel, checksum, _ = store.save("run/m0", 3, {"w": np.ones(5)})
    final = raw(url, rel)[1]
    assert [c[0] for c in calls][-2:] == ["write", "move"]
    tmp = calls[-1][1]
    assert calls[-2][1] == tmp != final and Path(tmp).name == f".tmp-{Path(final).name}"
    assert calls[-1][2] == final and not fs.exists(tmp)
    assert np.array_equal(store.load(rel, checksum)["w"], np.ones(5))


def test_corrupted_object_fails_the_checksum(root: str) -> None:
    store = CheckpointStore(root)
    rel, checksum, size = store.save("run/m0", 5, {"w": np.arange(100.0)})
    fs, path = raw(root, rel)
    corrupted = bytearray(fs.cat_file(path))
    corrupted[size // 2] ^= 0x01
    fs.pipe_file(path, bytes(corrupted))
    with pytest.raises(CheckpointError, match="checksum") as err:
        store.load(rel, checksum)
    assert rel in str(err.value)
    with pytest.raises(CheckpointError, match="checksum"):
        store.load(store.save("run/m0", 6, {"x": 1})[0], "0" * 64)


def test_missing_object_names_the_full_location(root: str) -> None:
    store = CheckpointStore(root)
    rel, checksum, _ = store.save("run/m0", 1, {"x": 1})
    fs, path = raw(root, rel)
    fs.rm_file(path)
    with pytest.raises(CheckpointError, match="missing") as err:
        store.load(rel, checksum)
    where = f"{root}/{rel}" if "://" in root else str(Path(root) / rel)
    assert repr(where) in str(err.value)


def test_a_url_root_is_kept_and_a_directory_stays_local(tmp_path: Path,
                                                         memory_url: str) -> None:
    assert CheckpointStore(memory_url).root == memory_url
    assert CheckpointStore(tmp_path / "d").root == tmp_path / "d"
    url = (tmp_path / "f").as_uri()
    rel, checksum, _ = CheckpointStore(url).save("a/b", 0, {"x": None})
    assert (tmp_path / "f" / rel).is_file()  # file:// writes the same files as a directory
    assert CheckpointStore(tmp_path / "f").load(rel, checksum) == {"x": None}


# ---------------------------------------------------------------------------------------------
# configuration errors and credentials


def test_unknown_protocol_is_a_config_error(db_url: str, make_pop) -> None:
    with pytest.raises(ConfigError, match="'nosuchproto'") as err:
        CheckpointStore("nosuchproto://bucket/prefix")
    assert "install" in str(err.value)
    with pytest.raises(ConfigError, match="'nosuchproto'"):
        make_pop(checkpoints="nosuchproto://bucket/prefix")
    # refused before the population was created
    with pytest.raises(ConfigError, match="test"):
        popbt.load_population(name="test", storage=db_url)


def test_protocol_without_its_package_names_the_package(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(known_implementations, "fakeproto",
                        {"class": "popbt_no_such_module.FakeFileSystem",
                         "err": "Install fakefs to access fakeproto"})
    with pytest.raises(ConfigError, match="'fakeproto'.*Install fakefs"):
        CheckpointStore("fakeproto://bucket/prefix")


def test_missing_fsspec_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "fsspec.core", None)
    with pytest.raises(ConfigError, match=r"pip install 'popbt\[remote\]'") as err:
        CheckpointStore("s3://KEY:hunter2@bucket/prefix")
    assert "s3://KEY:***@bucket/prefix" in str(err.value)
    assert "hunter2" not in str(err.value)


@pytest.mark.parametrize(("url", "shown"), [
    ("s3://KEY:SECRET@bucket/x", "s3://KEY:***@bucket/x"),
    ("ftp://user:pass@host:21/x", "ftp://user:***@host:21/x"),
    ("https://token@host/x", "https://***@host/x"),
    ("s3://K:S@b?x=1", "s3://K:***@b?x=1"),
    ("s3://bucket/run@v2/x", "s3://bucket/run@v2/x"),
    ("memory://bucket/x", "memory://bucket/x"),
    ("/plain/path@x", "/plain/path@x"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_credentials_never_appear_in_errors(memory_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as err:
        CheckpointStore("nosuchproto://admin:hunter2@host/x")
    assert "hunter2" not in str(err.value) and "admin:***@host" in str(err.value)
    url = memory_url.replace("memory://", "memory://admin:hunter2@")
    store = CheckpointStore(url)
    with pytest.raises(CheckpointError, match="missing") as err:
        store.load("run/m0/s0000000001-000000000000.npz", "0" * 64)
    assert "hunter2" not in str(err.value)
    assert "memory://admin:***@popbt-tests/" in str(err.value)

    def refuse(path: str, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(f"access denied to {path}")  # quotes the credentials

    rel, checksum, _ = store.save("run/m0", 1, {"x": 1})
    for method in ("cat_file", "pipe_file", "rm_file"):
        monkeypatch.setattr(store._files.fs, method, refuse)
    for attempt in (lambda: store.load(rel, checksum), lambda: store.save("run/m0", 2, {}),
                    lambda: store.delete([rel])):
        with pytest.raises(CheckpointError, match="PermissionError") as err:
            attempt()
        assert "hunter2" not in str(err.value) and "admin:***@" in str(err.value)


# ---------------------------------------------------------------------------------------------
# whole populations on URL roots


def check_population(pop: popbt.Population, root: str, target: int) -> None:
    """Every member done at `target`; exploits happened; every member's checkpoint is stored
    under `root`, loadable and restores the recorded score; no temporary object is left."""
    assert pop.row.checkpoint_root == root
    assert pop.events(kinds=[EventKind.EXPLOIT]), "truncation never exploited"
    store = CheckpointStore(root)
    stored = objects(root)
    assert not any("tmp" in r for r in stored)
    for m in pop.members:
        assert m.step == target and m.state is MemberState.DONE
        row = pop.storage.checkpoint(pop.row, m.checkpoint_id)
        assert row.path in stored
        assert store.load(row.path, row.checksum)["steps"] == target
        assert pop.load(m.member_id, trainable=Quadratic).evaluate()["score"] == m.score


def test_in_process_population_on_memory_url(make_pop, memory_url: str) -> None:
    pop = make_pop(checkpoints=memory_url + "/")  # the trailing '/' is dropped
    best = pop.train(Quadratic, steps=40, workers=1)
    check_population(pop, memory_url, 40)
    assert best is not None and best.score > -1e-3
    # garbage collection works on the URL root too: keep_checkpoints=3 per member at most
    assert len(objects(memory_url)) <= 6 * 3


def test_two_worker_processes_on_a_file_url(make_pop, tmp_path: Path) -> None:
    folder = tmp_path / "shared-ckpts"
    pop = make_pop(checkpoints=folder.as_uri())
    pop.train(Quadratic, steps=30, workers=2, progress=False)
    check_population(pop, folder.as_uri(), 30)
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert on_disk == set(objects(folder.as_uri()))
    assert {rel.split("/")[1] for rel in on_disk} == {f"m{i:05d}" for i in range(6)}


def mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))


def blobs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """A small synthetic 3-class problem: the class is the argmax of a fixed projection."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(400, 8, generator=gen)
    y = (x @ torch.randn(8, 3, generator=gen)).argmax(1)
    return {"train": (x[:300], y[:300]), "val": (x[300:], y[300:])}


def vectorized(url: str, checkpoints: str, **overrides: Any) -> VectorizedPopulation:
    return VectorizedPopulation(
        model_fn=mlp, size=4, space=popbt.Space({"lr": popbt.LogUniform(1e-3, 0.5)}),
        optimizer="sgd", metric="accuracy", ready=popbt.Every(steps=10),
        exploit=popbt.Truncation(0.25), name="vec", storage=url, seed=0,
        checkpoints=checkpoints, **overrides)


def test_vectorized_population_snapshots_to_memory_and_resumes(tmp_path: Path,
                                                               memory_url: str) -> None:
    """Snapshots to memory://, resumed by a new trainer, give the same run as one whole run
    with a local directory."""
    whole = vectorized(f"sqlite:///{tmp_path / 'a.db'}", str(tmp_path / "local"))
    whole.train(blobs(), steps=60)
    url = f"sqlite:///{tmp_path / 'b.db'}"
    vectorized(url, memory_url).train(blobs(), steps=30)
    snapshots = objects(memory_url)
    assert snapshots and all(r.startswith("vec/population/") for r in snapshots)
    resumed = vectorized(url, memory_url, load_if_exists=True)
    assert resumed.step == 30
    resumed.train(blobs(), steps=60)
    assert torch.equal(whole.flat, resumed.flat)
    assert resumed.population.events(kinds=[EventKind.EXPLOIT])
    assert [s.score for s in whole.population.scores()] == \
        [s.score for s in resumed.population.scores()]
    assert len(objects(memory_url)) <= 3  # keep_checkpoints
    assert not any("tmp" in r for r in objects(memory_url))


# ---------------------------------------------------------------------------------------------
# a real S3 endpoint: moto's server on loopback, through s3fs


def test_population_on_a_local_s3_server(make_pop, s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/runs/pbt"
    pop = make_pop(checkpoints=url)
    pop.train(Quadratic, steps=30, workers=1)
    check_population(pop, url, 30)
    store = CheckpointStore(url)
    with pytest.raises(CheckpointError, match="missing") as err:
        store.load("test/m00000/s0000000001-000000000000.npz", "0" * 64)
    assert f"'{url}/test/m00000/" in str(err.value)


def test_memory_checkpoints_are_refused_for_worker_processes(make_pop):
    pop = make_pop(checkpoints="memory://popbt-refused")
    with pytest.raises(popbt.ConfigError, match="this process's memory"):
        pop.train(Quadratic, steps=5, workers=2, progress=False)
    assert all(m.step == 0 for m in pop.members)
