"""A checkpoint path read from the database never reaches outside the checkpoint root: not
for reading, not for deleting (garbage collection), on a local folder, a file:// URL and
memory://; and a whole population whose rows were tampered with keeps the files outside."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from pathlib import Path

import numpy as np
import pytest

import popbt
from popbt.checkpoints import CheckpointStore, unsafe_path
from popbt.errors import CheckpointError, ConfigError
from trainables import Quadratic

# (an absolute path into the test's own folder is added by each test: never a system file,
# which code that failed this test would delete when run as root)
BAD = ["../victim.npz", "../../victim.npz", "run/../../victim.npz", "run//x.npz",
       "run/./x.npz", ".", "", "run\\..\\x.npz", "run/x\x00.npz", "run/.."]


@pytest.fixture(params=["local-dir", "file-url", "memory"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    folder = tmp_path / "a" / "b" / "root"
    folder.mkdir(parents=True)
    if request.param == "memory":
        return f"memory://confine-{uuid.uuid4().hex}/root"
    return folder.as_uri() if request.param == "file-url" else str(folder)


def test_unsafe_paths_are_named():
    assert unsafe_path("pop/m00001/s0000000005-0123456789ab.npz") is None
    for rel in [*BAD, "/abs/victim.npz"]:
        assert unsafe_path(rel) is not None, rel
    assert unsafe_path(None) is not None


def test_load_refuses_paths_outside_the_root(root: str, tmp_path: Path):
    store = CheckpointStore(root)
    victim = tmp_path / "a" / "victim.npz"  # = root/../../victim.npz on a local root
    victim.write_bytes(b"not yours")
    rel, checksum, _ = store.save("pop/m00000", 5, {"x": np.arange(3)})
    assert np.array_equal(store.load(rel, checksum)["x"], np.arange(3))
    for bad in [*BAD, str(victim)]:
        with pytest.raises(CheckpointError, match="refusing to read") as info:
            store.load(bad, checksum)
        assert repr(bad) in str(info.value)


def test_delete_never_removes_anything_outside_the_root(root: str, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture):
    store = CheckpointStore(root)
    victims = [tmp_path / "a" / "victim.npz", tmp_path / "a" / "b" / "victim.npz"]
    for v in victims:
        v.write_bytes(b"not yours")
    rel, _, _ = store.save("pop/m00000", 5, {"x": 1})
    with caplog.at_level(logging.WARNING, logger="popbt.checkpoints"):
        store.delete([*BAD, str(victims[1]), rel])
    assert all(v.read_bytes() == b"not yours" for v in victims)
    assert store.files("pop") == []  # the safe one went
    assert len(caplog.records) == len(BAD) + 1
    assert "not deleting checkpoint path '../../victim.npz'" in caplog.text


def test_save_refuses_a_folder_outside_the_root(root: str, tmp_path: Path):
    store = CheckpointStore(root)
    for folder in ("../out", str(tmp_path / "abs"), "a//b", "a\\b"):
        with pytest.raises(ConfigError, match="only inside the root"):
            store.save(folder, 1, {"x": 1})


@pytest.mark.parametrize("kind", ["local-dir", "file-url"])
def test_symlinks_leading_out_are_refused(tmp_path: Path, kind: str,
                                          caplog: pytest.LogCaptureFixture):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "pop").mkdir(parents=True)
    outside.mkdir()
    store = CheckpointStore(root if kind == "local-dir" else root.as_uri())
    rel, checksum, _ = CheckpointStore(outside).save("x", 1, {"x": 1})
    (root / "pop" / "link").symlink_to(outside / "x")
    inside = "pop/link/" + rel.split("/", 1)[1]
    with pytest.raises(CheckpointError, match="through a symlink"):
        store.load(inside, checksum)
    with caplog.at_level(logging.WARNING, logger="popbt.checkpoints"):
        store.delete([inside])
    assert (outside / rel).is_file() and "through a symlink" in caplog.text


def test_a_tampered_database_neither_reads_nor_deletes_outside(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture):
    """Rows written into the database that point outside the root: the garbage collection of
    training on (a worker deletes the files of rows it made obsolete) skips them, and loading
    a member whose row points outside fails naming the path."""
    db = tmp_path / "popbt.db"
    pop = popbt.create_population(name="t", storage=f"sqlite:///{db}",
                                  space=popbt.Space({"lr": popbt.LogUniform(1e-3, 1.0),
                                                     "noise": popbt.Uniform(0.0, 0.1)}),
                                  size=2, metric="score", ready=popbt.Every(steps=5),
                                  checkpoints=tmp_path / "ckpt", keep_checkpoints=1)
    pop.train(Quadratic, steps=10)
    victims = [tmp_path / "victim.npz", tmp_path / "abs-victim.npz"]
    for v in victims:
        v.write_bytes(b"not yours")
    with sqlite3.connect(db) as conn:  # obsolete-to-be rows of member 0, pointing outside
        columns = [r[1] for r in conn.execute("PRAGMA table_info(popbt_checkpoints)")
                   if r[1] not in ("id", "path")]
        (current,) = conn.execute("SELECT checkpoint_id FROM popbt_members "
                                  "WHERE member_id = 0").fetchone()
        for path in ("../victim.npz", str(victims[1])):
            conn.execute(f"INSERT INTO popbt_checkpoints (path, {', '.join(columns)}) SELECT "
                         f"?, {', '.join(columns)} FROM popbt_checkpoints WHERE id = ?",
                         (path, current))
    with caplog.at_level(logging.WARNING, logger="popbt.checkpoints"):
        pop.train(Quadratic, steps=20)  # member 0's reports make those rows obsolete
    assert all(v.read_bytes() == b"not yours" for v in victims)
    assert "not deleting checkpoint path '../victim.npz'" in caplog.text
    assert f"not deleting checkpoint path '{victims[1]}'" in caplog.text
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM popbt_checkpoints WHERE path LIKE '%victim%'"
                            ).fetchone() == (0,)  # the rows went; the files outside stayed
        conn.execute("UPDATE popbt_checkpoints SET path = '../victim.npz' WHERE id = "
                     "(SELECT checkpoint_id FROM popbt_members WHERE member_id = 1)")
    with pytest.raises(CheckpointError, match=r"'\.\./victim\.npz'.*refusing to read"):
        pop.load(1, trainable=Quadratic)
    assert victims[0].read_bytes() == b"not yours"
