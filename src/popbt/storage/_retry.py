"""Retrying storage transactions while the database is unreachable (restarted, failing over,
or, on SQLite, locked past the busy timeout).

Contract: a method wrapped with `retried` runs again from the start, with exponential backoff
and jitter, after an error that means its transaction did not reach the database or was rolled
back (SQLAlchemy's `OperationalError`, or any error that invalidated the connection). An
error that no retry can cure fails at once with a `StorageError` naming its cause (see
`permanent`): a full disk or database, a read-only database, a permission refused, a
database file that is corrupt, cannot be opened, or lacks popbt's tables. Other errors pass
through unchanged. After `retry_s` seconds of failures it raises `StorageError` naming the
storage without its password. Each retry is logged on the "popbt.storage" logger, also
without the password.

A retried method must be safe to run again: every storage method is one transaction, and
those whose commit may have succeeded before the connection was lost check for that (see
`SQLStorage.report` and `SQLStorage.claim`).
"""

from __future__ import annotations

import errno
import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from popbt.errors import StorageError

logger = logging.getLogger("popbt.storage")
F = TypeVar("F", bound=Callable[..., Any])
FIRST_DELAY_S = 0.05
MAX_DELAY_S = 2.0
_jitter = random.Random()  # timing only; no result depends on it


class _Retrying(Protocol):
    safe_url: str
    retry_s: float

    def redact(self, text: str) -> str: ...


# SQLite primary result codes that waiting cannot change
_SQLITE_PERMANENT = {
    1: "the database refused the statement (is it a popbt storage of this version?)",
    3: "permission denied", 8: "the database is read-only", 11: "the database file is corrupt",
    13: "the database or its disk is full", 14: "the database file cannot be opened",
    23: "permission denied", 26: "the file is not a SQLite database"}
# PostgreSQL SQLSTATEs that waiting cannot change
_SQLSTATE_PERMANENT = {
    "53100": "the database server's disk is full", "25006": "the database is read-only",
    "42501": "permission denied", "28000": "permission denied",
    "28P01": "the password was refused",
    "42P01": "popbt's tables are missing"}
_OS_PERMANENT = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
                 errno.EACCES: "permission denied", errno.EPERM: "permission denied"}
_MESSAGES = (("disk is full", "the database or its disk is full"),
             ("no space left on device", "the disk is full"),
             ("could not extend file", "the database server's disk is full"),
             ("readonly database", "the database is read-only"),
             ("read-only transaction", "the database is read-only"),
             ("permission denied", "permission denied"))


def permanent(exc: BaseException) -> str | None:
    """The cause, in words, of a database error that no retry can cure (a full disk, a
    read-only database, a permission refused, ...: see the tables above); None for others.
    The driver's error code decides; only an error without one is judged by its message."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _SQLITE_PERMANENT.get(code & 0xFF)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str):
        return _SQLSTATE_PERMANENT.get(state)
    if isinstance(orig, OSError):
        return _OS_PERMANENT.get(orig.errno or 0)
    if isinstance(exc, IntegrityError):  # its message quotes the data
        return None
    text = str(orig).lower()
    return next((cause for fragment, cause in _MESSAGES if fragment in text), None)


def transient(exc: BaseException) -> bool:
    """Whether `exc` means the transaction never took effect and may simply be run again:
    the connection was lost or refused, or the database was locked; never a `permanent`
    cause."""
    if permanent(exc) is not None:
        return False
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


def describe(storage: _Retrying, exc: DBAPIError) -> str:
    """The driver's message of `exc` (its first line), without the storage's password."""
    text = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    return storage.redact(text[0] if text else type(exc).__name__)


def retried(method: F) -> F:
    """Wrap a storage method so that transient database errors are retried; see the module
    docstring."""

    @functools.wraps(method)
    def call(self: _Retrying, *args: Any, **kwargs: Any) -> Any:
        delay = FIRST_DELAY_S
        deadline = time.monotonic() + self.retry_s
        while True:
            try:
                return method(self, *args, **kwargs)
            except DBAPIError as exc:
                cause = permanent(exc)
                if cause is not None:
                    raise StorageError(
                        f"storage {self.safe_url}: {cause} ({describe(self, exc)}); "
                        f"{method.__name__} failed and was not retried, as no wait would cure "
                        f"this: fix it, then start the workers again (the run is "
                        f"kept)") from None
                if not transient(exc):
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StorageError(
                        f"storage {self.safe_url} stayed unreachable for {self.retry_s:g} s "
                        f"({describe(self, exc)}); the run is kept: start the workers again "
                        f"once the database is back") from None
                pause = min(delay * (0.5 + _jitter.random()), left)
                logger.warning("storage %s: %s; retrying %s in %.2f s", self.safe_url,
                               describe(self, exc), method.__name__, pause)
                time.sleep(pause)
                delay = min(delay * 2, MAX_DELAY_S)

    return call  # type: ignore[return-value]
