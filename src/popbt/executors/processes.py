"""Local worker processes (spawned, not forked), restarted if they die mid-run."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from popbt._devices import ASSIGNED_VAR, VISIBLE_VAR, check_gpus, slot_devices
from popbt._execution import Executor, Running, Work
from popbt.errors import ConfigError
from popbt.executors._entry import worker_main
from popbt.executors._restart import Ended, check_count, keep_running, restart_limit
from popbt.executors._spawn import check_spawnable
from popbt.hparams import Unread

__all__ = ["Processes"]

STOP_WAIT_S = 10.0  # how long a worker told to stop may take to give its member back
# One compute thread per worker process unless the user says otherwise: several processes of
# a multi-threaded kernel on the same cores slow each other down, by 10-100× for small
# models. The variables must be in the environment the process starts with: a spawned
# process imports the parent's main script (and whatever it imports, torch included) before
# the worker's own code runs.
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@contextmanager
def _starting(variables: Mapping[str, str]) -> Iterator[None]:
    """Processes started inside inherit `variables`, one compute thread each (unless already
    set), and SIGINT held: a Ctrl-C that reaches a worker process while it starts (imports
    take seconds) waits until `worker_main` can give back what it holds, rather than print a
    traceback. SIGINT to this thread waits meanwhile, and is delivered on leaving; this
    process's environment is as it was."""
    wanted = {var: "1" for var in _THREAD_VARS if var not in os.environ} | dict(variables)
    previous = {var: os.environ.get(var) for var in wanted}
    resource_tracker.ensure_running()  # starting it would let SIGINT through again
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    os.environ.update(wanted)
    try:
        yield
    finally:
        for var, value in previous.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


@dataclass(frozen=True, kw_only=True)
class Processes(Executor):
    """Worker processes on this machine: the default for several workers
    (`workers=n` or `executor="processes"`).

    Contract: `workers` processes are started with `spawn` (never forked), each with one
    compute thread unless `OMP_NUM_THREADS` (or MKL's, OpenBLAS's) says otherwise; each opens
    the storage by URL and runs the worker loop. One that dies while members remain is
    replaced, at most `max_restarts` times (default 2 × workers), after which
    `TrainingError` is raised. Ctrl-C or SIGTERM stops every process, and their members are
    given back. The trainable (and an explore function) must be importable by the new
    processes: defined at module level in a file; and a script that trains must do so under
    `if __name__ == "__main__":` (each new process imports the script again). Each process
    tells the run, through a pipe of its own, about hyperparameters the trainable never
    reads (see `Running.unread`).

    `gpus` gives each process GPUs through the `CUDA_VISIBLE_DEVICES` it starts with: a list
    of ids, round-robin (worker i gets `gpus[i % len(gpus)]`; a replacement takes the slot
    of the process it replaces), or the share of one GPU each worker uses (0.5: two workers
    per GPU). Ids index this process's own `CUDA_VISIBLE_DEVICES` when it has one (see
    `popbt._devices`). Without `gpus` the processes inherit this process's environment. A
    `popbt.torch.TorchTrainable` trains on the GPU its process was given.

    Examples:
        >>> import popbt
        >>> popbt.Processes(workers=4)
        Processes(workers=4, max_restarts=None, gpus=None)
        >>> popbt.Processes(workers=4, gpus=[0, 1])  # workers 0 and 2 on GPU 0, 1 and 3 on 1
        Processes(workers=4, max_restarts=None, gpus=(0, 1))
        >>> popbt.Processes(workers=0)
        Traceback (most recent call last):
        popbt.errors.ConfigError: workers=0: must be an integer >= 1
        >>> # pop.train(MyTrainable, steps=1000, executor=popbt.Processes(workers=4))

    Raises:
        ConfigError: `workers` not an integer >= 1, `max_restarts` not None or an integer
            >= 0, or `gpus` neither a non-empty list of GPU ids nor a number in (0, 1].
    """

    workers: int
    max_restarts: int | None = None
    gpus: Sequence[int | str] | float | None = None

    def __post_init__(self) -> None:
        check_count(self.workers, "workers", low=1)
        if self.max_restarts is not None:
            check_count(self.max_restarts, "max_restarts", low=0)
        if self.gpus is not None:
            object.__setattr__(self, "gpus", check_gpus(self.gpus))

    @classmethod
    def from_shorthand(cls, *, workers: int, ray_address: str | None,
                       resources_per_worker: Mapping[str, float] | None,
                       gpus: Sequence[int | str] | float | None = None) -> Processes:
        return cls(workers=workers, gpus=gpus)

    def slot_environments(self) -> list[dict[str, str]]:
        """The variables each worker slot's process starts with, beyond this process's own:
        none without `gpus`.

        Raises:
            ConfigError: `gpus` names more GPUs than this process's `CUDA_VISIBLE_DEVICES`.
        """
        if self.gpus is None:
            return [{} for _ in range(self.workers)]
        devices = slot_devices(self.gpus, self.workers, os.environ.get(VISIBLE_VAR))
        return [{VISIBLE_VAR: d, ASSIGNED_VAR: d} for d in devices]

    def check(self, work: Work) -> None:
        """Refuse checkpoints in memory, a trainable the processes cannot import, a script
        that would start the training again in every process, an explore function that
        cannot be sent to them, and GPUs this process cannot give.

        Raises:
            ConfigError: naming the object and how to make it importable, or the GPUs.
        """
        super().check(work)
        self.slot_environments()
        check_spawnable(work.trainable)
        work.by_reference()
        try:
            pickle.dumps(work.explore)
        except Exception as exc:  # noqa: BLE001 - whatever pickle refuses
            raise ConfigError(f"explore {work.explore!r} cannot be sent to worker processes "
                              f"({exc}); define it at module level in a file") from None

    def run(self, work: Work, running: Running) -> None:
        """Start the processes and wait for them; replace any that dies while members
        remain.

        Raises:
            ConfigError: as `check`.
            TrainingError: processes kept dying (more than `max_restarts`).
        """
        self.check(work)
        pool = _ProcessPool(mp.get_context("spawn"), work.by_reference(), running.unread,
                            self.slot_environments())
        keep_running(pool, running, workers=self.workers,
                     limit=restart_limit(self.max_restarts, self.workers))


