"""What a worker started by an executor runs, in its own process or Ray task: open the storage
named by a `Work`, and run the worker loop until no member is left.

Contract: `run_worker` returns an exit status instead of raising. 0: the work is done (or
another worker finished it); `FATAL_EXIT`: an error every worker would meet, recorded in the
storage (so the others stop too, and the run that started us raises it once); 1: the storage
stayed away, so a replacement may succeed.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid

from popbt._execution import Work
from popbt._signals import sigterm_interrupts
from popbt._text import printable
from popbt.errors import ConfigError, StorageError, TrainingError

__all__ = ["FATAL_EXIT", "run_worker", "worker_main", "worker_name"]

FATAL_EXIT = 3


def worker_name() -> str:
    """A name unique to this worker: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def run_worker(work: Work) -> int:
    """Open the storage and run the worker loop on `work`; the exit status (see the module's
    contract). The trainable may be a reference, imported here."""
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
               options=WorkerOptions(lease_s=work.lease_s)).run()
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


def worker_main(work: Work) -> None:
    """The body of one worker process. SIGTERM (sent when the run stops) gives back the member
    it holds and ends the process."""
    with sigterm_interrupts():
        try:
            code = run_worker(work)
        except KeyboardInterrupt:
            code = 130
    sys.exit(code)
