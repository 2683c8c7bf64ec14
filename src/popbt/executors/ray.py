"""Workers as Ray tasks: Ray only places them; they coordinate through the storage.

Each task runs the same worker loop as `popbt worker`, so Ray tasks and workers started by
hand can serve one population together. A task that dies (its process killed, its node lost)
is replaced while members remain; the member it held is claimable again at once on the same
host, or when its lease expires elsewhere.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from popbt._refs import _FILE_PREFIX
from popbt.errors import ConfigError, TrainingError
from popbt.executors.processes import FATAL_EXIT, run_worker
from popbt.strategies.explore import CallableExplore
from popbt.trainable import Trainable

if TYPE_CHECKING:
    from popbt._progress import Progress
    from popbt.population import Population

DEFAULT_RESOURCES: dict[str, float] = {"CPU": 1.0}


def _import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise ConfigError("executor='ray' needs Ray: pip install 'popbt[ray]'") from None
    return ray


def ray_options(resources: Mapping[str, float] | None) -> dict[str, Any]:
    """Ray's task options for `resources_per_worker` ({"CPU": 1, "GPU": 0.5, "custom": 1}).

    Raises:
        ConfigError: not a mapping of resource names to finite numbers >= 0.
    """
    if resources is None:
        resources = DEFAULT_RESOURCES
    if not isinstance(resources, Mapping):
        raise ConfigError(f"resources_per_worker={resources!r}: expected a dict such as "
                          f"{{'CPU': 1, 'GPU': 0.5}}")
    options: dict[str, Any] = {"num_cpus": 0.0, "num_gpus": 0.0, "resources": {}}
    for name, amount in resources.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"resources_per_worker key {name!r}: expected a resource name "
                              f"such as 'CPU', 'GPU' or a custom resource")
        if isinstance(amount, bool) or not isinstance(amount, int | float) \
                or not math.isfinite(amount) or amount < 0:
            raise ConfigError(f"resources_per_worker[{name!r}]={amount!r}: expected a number "
                              f">= 0 (fractions of a GPU allowed)")
        if name.upper() == "CPU":
            options["num_cpus"] = float(amount)
        elif name.upper() == "GPU":
            options["num_gpus"] = float(amount)
        else:
            options["resources"][name] = float(amount)
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


def _ship_by_value(ray: ModuleType, trainable: type[Trainable]) -> None:
    """Let Ray send a trainable defined in a file the workers cannot import (a script, or a
    file given to the CLI) by value instead of by module name."""
    name = trainable.__module__
    module = sys.modules.get(name)
    if module is not None and name.startswith(_FILE_PREFIX):
        ray.cloudpickle.register_pickle_by_value(module)


def run_ray(pop: Population, trainable: type[Trainable], *, workers: int, lease_s: float,
            progress: Progress, address: str | None, resources: Mapping[str, float] | None,
            max_restarts: int | None = None) -> None:
    """Run `workers` Ray tasks until no member is left; replace any task that dies.

    Connects to the Ray cluster at `address` ("auto": the one running on this machine), or
    starts a local one when `address` is None and `RAY_ADDRESS` is unset; an already
    initialised Ray is used as it is and left running. A trainable defined in a script or in
    a file given to the CLI travels by value; one imported from a module must be importable
    on the cluster's nodes (installed there, or shipped with Ray's `runtime_env`).

    Raises:
        ConfigError: Ray is not installed, or bad `resources`.
        TrainingError: tasks kept dying (more than `max_restarts`, default 2 × workers).
    """
    options = ray_options(resources)
    ray = _import_ray()
    if not ray.is_initialized():
        _init(ray, address)
    _check_feasible(ray, options)
    _ship_by_value(ray, trainable)
    explore = pop.settings.explore if isinstance(pop.settings.explore, CallableExplore) else None
    task = ray.remote(run_worker).options(max_retries=0, **options)
    args = (pop.storage.shared_url, pop.name, trainable, explore, lease_s)
    limit = 2 * workers if max_restarts is None else max_restarts
    running = [task.remote(*args) for _ in range(workers)]
    restarts = 0
    try:
        while running:
            finished, running = ray.wait(running, num_returns=len(running), timeout=0.25)
            for ref in finished:
                try:
                    code, error = ray.get(ref), None
                except ray.exceptions.RayError as exc:
                    code, error = None, exc
                if code in (0, FATAL_EXIT) or pop.row.error \
                        or pop.storage.unfinished(pop.row) == 0:
                    continue
                restarts += 1
                if restarts > limit:
                    last = error if error is not None else f"exit status {code}"
                    raise TrainingError(f"Ray worker tasks died {restarts} times (the last: "
                                        f"{last}); see their output above")
                running.append(task.remote(*args))
            progress.update(workers=len(running))
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
