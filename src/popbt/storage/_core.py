"""What every part of `SQLStorage` shares: the opened storage, its transactions, and the one
way a statement of `_statements` is run.

Contract:
- `_read()` and `_write()` are one transaction each; `_write()` holds SQLite's write lock
  from its start (BEGIN IMMEDIATE).
- `_rows` and `_run` run a named statement on the driver's cursor. An error of the driver
  comes out as SQLAlchemy raises it (`OperationalError`, `IntegrityError`, ... with the
  driver's error as `orig`), so `_retry` judges every statement alike; a lost connection is
  invalidated, so that a retry opens a new one.
- A database of an older popbt, opened to read (`create=False`), is read as it is (the
  columns it lacks read as NULL, see `_upgrade`); a write that needs them adds them first
  (`_upgrade`), and a claim notices when another process has (`_notice_upgrade`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, StatementError

from popbt import _secrets
from popbt.errors import ConfigError, StorageError
from popbt.records import Member, MemberState
from popbt.storage._engine import WRITE, check_tables, create_engine, create_tables
from popbt.storage._statements import LOCKED, ROWS, SQL, old_statements
from popbt.storage._upgrade import add_missing, missing
from popbt.storage.base import PopulationRow
from popbt.storage.contract import Storage

# a population's peers as last read: (members' version, steps, fitness, oriented objectives)
PeerCache = tuple[int, np.ndarray, np.ndarray, dict[int, tuple[float, ...]]]


def dumps(obj: Any) -> str:
    """`obj` as compact JSON, as popbt stores it in TEXT columns."""
    return json.dumps(obj, separators=(",", ":"))


def owner(pop: PopulationRow, member_id: int, worker: str, token: int) -> dict[str, Any]:
    """The parameters that name a claim (`OWNED` in `_statements`)."""
    return {"p": pop.id, "m": member_id, "w": worker, "t": token}


def to_member(pop: PopulationRow, row: Any) -> Member:
    """The `Member` of a row of member columns (a `MemberRow`)."""
    metrics = json.loads(row.metrics)
    score = metrics.get(pop.settings.metric) if row.fitness is not None else None
    return Member(member_id=row.member_id, hparams=json.loads(row.hparams), step=row.step,
                  score=score, metrics=metrics, state=MemberState(row.state),
                  checkpoint_id=row.checkpoint_id, last_ready_step=row.last_ready_step,
                  ready_count=row.ready_count, failures=row.failures, error=row.error)


class SQLCore(Storage):
    """A SQL storage opened: its URLs, engines, statements and the copies of member records
    its decisions read (see `SQLStorage`, which adds every operation of the contract)."""

    def __init__(self, url: str, *, busy_timeout_s: float = 60.0, retry_s: float = 120.0,
                 create: bool = True) -> None:
        """Open (and if needed create the tables of) the storage at `url`.

        `shared_url` is then the URL that reaches the same storage from any process (a
        SQLite path made absolute). Transient errors are retried for `retry_s` seconds;
        SQLite waits up to `busy_timeout_s` for its write lock. With `create=False` (readers,
        and anything that joins an existing population) nothing is created or changed: no
        file, no table, no journal mode.

        Raises:
            ConfigError: `retry_s` is not a number of seconds >= 0.
            StorageError: the URL cannot be parsed or opened; with `create=False`, the SQLite
                file does not exist, or the database holds no popbt tables.
        """
        if not (isinstance(retry_s, int | float) and retry_s >= 0):
            raise ConfigError(f"retry_s={retry_s!r}: must be a number of seconds >= 0")
        self.url = url
        self.safe_url = _secrets.safe_url(url)
        self.retry_s = float(retry_s)
        self._secrets = _secrets.secrets_of(url) | {_secrets.password_of(url)} - {""}
        try:
            parsed = sa.engine.make_url(url)
        except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
            shown = _secrets.redact_url(url) if isinstance(exc, ValueError) else self.safe_url
            why = "; its port is not a number" if isinstance(exc, ValueError) else ""
            raise StorageError(f"cannot parse storage URL {shown!r}{why}; use "
                               f"sqlite:///path/to/file.db or "
                               f"postgresql+psycopg://user@host:5432/db") from None
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database in (None, "", ":memory:"):
            raise StorageError(f"storage {self.safe_url!r} is an in-memory SQLite database, "
                               f"which worker processes cannot share; use "
                               f"sqlite:///path/to/file.db")
        self.sqlite_path = parsed.database if self.is_sqlite else None
        if self.is_sqlite:  # the same file for workers that start in another folder
            parsed = parsed.set(database=os.path.abspath(str(parsed.database)))
            url = parsed.render_as_string(hide_password=False)
            if not create and not os.path.isfile(str(parsed.database)):
                raise StorageError(f"no storage at {self.safe_url} (the file does not exist); "
                                   f"check the path (or --storage / $POPBT_STORAGE), or "
                                   f"create a population there first with `popbt run`")
        self.shared_url = url
        try:
            self._engine = create_engine(url, sqlite=self.is_sqlite,
                                         busy_timeout_s=busy_timeout_s, wal=create)
            self._write_engine = self._engine.execution_options(**{WRITE: True})
            # a database of an older popbt, opened to read: read as it is (see `_upgrade`)
            self._old: frozenset[str] = frozenset()  # the columns it lacks
            if create:
                create_tables(self._write_engine, sqlite=self.is_sqlite,
                              busy_timeout_s=busy_timeout_s)
            else:
                self._old = frozenset(c for _, c, _ in check_tables(self._engine,
                                                                     self.safe_url))
        except (NoSuchModuleError, ArgumentError, ImportError) as exc:
            raise StorageError(f"cannot open storage {self.safe_url!r}: {exc}; use "
                               f"sqlite:///path/to/file.db, or postgresql+psycopg://... with "
                               f"pip install 'popbt[postgres]'") from None
        except DBAPIError as exc:
            raise StorageError(f"cannot open storage {self.safe_url!r}: "
                               f"{self.redact(str(exc.orig or exc))}") from None
        self._driver_error: type[Exception] = self._engine.dialect.loaded_dbapi.Error
        self._snapshots: dict[int, PeerCache] = {}
        self._sql = self._statements()

    def _statements(self) -> dict[str, str]:
        """Every statement of `_statements.SQL` as this storage's driver runs it; those of
        `old_statements` instead while the database lacks columns an older popbt did not
        make."""
        lock = "" if self.is_sqlite else " FOR UPDATE"
        named = self.is_sqlite  # sqlite3 takes :name; psycopg takes %(name)s
        chosen = {**SQL, **old_statements(self._old)} if self._old else SQL
        return {k: (v if named else re.sub(r":(\w+)", r"%(\1)s", v))
                + (lock if k in LOCKED else "") for k, v in chosen.items()}

    def _upgrade(self) -> None:
        """Before a write that needs them, add the columns a database of an older popbt
        lacks (in a transaction of its own), and use the statements that read them."""
        if self._old:
            with self._write() as conn:
                add_missing(conn, sqlite=self.is_sqlite)
            self._old = frozenset()
            self._sql = self._statements()

    def _has_league(self) -> bool:
        """Whether the database has the league's tables (one of an older popbt, opened to
        read, may not: see `_upgrade`)."""
        return "popbt_league_entries" not in self._old

    def _notice_upgrade(self) -> None:
        """On a database of an older popbt read as it is: once another process has added
        the columns it lacked, use the statements that read them."""
        if self._old:
            with self._read() as conn:
                lacking = frozenset(c for _, c, _ in missing(conn))
            if lacking != self._old:
                self._old = lacking
                self._sql = self._statements()

    def redact(self, text: str) -> str:
        """`text` with this storage's password and other secrets of its URL (see
        `popbt._secrets`), wherever they appear, replaced by ***."""
        return _secrets.hide(text, self._secrets)

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A transaction that reads."""
        with self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction that writes (on SQLite, holding the write lock from its start)."""
        with self._write_engine.begin() as conn:
            yield conn

    def _rows(self, conn: Connection, name: str, params: Mapping[str, Any]) -> list[Any]:
        """The rows of statement `name`: as its record in `_statements.ROWS` (a `MemberRow`,
        ...), or as tuples."""
        cur: Any = conn.connection.cursor()
        try:
            cur.execute(self._sql[name], params)
            rows = cur.fetchall() if cur.description is not None else []
        except self._driver_error as exc:
            raise self._wrapped(conn, cur, name, params, exc) from exc
        finally:
            cur.close()
        record = ROWS.get(name)
        return rows if record is None else [record._make(r) for r in rows]

    def _run(self, conn: Connection, name: str,
             params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
        """Run statement `name` (once per parameter set for a list of them); its rowcount."""
        cur: Any = conn.connection.cursor()
        try:
            if isinstance(params, Mapping):
                cur.execute(self._sql[name], params)
            else:
                cur.executemany(self._sql[name], params)
            count: int = cur.rowcount
        except self._driver_error as exc:
            raise self._wrapped(conn, cur, name, params, exc) from exc
        finally:
            cur.close()
        return count

    def _wrapped(self, conn: Connection, cur: Any, name: str, params: Any,
                 exc: Any) -> StatementError:
        """The driver's error `exc` as SQLAlchemy raises it; a lost connection is
        invalidated first."""
        dialect = conn.dialect
        lost = dialect.is_disconnect(exc, conn.connection.dbapi_connection, cur)
        if lost:
            conn.invalidate(exc)
        return DBAPIError.instance(self._sql[name], params, exc, self._driver_error,
                                   connection_invalidated=lost, dialect=dialect,
                                   ismulti=not isinstance(params, Mapping))

    def _bump(self, conn: Connection, pop: PopulationRow) -> int:
        """The population's next version: rows a transaction changes are stamped with it.
        The population row's lock orders versions as commits, so a reader that has seen
        version v needs only the rows stamped above v."""
        version: int = self._rows(conn, "bump", {"p": pop.id})[0][0]
        return version
