"""Retrying storage transactions while the database is unreachable (restarted, failing over,
or, on SQLite, locked past the busy timeout).

Contract: a method wrapped with `retried` runs again from the start, with exponential backoff
and jitter, after an error that means its transaction did not reach the database or was rolled
back (SQLAlchemy's `OperationalError`, or any error that invalidated the connection). Other
errors pass through unchanged. After `retry_s` seconds of failures it raises `StorageError`
naming the storage without its password. Each retry is logged on the "popbt.storage" logger,
also without the password.

A retried method must be safe to run again: every storage method is one transaction, and
those whose commit may have succeeded before the connection was lost check for that (see
`SQLStorage.report` and `SQLStorage.claim`).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

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


def transient(exc: BaseException) -> bool:
    """Whether `exc` means the transaction never took effect and may simply be run again."""
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
