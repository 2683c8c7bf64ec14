"""The one restart loop of the executors that start workers elsewhere (processes, Ray): keep
`workers` running, replace one that ends while members remain, give up after too many.

Contract: `keep_running` returns once no worker runs; whatever happens (Ctrl-C, SIGTERM, too
many deaths), every worker it started is stopped through `Pool.stop` before it returns or
raises. A worker that ends with status 0 or `FATAL_EXIT` (it finished, or recorded an error
that stops the run) is not replaced, nor one that ends once no member remains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from popbt._execution import Running
from popbt.errors import ConfigError, TrainingError
from popbt.executors._entry import FATAL_EXIT

H = TypeVar("H")
POLL_S = 0.25  # how often the loop looks at its workers (and redraws the progress line)


@dataclass(frozen=True)
class Ended(Generic[H]):
    """A worker that ended: its exit status, or the error that ended it (a lost Ray task)."""

    worker: H
    code: int | None
    error: BaseException | None = None

    def __str__(self) -> str:
        return str(self.error) if self.error is not None else f"exit status {self.code}"


class Pool(Protocol[H]):
    """How one executor starts, watches and stops its workers (handles of type H)."""

    what: str  # what its workers are, for messages: "worker processes"

    def start(self) -> H:
        """Start one worker."""

    def wait(self, running: Sequence[H], timeout_s: float) -> list[Ended[H]]:
        """The workers of `running` that have ended, waiting up to `timeout_s` for one."""

    def stop(self, running: Sequence[H]) -> None:
        """Stop these workers (they give back the members they hold) and wait for them."""


def restart_limit(max_restarts: int | None, workers: int) -> int:
    """How many replacements a run allows: `max_restarts`, by default 2 × workers."""
    return 2 * workers if max_restarts is None else max_restarts


def check_count(value: object, name: str, *, low: int) -> None:
    """Refuse a count that is not an integer >= `low`, naming it.

    Raises:
        ConfigError: naming `name` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name}={value!r}: must be an integer >= {low}")


def keep_running(pool: Pool[H], running: Running, *, workers: int, limit: int) -> None:
    """Start `workers` workers of `pool` and wait for them, replacing one that ends while
    members remain, at most `limit` times.

    Raises:
        TrainingError: workers died more than `limit` times.
    """
    handles = [pool.start() for _ in range(workers)]
    restarts = 0
    try:
        while handles:
            running.show(workers=len(handles))
            for ended in pool.wait(handles, POLL_S):
                handles.remove(ended.worker)
                if ended.code in (0, FATAL_EXIT) or not running.members_remain():
                    continue
                restarts += 1
                if restarts > limit:
                    raise TrainingError(f"{pool.what} died {restarts} times (the last: "
                                        f"{ended}); see their output above")
                handles.append(pool.start())
    finally:  # also on Ctrl-C or SIGTERM of this process: stop every worker, then wait
        pool.stop(handles)