class _ProcessPool:
    """Worker processes, each with a pipe of its own to tell `unread` (one process killed in
    the middle of a message spoils no other's pipe), and a slot of its own: a process started
    takes the first slot no live process holds, and the environment of that slot (the restart
    loop never runs more processes than there are slots)."""

    what = "worker processes"

    def __init__(self, ctx: Any, work: Work, unread: Callable[[Unread], None],
                 slots: Sequence[Mapping[str, str]]) -> None:
        self._ctx = ctx
        self._work = work
        self._unread = unread
        self._slots = slots
        self._pipes: dict[BaseProcess, Connection] = {}
        self._slot_of: dict[BaseProcess, int] = {}

    def start(self) -> BaseProcess:
        taken = set(self._slot_of.values())
        slot = next(i for i in range(len(self._slots)) if i not in taken)
        reader, writer = self._ctx.Pipe(duplex=False)
        process: BaseProcess = self._ctx.Process(target=worker_main,
                                                 args=(self._work, writer), daemon=True)
        with _starting(self._slots[slot]):
            process.start()
        writer.close()  # the process holds the only sending end: its exit ends the pipe
        self._pipes[process] = reader
        self._slot_of[process] = slot
        return process

    def _hear(self, process: BaseProcess) -> None:
        """Pass on what `process` has sent; forget its pipe once the process has closed it
        (or died in the middle of a message)."""
        reader = self._pipes.get(process)
        if reader is None:
            return
        try:
            while reader.poll():
                self._unread(reader.recv())
        except (EOFError, OSError, pickle.UnpicklingError):
            self._close(process)

    def wait(self, running: Sequence[BaseProcess], timeout_s: float) -> list[Ended[BaseProcess]]:
        ready: list[Any] = [p.sentinel for p in running]
        ready += [self._pipes[p] for p in running if p in self._pipes]
        wait(ready, timeout=timeout_s)
        for p in running:
            self._hear(p)
        ended = [p for p in running if not p.is_alive()]
        for p in ended:
            p.join()
            self._hear(p)  # what it sent just before it ended
            self._close(p)
            self._slot_of.pop(p, None)
        return [Ended(p, p.exitcode) for p in ended]

    def _close(self, process: BaseProcess) -> None:
        reader = self._pipes.pop(process, None)
        if reader is not None:
            reader.close()

    def stop(self, running: Sequence[BaseProcess]) -> None:
        for p in running:
            p.terminate()
        for p in running:
            p.join(STOP_WAIT_S)
            if p.is_alive():
                p.kill()
                p.join()
            self._close(p)
            self._slot_of.pop(p, None)
