"""A database made by an older popbt (without the columns of `_upgrade.ADDED` and the
league's tables) still opens: readers read it as it is, changing nothing, and the first write
that needs a new column or table adds it; a reader notices a column another process added."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import popbt
from popbt.storage._schema import LEAGUE_TABLES
from popbt.storage.sql import SQLStorage
from popbt.testing._helpers import NEVER
from trainables import SPACE, Quadratic


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A storage whose population "old" was trained 10 steps by a popbt without the
    `stopped` and elite columns and the league's tables (made now, then dropped)."""
    url = (request.getfixturevalue("pg_url") if request.param == "postgres"
           else f"sqlite:///{tmp_path / 'old.db'}")
    pop = popbt.create_population(name="old", storage=url, space=SPACE, size=3,
                                  metric="score", ready=popbt.Every(steps=5),
                                  checkpoints=tmp_path / "ckpt")
    pop.train(Quadratic, steps=10, progress=False)
    pop.storage.close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for column in ("stopped", "elite_checkpoint_id", "elite_fitness", "elite"):
            conn.exec_driver_sql(f"ALTER TABLE popbt_populations DROP COLUMN {column}")
        for table in LEAGUE_TABLES:
            conn.exec_driver_sql(f"DROP TABLE {table}")
    engine.dispose()
    return url


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def columns(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {c["name"] for c in sa.inspect(conn).get_columns("popbt_populations")}
    finally:
        engine.dispose()


def test_a_reader_reads_an_old_database_as_it_is(old_url):
    pop = popbt.load_population(name="old", storage=old_url)
    assert pop.row.stopped is None
    assert [m.step for m in pop.members] == [10, 10, 10]
    assert len(pop.scores()) == 6 and pop.best is not None
    assert pop.storage.entries(pop.row) == [] and pop.storage.matches(pop.row) == []
    assert pop.storage.ratings(pop.row) == {}
    pop.storage.close()
    assert "stopped" not in columns(old_url)
    assert not set(LEAGUE_TABLES) & tables(old_url)


def test_a_writer_adds_the_missing_column(old_url):
    store = SQLStorage(old_url)
    assert store.find_population("old").stopped is None
    store.close()
    assert "stopped" in columns(old_url)


def test_training_through_a_reader_adds_the_column_and_can_stop(old_url):
    pop = popbt.load_population(name="old", storage=old_url)
    pop.train(Quadratic, steps=100, progress=False, stop=popbt.Plateau(rounds=1, min_delta=1e9))
    best = pop.best
    assert best is not None and best.score is not None
    assert pop.row.stopped == (f"plateau: best {best.score:.6g} not improved by more than "
                               f"1e+09 in 1 ready rounds")
    assert {"stopped", "elite_checkpoint_id", "elite_fitness", "elite"} <= columns(old_url)
    assert set(LEAGUE_TABLES) <= tables(old_url)
    assert {m.step for m in pop.members} == {15}
    pop.train(Quadratic, steps=100, progress=False)
    assert {m.step for m in pop.members} == {100}
    pop.storage.close()


def test_a_reader_notices_a_column_added_by_another_process(old_url):
    reader = SQLStorage(old_url, create=False)
    row = reader.find_population("old")
    writer = SQLStorage(old_url)
    writer.set_target(row, 20)
    writer.set_stopped(row, "stopped elsewhere")
    assert reader.claim(row, worker="w", lease_s=30.0, now=time.time(), decide=NEVER) is None
    assert reader.refresh(row).stopped == "stopped elsewhere"
    writer.set_target(row, 20)
    assert reader.claim(row, worker="w", lease_s=30.0, now=time.time(),
                        decide=NEVER) is not None
    reader.close()
    writer.close()


def test_a_reader_reads_the_columns_a_database_has(tmp_path):
    """A database that lacks only the newest columns (the elite's) still shows when it was
    stopped and its trainable, read as it is."""
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    pop = popbt.create_population(name="newer", storage=url, space=SPACE, size=2,
                                  metric="score", ready=popbt.Every(steps=5))
    pop.train(Quadratic, steps=5, progress=False)
    pop.storage.set_stopped(pop.row, "time budget: done")
    pop.storage.close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for column in ("elite_checkpoint_id", "elite_fitness", "elite"):
            conn.exec_driver_sql(f"ALTER TABLE popbt_populations DROP COLUMN {column}")
    engine.dispose()
    reader = popbt.load_population(name="newer", storage=url)
    assert reader.row.stopped == "time budget: done"
    assert reader.row.trainable is not None and reader.row.trainable.endswith("Quadratic")
    reader.storage.close()
    assert "elite" not in columns(url)
