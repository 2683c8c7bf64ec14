"""Executors only start workers: in this process, in local worker processes, or as Ray tasks.

An executor is an object (`InProcess()`, `Processes(workers=4)`, `Ray(workers=8, ...)`)
given a plain description of the work (`Work`); it starts workers that each run the worker
loop on it, and replaces those that die while members remain (one restart loop, in
`_restart`, for processes and Ray alike). `Population.train(executor=...)` takes an executor
object, or a shorthand name of `EXECUTORS`; the population never imports this package (see
`popbt._execution`, the contract every executor implements).

Importing this package is light: Ray is imported only when a `Ray` executor runs.
"""

from __future__ import annotations

from popbt._execution import SHORTHANDS, Executor, Running, Work
from popbt.executors._entry import FATAL_EXIT, run_worker, worker_name
from popbt.executors.inprocess import InProcess
from popbt.executors.processes import Processes
from popbt.executors.ray import Ray

__all__ = ["EXECUTORS", "FATAL_EXIT", "Executor", "InProcess", "Processes", "Ray", "Running",
           "Work", "run_worker", "worker_name"]

EXECUTORS: tuple[str, ...] = tuple(SHORTHANDS)  # the names `popbt run --executor` accepts
