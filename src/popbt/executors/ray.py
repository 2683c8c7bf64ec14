"""Workers as Ray tasks: Ray only places them; they coordinate through the storage.

Each task runs the same worker loop as `popbt worker`, so Ray tasks and workers started by
hand can serve one population together. A task that dies (its process killed, its node lost)
is replaced while members remain; the member it held is claimable again at once on the same
host, or when its lease expires elsewhere.
"""

from __future__ import annotations

import math
import os
import pickle
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from popbt._execution import Executor, Running, Work
from popbt._refs import _FILE_PREFIX
from popbt.errors import ConfigError
from popbt.executors._entry import run_worker
from popbt.executors._restart import Ended, check_count, keep_running, restart_limit

__all__ = ["DEFAULT_RESOURCES", "Ray", "ray_options"]

DEFAULT_RESOURCES: dict[str, float] = {"CPU": 1.0}


def _import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise ConfigError("executor='ray' needs Ray: pip install 'popbt[ray]'") from None
    return ray


def ray_options(resources: Mapping[str, float] | None, *,
                name: str = "resources_per_worker") -> dict[str, Any]:
    """Ray's task options for the resources each worker asks for ({"CPU": 1, "GPU": 0.5,
    "custom": 1}); `name` is the argument's name, for messages.

    Raises:
        ConfigError: not a mapping of resource names to finite numbers >= 0.
    """
    if resources is None:
        resources = DEFAULT_RESOURCES
    if not isinstance(resources, Mapping):
        raise ConfigError(f"{name}={resources!r}: expected a dict such as "
                          f"{{'CPU': 1, 'GPU': 0.5}}")
    options: dict[str, Any] = {"num_cpus": 0.0, "num_gpus": 0.0, "resources": {}}
    for key, amount in resources.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{name} key {key!r}: expected a resource name such as 'CPU', "
                              f"'GPU' or a custom resource")
        if isinstance(amount, bool) or not isinstance(amount, int | float) \
                or not math.isfinite(amount) or amount < 0:
            raise ConfigError(f"{name}[{key!r}]={amount!r}: expected a number >= 0 "
                              f"(fractions of a GPU allowed)")
        if key.upper() == "CPU":
            options["num_cpus"] = float(amount)
        elif key.upper() == "GPU":
            options["num_gpus"] = float(amount)
        else:
            options["resources"][key] = float(amount)
    return options


def _init(ray: ModuleType, address: str | None) -> None:
    """Connect to the cluster at `address`, or start a local one whose workers import what
    this process imports (its `sys.path`, as spawned worker processes do)."""
    if address is not None or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, logging_level="WARNING")
        return
    path = os.pathsep.join(p for p in sys.path if p)
    ray.init(logging_level="WARNING", runtime_env={"env_vars": {"PYTHONPATH": path}})


def _check_feasible(ray: ModuleType, options: dict[str, Any]) -> None:
    """Refuse resources the cluster does not have, rather than wait for them for ever."""
    total = ray.cluster_resources()
    wanted = {"CPU": options["num_cpus"], "GPU": options["num_gpus"], **options["resources"]}
    short = {name: amount for name, amount in wanted.items()
             if amount > 0 and total.get(name, 0.0) < amount}
    if short:
        have = {name: total.get(name, 0.0) for name in short}
        raise ConfigError(f"resources_per_worker asks each worker for {short}, but the Ray "
                          f"cluster has {have} in all; ask for less, or add nodes that have "
                          f"them before training")


@dataclass(frozen=True)
class _WithFile:
    """A `Work` whose trainable lives in a file popbt imported (one given to the CLI), sent
    with the file's source: a Ray worker, on any node, imports that source under the module
    name the file has here, then reads the work, pickled by reference. Everything the file
    defines thus resolves as it does here, cached functions (`functools.cache`) included,
    which no by-value pickling carries."""

    module: str
    path: str
    source: str
    work: bytes


def _ship(work: Work) -> Work | _WithFile:
    """`work` as a Ray task takes it: with its trainable's file when that is a file popbt
    imported (see `_WithFile`)."""
    trainable = work.trainable
    if isinstance(trainable, str) or not trainable.__module__.startswith(_FILE_PREFIX):
        return work
    module = sys.modules.get(trainable.__module__)
    path = getattr(module, "__file__", None)
    if path is None:
        return work
    return _WithFile(module=trainable.__module__, path=path,
                     source=Path(path).read_text(encoding="utf-8"), work=pickle.dumps(work))


