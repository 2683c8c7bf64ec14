"""The storage every worker coordinates through: SQL on SQLite or PostgreSQL, via SQLAlchemy.

Contract:
- Each public method is one short transaction. Writes on SQLite begin with BEGIN IMMEDIATE
  (one writer at a time, waiting up to the busy timeout), so no read-then-write transaction
  ever fails with "database is locked"; the journal is WAL.
- A claim is one conditional UPDATE: it succeeds only on an idle member, or a running one
  whose lease has expired, and hands out a new token. Reports, heartbeats and failures name
  that token; once another worker has claimed the member they change nothing.
- A report (score, checkpoint pointer, READY event, release) commits as a whole or not at
  all. A ready decision due after it is made by the claim that next picks the member, before
  any member trains past that step, in the claim's transaction: an exploit copies the donor's
  checkpoint reference, step and hyperparameters as committed, then explores, with
  their events; a decision that raises changes nothing.
- A checkpoint row is deleted, and its file reported for deletion, only when no member points
  at it and it is not among the last `keep` its writer made.
- A transaction that fails because the database is unreachable is run again with backoff for
  up to `retry_s` seconds (see `_retry`). A report whose commit went through before the
  connection was lost is recognised when run again and accepted once; a claim in that case
  leaves its member held until the lease expires, when it resumes from its last checkpoint.
- No message, log line or URL it hands out shows the storage's password, nor any other
  secret of its URL (`?password=`, `?sslpassword=`, ...; see `popbt._secrets`).
- Opened with `create=False` it creates nothing (no file, no table): for readers.
"""

from __future__ import annotations

from popbt._secrets import password_of, safe_url
from popbt.storage._claims import Claims
from popbt.storage._league import League
from popbt.storage._populations import Populations
from popbt.storage._reads import Reads
from popbt.storage._reports import Reports
from popbt.storage._resize import Resizes
from popbt.storage._rounds import Rounds
from popbt.storage.contract import RESEEDS

__all__ = ["RESEEDS", "SQLStorage", "password_of", "safe_url"]


class SQLStorage(Claims, Reports, Rounds, Populations, Resizes, Reads, League):
    """Populations, members, checkpoints' pointers, scores and events in one SQL database.

    Each concern is a part of its own, all sharing the opened storage (`_core.SQLCore`):
    populations (`_populations`), claims (`_claims`), ready decisions (`_decisions`),
    reports and failures (`_reports`), whole rounds (`_rounds`), resizing (`_resize`),
    reads (`_reads`) and the league (`_league`); every
    statement is in `_statements`.

    Examples:
        >>> storage = SQLStorage("sqlite:///popbt.db")
        >>> [p.name for p in storage.list_populations()]
        ['toy']
        >>> storage.close()

    Raises:
        StorageError: the URL names no known database or the database cannot be opened.
    """
