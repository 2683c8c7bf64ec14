"""Errors no wait can cure (a full disk, a read-only database) fail at once with a
`StorageError` naming the cause, instead of being retried for minutes like a dropped
connection: on real small filesystems (tmpfs, mounted by the test as root) and a real
PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import popbt
from checks import small_tmpfs
from pgserver import PASSWORD, USER, PostgresServer
from popbt.decider import Decider
from popbt.storage.base import Report
from popbt.storage.sql import SQLStorage
from trainables import SPACE

RETRY_S = 60.0  # what a transient error would be retried for
FAST_S = 10.0  # a permanent one must fail well within this


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs mounted in the test's folder (root only), unmounted afterwards."""
    with small_tmpfs(tmp_path / "small", "1m") as where:
        yield where


def _population(url: str, tmp_path: Path) -> popbt.Population:
    return popbt.create_population(name="p", storage=SQLStorage(url, retry_s=RETRY_S),
                                   space=SPACE, size=2, metric="score",
                                   ready=popbt.Every(steps=5), checkpoints=tmp_path / "ckpt")


def _fails_fast(pop: popbt.Population, match: str, writes: int = 200) -> popbt.StorageError:
    """Write (100 kB of incompressible text each time) until the database refuses; the
    refusal must come at once, as a StorageError."""
    row = pop.row
    with pytest.raises(popbt.StorageError, match=match) as info:
        for _ in range(writes):
            started = time.monotonic()
            pop.storage.set_error(row, os.urandom(50_000).hex())
    assert time.monotonic() - started < FAST_S, "a permanent error was retried"
    assert "not retried" in str(info.value)
    return info.value


def test_a_full_disk_under_sqlite_fails_at_once(tmpfs: Path, tmp_path: Path):
    pop = _population(f"sqlite:///{tmpfs / 'full.db'}", tmp_path)
    error = _fails_fast(pop, "the database or its disk is full")
    assert "full.db" in str(error) and "set_error" in str(error)
    pop.storage.close()


def test_a_read_only_sqlite_file_fails_at_once_and_still_reads(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.fail("a read-only bind mount needs root (CI runs as root)")
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    writer = _population(f"sqlite:///{rw / 'p.db'}", tmp_path)
    writer.members  # noqa: B018 - keeps a connection (and the WAL index) open
    try:
        _mount("--bind", str(rw), str(ro))
        _mount("-o", "remount,bind,ro", str(ro))
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"cannot bind-mount read-only here: {exc.stderr.decode().strip()}")
    try:
        reader = popbt.load_population(name="p", storage=SQLStorage(
            f"sqlite:///{ro / 'p.db'}", create=False, retry_s=RETRY_S))
        assert [m.step for m in reader.members] == [0, 0]  # reading works
        _fails_fast(reader, "the database is read-only")
        reader.storage.close()
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
    writer.storage.close()


def test_a_statement_the_database_refuses_fails_at_once(tmp_path: Path):
    """Statements run on the driver's cursor, and its errors are judged like any other: a
    report that writes into a table that is gone fails at once, naming the cause."""
    pop = _population(f"sqlite:///{tmp_path / 'p.db'}", tmp_path)
    store, row = pop.storage, pop.row
    store.set_target(row, 10)
    held = store.claim(row, worker="w", lease_s=30.0, now=time.time(),
                       decide=Decider(pop.settings))
    assert held is not None
    with sqlite3.connect(tmp_path / "p.db") as conn:
        conn.execute("DROP TABLE popbt_scores")
    started = time.monotonic()
    with pytest.raises(popbt.StorageError, match="refused the statement") as info:
        store.report(row, Report(
            member_id=held.member.member_id, worker="w", token=held.token, step=5, score=1.0,
            fitness=1.0, metrics={"score": 1.0}, checkpoint_path="m0/s5.npz",
            checksum="0" * 64, size=1, ready=False, decide=False, keep_checkpoints=3),
            now=time.time())
    assert time.monotonic() - started < FAST_S
    assert "no such table: popbt_scores" in str(info.value) and "report" in str(info.value)
    assert store.member(row, held.member.member_id).step == 0  # nothing of it was kept
    store.close()


@pytest.mark.postgres
def test_a_read_only_postgres_database_fails_at_once(pg_url: str, tmp_path: Path):
    pop = _population(pg_url, tmp_path)
    database = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql"),
                         autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {database} SET default_transaction_read_only = on")
    pop.storage.close()  # new sessions are read-only
    error = _fails_fast(pop, "the database is read-only")
    assert "read-only transaction" in str(error) and PASSWORD not in str(error)


@pytest.fixture
def pg_small_tablespace(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[str]:
    """The URL of a database in a tablespace on a 20 MB tmpfs (root only)."""
    if os.geteuid() != 0:
        pytest.fail("mounting a small filesystem needs root (CI runs as root)")
    postgres_server.start_if_stopped()
    where = Path(f"/tmp/popbt-small-{uuid.uuid4().hex[:8]}")  # the server must reach it
    where.mkdir()
    try:
        _mount("-t", "tmpfs", "-o", "size=20m,mode=0700", "tmpfs", str(where))
    except subprocess.CalledProcessError as exc:
        where.rmdir()
        pytest.fail(f"cannot mount a tmpfs here: {exc.stderr.decode().strip()}")
    shutil.chown(where, "postgres", "postgres")
    name = f"full{uuid.uuid4().hex[:6]}"
    admin = psycopg.connect(host="127.0.0.1", port=postgres_server.port, user=USER,
                            password=PASSWORD, dbname="postgres", autocommit=True)
    try:
        admin.execute(f"CREATE TABLESPACE {name} LOCATION '{where}'")
        admin.execute(f"CREATE DATABASE {name} TABLESPACE {name}")
        yield postgres_server.url(name)
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"DROP TABLESPACE IF EXISTS {name}")
        admin.close()
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


@pytest.mark.postgres
def test_a_full_postgres_disk_fails_at_once(pg_small_tablespace: str, tmp_path: Path):
    pop = _population(pg_small_tablespace, tmp_path)
    error = _fails_fast(pop, "the database server's disk is full", writes=2000)
    assert "could not extend file" in str(error) and PASSWORD not in str(error)
    pop.storage.close()
