"""What a worker started by an executor runs, in its own process or Ray task: open the storage
named by a `Work`, and run the worker loop until no member is left.

Contract: `run_worker` returns an exit status instead of raising. 0: the work is done (or
another worker finished it); `FATAL_EXIT`: an error every worker would meet, recorded in the
storage (so the others stop too, and the run that started us raises it once); 1: the storage
stayed away, so a replacement may succeed. Hyperparameters the trainable never reads go to
the run that started the worker when it gave a way to tell it; otherwise they are a warning
in the worker's own process, or under `Work.strict` the run's fatal error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import uuid
from collections.abc import Callable
from multiprocessing.connection import Connection

from popbt._execution import Work
from popbt._signals import sigterm_interrupts
from popbt._text import printable
from popbt.errors import ConfigError, StorageError, TrainingError
from popbt.hparams import Unread, warn_unread

__all__ = ["FATAL_EXIT", "run_worker", "worker_main", "worker_name"]

FATAL_EXIT = 3


def worker_name() -> str:
    """A name unique to this worker: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _unread_here(work: Work) -> Callable[[Unread], None]:
    """What a worker that cannot tell its run does with hyperparameters never read."""

    def unread(finding: Unread) -> None:
        if work.strict:
            raise ConfigError(finding.message)
        warn_unread(finding)

    return unread


def run_worker(work: Work, notify: Callable[[Unread], None] | None = None) -> int:
    """Open the storage and run the worker loop on `work`; the exit status (see the module's
    contract). The trainable may be a reference, imported here. `notify` tells the run that
    started the worker about hyperparameters the trainable never reads."""
    from popbt.settings import Settings
    from popbt.storage import get_storage
    from popbt.worker import Worker, WorkerOptions

    store, row = None, None
    try:
        opened = get_storage(work.storage_url, create=False)
        found = opened.find_population(work.population)
        settings = Settings.from_config(found.config, explore=work.explore, lazy_explore=True)
        store, row = opened, found
        Worker(store, row, settings, work.trainable_class(), name=worker_name(),
               options=WorkerOptions(lease_s=work.lease_s),
               on_unread=notify or _unread_here(work)).run()
    except (TrainingError, ConfigError) as exc:
        if store is None or row is None:  # not recorded: the run cannot say it, so we do
            print(f"popbt worker: {printable(str(exc))}", file=sys.stderr)
        elif isinstance(exc, ConfigError):
            store.set_error(row, str(exc))  # every worker would fail the same way
        return FATAL_EXIT  # a recorded error is raised once, by the run that started us
    except StorageError as exc:  # the database stayed away: a later worker may succeed
        print(f"popbt worker: {printable(str(exc))}", file=sys.stderr)
        return 1
    return 0


def _sender(channel: Connection) -> Callable[[Unread], None]:
    """Send a finding up `channel`, to the run that started this process."""

    def send(finding: Unread) -> None:
        with contextlib.suppress(OSError):  # the run has ended: nobody is listening
            channel.send(finding)

    return send


def worker_main(work: Work, channel: Connection | None = None) -> None:
    """The body of one worker process. Ctrl-C, or SIGTERM (sent when the run stops), gives back
    the member it holds and ends the process (status 130), quietly, also when it comes as
    the loop ends. SIGINT, held while the process started (see `popbt.executors.processes`),
    is let through here. What the run must hear (hyperparameters never read) goes through
    `channel`, the sending end of a pipe to the process that started this one."""
    code = 130
    try:
        with sigterm_interrupts():
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            code = run_worker(work, None if channel is None else _sender(channel))
    except KeyboardInterrupt:
        pass
    sys.exit(code)
