"""Columns added to popbt's tables after their first version, and how a database made by an
older popbt gets them.

Contract:
- `ADDED` lists every column added since the tables were first created, as (table, column,
  SQL type); each is nullable, so the rows written before it read as NULL.
- `missing` changes nothing: it names the columns of `ADDED` a database lacks. A storage
  opened to read (`create=False`) on such a database reads those columns as NULL (see
  `_statements.OLD_STATEMENTS`) until a writer adds them.
- `add_missing` adds the columns a database lacks, in the write transaction it is given;
  processes that run it at the same moment all succeed (SQLite's write lock orders them,
  PostgreSQL's `IF NOT EXISTS` makes a column added meanwhile no error), and a second run
  changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

ADDED: tuple[tuple[str, str, str], ...] = (
    ("popbt_populations", "stopped", "TEXT"),  # the reason a population was stopped
    ("popbt_populations", "trainable", "TEXT"),  # a reference to the class that trains it
    # the best checkpoint ever reported: its id, its fitness, and (JSON) whose and what
    ("popbt_populations", "elite_checkpoint_id", "INTEGER"),
    ("popbt_populations", "elite_fitness", "DOUBLE PRECISION"),
    ("popbt_populations", "elite", "TEXT"),
)


def missing(conn: Connection) -> list[tuple[str, str, str]]:
    """The entries of `ADDED` whose column the database lacks."""
    inspector = sa.inspect(conn)
    columns: dict[str, set[str]] = {}
    found = []
    for table, column, kind in ADDED:
        if table not in columns:
            columns[table] = {c["name"] for c in inspector.get_columns(table)}
        if column not in columns[table]:
            found.append((table, column, kind))
    return found


def add_missing(conn: Connection, *, sqlite: bool) -> None:
    """Add the columns of `ADDED` the database lacks, in the transaction of `conn`."""
    guard = "" if sqlite else "IF NOT EXISTS "
    for table, column, kind in missing(conn):
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {guard}{column} {kind}")
