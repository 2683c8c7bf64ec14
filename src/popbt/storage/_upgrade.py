"""Columns and tables added to popbt's storage after its first version, and how a database
made by an older popbt gets them.

Contract:
- `ADDED` lists every column added since the tables were first created, as (table, column,
  SQL type, or `BINARY` for bytes); each is nullable, so the rows written before it read as
  NULL. `_schema.LEAGUE_TABLES` are tables added since: a database without them has no
  league.
- `missing` changes nothing: it names the columns of `ADDED` a database lacks, and each
  added table it lacks as (table, table, "TABLE"). A storage opened to read (`create=False`)
  on such a database reads those columns as NULL and those tables as empty (see
  `_statements.old_statements`) until a writer adds them.
- `add_missing` adds the columns and tables a database lacks, in the write transaction it is
  given; processes that run it at the same moment all succeed (SQLite's write lock orders
  them, PostgreSQL's `IF NOT EXISTS` makes a column or table added meanwhile no error), and a
  second run changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, CreateTable

from popbt.storage._schema import LEAGUE_TABLES, metadata

BINARY = "BINARY"  # bytes: BLOB on SQLite, BYTEA on PostgreSQL
ADDED: tuple[tuple[str, str, str], ...] = (
    ("popbt_populations", "stopped", "TEXT"),  # the reason a population was stopped
    ("popbt_populations", "trainable", "TEXT"),  # a reference to the class that trains it
    # the best checkpoint ever reported: its id, its fitness, and (JSON) whose and what
    ("popbt_populations", "elite_checkpoint_id", "INTEGER"),
    ("popbt_populations", "elite_fitness", "DOUBLE PRECISION"),
    ("popbt_populations", "elite", "TEXT"),
    ("popbt_members", "genome", BINARY),  # a genetic population's seed-chain genome
)


def missing(conn: Connection) -> list[tuple[str, str, str]]:
    """The entries of `ADDED` whose column the database lacks."""
    inspector = sa.inspect(conn)
    columns: dict[str, set[str]] = {}
    found = [(t, t, "TABLE") for t in LEAGUE_TABLES if not inspector.has_table(t)]
    for table, column, kind in ADDED:
        if table not in columns:
            columns[table] = {c["name"] for c in inspector.get_columns(table)}
        if column not in columns[table]:
            found.append((table, column, kind))
    return found


def add_missing(conn: Connection, *, sqlite: bool) -> None:
    """Add the columns of `ADDED` and the tables the database lacks, in the transaction of
    `conn`."""
    guard = "" if sqlite else "IF NOT EXISTS "
    for table, column, kind in missing(conn):
        if kind == "TABLE":
            conn.execute(CreateTable(metadata.tables[table], if_not_exists=True))
            for index in metadata.tables[table].indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))
        else:
            if kind == BINARY:
                kind = "BLOB" if sqlite else "BYTEA"
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {guard}{column} {kind}")
