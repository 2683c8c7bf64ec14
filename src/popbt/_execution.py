"""The executor contract: what a training run asks of whatever starts its workers.

Contract:
- An executor only starts workers, and replaces those that die while members remain; it
  decides nothing about members. Workers coordinate through the storage alone, so workers of
  any executor, and `popbt worker` processes started by hand, can serve one population.
- It is given a `Work`: a plain, frozen, picklable description of what a worker anywhere
  needs to join the run (storage URL, population name, trainable, explore to ship, lease),
  and a `Running`: what it may ask, in the process that started it, of the run it serves.
- `Population.train` resolves `executor=` with `executor_for`: an `Executor` object is used
  as it is; a shorthand name ("inprocess", "processes", "ray") is looked up in `SHORTHANDS`,
  a table of import references, so that neither this module nor the population above it
  imports an executor module (the executors live a layer higher, in `popbt.executors`).
"""

from __future__ import annotations

import importlib
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from popbt._refs import object_ref, resolve_ref
from popbt.errors import ConfigError
from popbt.hparams import Unread
from popbt.strategies.explore import Explore
from popbt.trainable import Trainable

__all__ = ["SHORTHANDS", "Executor", "Running", "Work", "executor_for"]

# The shorthand names `Population.train(executor=...)` and `popbt run --executor` accept, each
# with the "module:Class" of the executor it stands for (imported only when it is chosen).
SHORTHANDS: dict[str, str] = {
    "inprocess": "popbt.executors.inprocess:InProcess",
    "processes": "popbt.executors.processes:Processes",
    "ray": "popbt.executors.ray:Ray",
}
MEMORY_PREFIX = "memory://"


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name}={value!r}: expected a non-empty string")
    return value


@dataclass(frozen=True, kw_only=True)
class Work:
    """A plain description of a training run's work: what a worker anywhere needs to join it.

    It is frozen and picklable (with the trainable as a class, pickled by reference, or as
    an import reference string), so an executor can ship it to a worker process or a Ray
    task as it is. It holds no open connection and no live object of the run.

    Attributes:
        storage_url: the URL a worker opens (`Storage.shared_url`; it may hold a password,
            so it is left out of `repr`).
        population: the population's name in that storage.
        trainable: the `Trainable` subclass, or an import reference to it
            ("module:Class", or "/path/file.py:Class"; see `by_reference`).
        checkpoint_root: where the population's checkpoints live ("memory://..." only this
            process can read).
        explore: an explore to ship to workers that cannot import it from the stored
            settings (a function defined in the user's script), or None.
        lease_s: how long a worker's claim lasts without a heartbeat, in seconds.
        strict: whether a hyperparameter of the space that the trainable never reads stops
            the run (a `ConfigError`) instead of a warning (see `popbt.hparams`). A worker
            with no way to tell the run that started it (a Ray task) records it as the
            run's fatal error.

    Examples:
        >>> work = Work(storage_url="sqlite:///popbt.db", population="toy",
        ...             trainable="mypackage.models:Net", checkpoint_root="/data/ckpt")
        >>> work.population, work.lease_s
        ('toy', 30.0)
        >>> Work(storage_url="sqlite:///popbt.db", population="toy", trainable="m:Net",
        ...      checkpoint_root="/data/ckpt", lease_s=0)
        Traceback (most recent call last):
        popbt.errors.ConfigError: lease_s=0: must be a number of seconds above 0

    Raises:
        ConfigError: a field of the wrong kind, naming it and the value.
    """

    storage_url: str = field(repr=False)
    population: str
    trainable: type[Trainable] | str
    checkpoint_root: str
    explore: Explore | None = None
    lease_s: float = 30.0
    strict: bool = False

    def __post_init__(self) -> None:
        _text(self.storage_url, "storage_url")
        _text(self.population, "population")
        if not isinstance(self.checkpoint_root, str):
            raise ConfigError(f"checkpoint_root={self.checkpoint_root!r}: expected a string")
        trainable = self.trainable
        if not (isinstance(trainable, str) and trainable) and not (
                isinstance(trainable, type) and issubclass(trainable, Trainable)):
            raise ConfigError(f"trainable={trainable!r}: expected a subclass of "
                              f"popbt.Trainable or a 'module:Class' reference to one")
        if self.explore is not None and not isinstance(self.explore, Explore):
            raise ConfigError(f"explore={self.explore!r}: expected an explore strategy or None")
        lease = self.lease_s
        if isinstance(lease, bool) or not isinstance(lease, int | float) \
                or not math.isfinite(lease) or lease <= 0:
            raise ConfigError(f"lease_s={lease!r}: must be a number of seconds above 0")
        if not isinstance(self.strict, bool):
            raise ConfigError(f"strict={self.strict!r}: expected True or False")

    @property
    def checkpoints_in_memory(self) -> bool:
        """True when the checkpoints live in this process's memory: no other process can
        read them, so only a worker in this process can train the population."""
        return self.checkpoint_root.startswith(MEMORY_PREFIX)

    def trainable_class(self) -> type[Trainable]:
        """The trainable class, imported first when `trainable` is a reference.

        Raises:
            ConfigError: the reference cannot be imported, or names no `Trainable` subclass.
        """
        found = resolve_ref(self.trainable) if isinstance(self.trainable, str) \
            else self.trainable
        if not (isinstance(found, type) and issubclass(found, Trainable)):
            raise ConfigError(f"trainable {self.trainable!r} is {found!r}, not a subclass of "
                              f"popbt.Trainable")
        return found

    def by_reference(self) -> Work:
        """This work with the trainable as an import reference, for a process that must
        import it (one started by `spawn` gets no copy of this process's classes).

        Raises:
            ConfigError: the trainable cannot be imported by another process (it is defined
                inside a function, or in an interactive session).
        """
        if isinstance(self.trainable, str):
            return self
        return replace(self, trainable=object_ref(self.trainable))