def _run_task(task: Work | _WithFile) -> int:
    """A Ray task: import the trainable's file if it came with one (once per worker
    process), then run the worker loop (`run_worker`)."""
    if isinstance(task, Work):
        return run_worker(task)
    if task.module not in sys.modules:
        module = ModuleType(task.module)
        module.__file__ = task.path
        folder = str(Path(task.path).parent)
        if Path(folder).is_dir() and folder not in sys.path:
            sys.path.insert(0, folder)  # its neighbours import as where it was given
        sys.modules[task.module] = module
        try:
            exec(compile(task.source, task.path, "exec"), module.__dict__)
        except BaseException:
            del sys.modules[task.module]
            raise
    return run_worker(pickle.loads(task.work))


@dataclass(frozen=True, kw_only=True)
class Ray(Executor):
    """Workers as Ray tasks (`pip install 'popbt[ray]'`), on a cluster or on this machine.

    Contract: connects to the Ray cluster at `address` ("auto": the one running on this
    machine), or starts a local one when `address` is None and `RAY_ADDRESS` is unset; an
    already initialised Ray is used as it is and left running. Each of the `workers` tasks
    asks Ray for `resources` (default {"CPU": 1}; {"CPU": 2, "GPU": 0.5} shares a GPU between
    two workers); resources the cluster does not have are refused with `ConfigError` rather
    than waited for. A task that dies while members remain is replaced, at most
    `max_restarts` times (default 2 × workers). A trainable defined in a file given to the
    CLI travels with the file's source, which each worker imports (its neighbours must be
    importable there); one defined in the main script travels by value; one imported from a
    module must be importable on the cluster's nodes (installed there, or shipped with Ray's
    `runtime_env`).

    Examples:
        >>> import popbt
        >>> popbt.Ray(workers=8, address="auto", resources={"CPU": 2, "GPU": 0.5})
        Ray(workers=8, address='auto', resources={'CPU': 2, 'GPU': 0.5}, max_restarts=None)
        >>> # pop.train(MyTrainable, steps=1000, executor=popbt.Ray(workers=8))

    Raises:
        ConfigError: `workers` not an integer >= 1, `address` not a string, `resources` not
            a dict of resource names to numbers >= 0, or a bad `max_restarts`.
    """

    workers: int
    address: str | None = None
    resources: Mapping[str, float] | None = None
    max_restarts: int | None = None
    _options: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_count(self.workers, "workers", low=1)
        if self.address is not None and (not isinstance(self.address, str)
                                         or not self.address):
            raise ConfigError(f"address={self.address!r}: expected a Ray address such as "
                              f"'auto' or 'ray://head:10001', or None")
        object.__setattr__(self, "_options", ray_options(self.resources, name="resources"))
        if self.max_restarts is not None:
            check_count(self.max_restarts, "max_restarts", low=0)

    @classmethod
    def from_shorthand(cls, *, workers: int, ray_address: str | None,
                       resources_per_worker: Mapping[str, float] | None,
                       gpus: Sequence[int | str] | float | None = None) -> Ray:
        ray_options(resources_per_worker)  # refused under the name the caller used
        return cls(workers=workers, address=ray_address, resources=resources_per_worker)

    def run(self, work: Work, running: Running) -> None:
        """Run the tasks until no member is left; replace any task that dies.

        Raises:
            ConfigError: Ray is not installed, or the cluster lacks the resources.
            TrainingError: tasks kept dying (more than `max_restarts`).
        """
        self.check(work)
        ray = _import_ray()
        if not ray.is_initialized():
            _init(ray, self.address)
        _check_feasible(ray, self._options)
        task = ray.remote(_run_task).options(max_retries=0, **self._options)
        keep_running(_TaskPool(ray, task, _ship(work)), running, workers=self.workers,
                     limit=restart_limit(self.max_restarts, self.workers))


class _TaskPool:
    what = "Ray worker tasks"

    def __init__(self, ray: ModuleType, task: Any, work: Work | _WithFile) -> None:
        self._ray = ray
        self._task = task
        self._work = work

    def start(self) -> Any:
        return self._task.remote(self._work)

    def wait(self, running: Sequence[Any], timeout_s: float) -> list[Ended[Any]]:
        ray = self._ray
        finished, _ = ray.wait(list(running), num_returns=len(running), timeout=timeout_s)
        ended = []
        for ref in finished:
            try:
                ended.append(Ended(ref, ray.get(ref)))
            except ray.exceptions.RayError as exc:
                ended.append(Ended(ref, None, exc))
        return ended

    def stop(self, running: Sequence[Any]) -> None:
        for ref in running:
            self._ray.cancel(ref, force=True)
