"""Opening a SQL storage: its engine, and its tables created (writers) or checked (readers).

Contract:
- On SQLite every connection waits up to the busy timeout for a lock, uses synchronous =
  NORMAL and, unless opened to read only, the WAL journal; popbt issues BEGIN itself, and a
  write transaction begins with BEGIN IMMEDIATE (one writer at a time), so that no
  read-then-write transaction ever fails with "database is locked".
- Creating the tables creates only those that are missing, adds the columns a database of
  an older popbt lacks (see `_upgrade`), and processes that do it at the same moment all
  succeed.
- Checking the tables changes nothing and refuses a database without popbt's tables; it
  names the columns an older popbt's database lacks.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from popbt.errors import StorageError
from popbt.storage._schema import LEAGUE_TABLES, metadata
from popbt.storage._upgrade import add_missing, missing

SCHEMA_LOCK = 0x706F7062  # the PostgreSQL advisory lock held while tables are created
WRITE = "popbt_write"  # the execution option of a write engine (BEGIN IMMEDIATE on SQLite)


def create_engine(url: str, *, sqlite: bool, busy_timeout_s: float, wal: bool) -> Engine:
    """The engine of `url`; on SQLite each connection sets the busy timeout and, with `wal`,
    the WAL journal (a setting stored in the file, so readers leave it as it is)."""
    if not sqlite:
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # popbt issues BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        if wal:
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def create_tables(engine: Engine, *, sqlite: bool, busy_timeout_s: float) -> None:
    """Create the tables that are missing, with the write engine `engine`. Processes that
    open a new SQLite file at the same moment all succeed: switching it to WAL can be refused
    at once as "locked" (the busy timeout does not cover it), which is retried for up to
    `busy_timeout_s`; on PostgreSQL an advisory lock orders the creators."""
    deadline, pause = time.monotonic() + busy_timeout_s, 0.01
    while True:
        try:
            with engine.begin() as conn:
                if not sqlite:
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
                metadata.create_all(conn)
                add_missing(conn, sqlite=sqlite)
            return
        except OperationalError as exc:
            if not (sqlite and "locked" in str(exc.orig)) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def check_tables(engine: Engine, safe_url: str) -> list[tuple[str, str, str]]:
    """Refuse a database without popbt's tables (a storage opened with `create=False`);
    `safe_url` names it in the message. Returns what of `_upgrade` it lacks (`missing`).

    Raises:
        StorageError: a table is missing (the engine is disposed of first).
    """
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        absent = [t for t in metadata.tables
                  if t not in LEAGUE_TABLES and not inspector.has_table(t)]
        columns = [] if absent else missing(conn)
    if absent:
        engine.dispose()
        what = ("none of popbt's tables"
                if len(absent) == len(metadata.tables) - len(LEAGUE_TABLES)
                else f"no table {', '.join(absent)}")
        raise StorageError(f"no popbt storage at {safe_url}: the database has {what}; check "
                           f"the URL, or create a population there first with `popbt run`")
    return columns