class Running(Protocol):
    """What an executor may ask, in the process that started it, of the run it serves."""

    def members_remain(self) -> bool:
        """True while no fatal error or stop is recorded and some member is unfinished: a
        worker that ended now should be replaced."""

    def show(self, *, workers: int) -> None:
        """Tell the progress display how many workers run now (it redraws at its own pace),
        and let the run read what they committed (for its callbacks and stop rules): call
        it every fraction of a second while workers run."""

    def work_here(self, work: Work, *, name: str) -> None:
        """Run the worker loop in this process, on the storage this process has open (an
        in-memory SQLite database or `memory://` checkpoints included), until no member is
        left; the progress display follows each report, and names the trainable never reads
        go to `unread`.

        Raises:
            ConfigError, TrainingError: as `popbt.worker.Worker.run`, and as `unread`.
        """

    def unread(self, finding: Unread) -> None:
        """A worker found hyperparameters of the space that the trainable never reads: the
        first finding of a run is a `popbt.hparams.UnusedHyperparameterWarning`, later ones
        are dropped. Under `work.strict`, the run's fatal error instead (every worker stops).

        Raises:
            ConfigError: under `work.strict`, with the finding's message.
        """


class Executor(ABC):
    """Starts the workers of a training run and replaces those that die while members remain.

    `popbt.InProcess`, `popbt.Processes` and `popbt.Ray` are the executors popbt ships. A new
    one (a batch queue, a cloud API) subclasses this: each worker it starts runs the worker
    loop on the `Work` it is given (`popbt.executors.run_worker(work)` does that in any
    process that can import popbt and the trainable), and `run` returns once no worker runs.
    Pass it as `Population.train(..., executor=MyExecutor(...))`.

    Attributes:
        workers: how many workers it keeps running at once.

    Examples:
        >>> class Here(Executor):  # one worker in this process, as popbt.InProcess does
        ...     workers = 1
        ...     def check(self, work):
        ...         pass  # checkpoints in memory are fine here
        ...     def run(self, work, running):
        ...         running.work_here(work, name="here")
        >>> Here().workers
        1
    """

    workers: int

    @classmethod
    def from_shorthand(cls, *, workers: int, ray_address: str | None,
                       resources_per_worker: Mapping[str, float] | None,
                       gpus: Sequence[int | str] | float | None = None) -> Executor:
        """The executor a shorthand name stands for, built from `Population.train`'s
        arguments (`executor_for` has checked those that do not apply)."""
        return cls(workers=workers)  # type: ignore[call-arg]

    def check(self, work: Work) -> None:
        """Refuse, before anything is stored or started, work this executor cannot do. By
        default: checkpoints in memory, which workers in other processes cannot read.

        Raises:
            ConfigError: naming what cannot work, and what to do instead.
        """
        if work.checkpoints_in_memory:
            raise ConfigError(f"checkpoints in {work.checkpoint_root!r} live in this "
                              f"process's memory, which other workers cannot read; use "
                              f"executor='inprocess', or a folder or URL every worker reaches")

    @abstractmethod
    def run(self, work: Work, running: Running) -> None:
        """Run workers on `work` until none is needed: start `workers` of them, replace one
        that ends while `running.members_remain()`, and report their number to
        `running.show`. Return once no worker runs; stop every worker it started before
        returning or raising (Ctrl-C included).

        Raises:
            ConfigError: the executor cannot start (a missing package, resources that do
                not exist).
            TrainingError: workers kept dying.
        """


def _load(ref: str) -> type[Executor]:
    module, _, name = ref.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type) and issubclass(cls, Executor), ref
    return cls


def executor_for(executor: Executor | str | None, *, workers: int | None,
                 ray_address: str | None = None,
                 resources_per_worker: Mapping[str, float] | None = None,
                 gpus: Sequence[int | str] | float | None = None) -> Executor:
    """The executor `Population.train` runs: `executor` itself when it is an `Executor`; for
    a shorthand name, the executor it stands for, with `workers` workers (default 1);
    without one, "inprocess" for one worker without `gpus`, else "processes".

    Raises:
        ConfigError: an unknown executor; `workers` other than the executor object's own;
            several workers in process; Ray options (`ray_address`, `resources_per_worker`)
            with anything but executor="ray"; `gpus` with anything but executor="processes"
            (the in-process executor leaves this process's environment alone).
    """
    if isinstance(executor, Executor):
        if workers is not None and workers != executor.workers:
            raise ConfigError(f"workers={workers!r} but executor={executor!r} runs "
                              f"{executor.workers}; give the number of workers to the "
                              f"executor only")
        if ray_address is not None or resources_per_worker is not None:
            raise ConfigError(f"ray_address and resources_per_worker go with executor='ray'; "
                              f"with executor={executor!r}, give them to the executor, such "
                              f"as popbt.Ray(workers=2, address='auto', "
                              f"resources={{'CPU': 1}})")
        if gpus is not None:
            raise ConfigError(f"gpus={gpus!r} goes with executor='processes'; with "
                              f"executor={executor!r}, give it to the executor, such as "
                              f"popbt.Processes(workers=2, gpus=[0, 1])")
        return executor
    count = 1 if workers is None else workers
    name = executor if executor is not None else \
        "inprocess" if count == 1 and gpus is None else "processes"
    if not isinstance(name, str) or name not in SHORTHANDS:
        raise ConfigError(f"executor={executor!r}: expected one of {', '.join(SHORTHANDS)}, "
                          f"or an executor object such as popbt.Processes(workers=2)")
    if name == "inprocess" and count != 1:
        raise ConfigError(f"executor='inprocess' runs one worker, not workers={count}; use "
                          f"executor='processes' or 'ray'")
    if name != "ray" and (ray_address is not None or resources_per_worker is not None):
        raise ConfigError(f"ray_address and resources_per_worker apply to executor='ray', not "
                          f"{name!r}")
    if name != "processes" and gpus is not None:
        hint = ("ask Ray for them with resources_per_worker={'GPU': 0.5}" if name == "ray"
                else "leave executor out (gpus start worker processes), or train here on "
                     "the device the trainable names")
        raise ConfigError(f"gpus={gpus!r} applies to executor='processes', not {name!r}: "
                          f"{hint}")
    return _load(SHORTHANDS[name]).from_shorthand(
        workers=count, ray_address=ray_address, resources_per_worker=resources_per_worker,
        gpus=gpus)
