"""`popbt run` (create or resume a population and train it) and `popbt worker` (join one as
a single worker).

Contract:
- `run` reads the trainable, `space`, and optionally `ready`, `metric`, `mode`, `exploit`,
  `explore` and `initial` from the user's file; a command-line option wins over the file.
  `--exploit`/`--explore` choose among `popbt.strategies.registry` (their choices and help
  come from there). It prints the best member (or, with `--json`, the final status).
- `worker` trains the members of an existing population until none is left.
Bad input raises `ConfigError`; a failed run raises `TrainingError` (see `popbt.cli`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType
from typing import Any

from popbt._cli_args import MAX_POPULATION, integer, lease_seconds, number, say, utf8_text
from popbt.cli._common import Command, fmt, hparams_text, print_json, storage_args
from popbt.cli._userfile import find_trainable, load_file, module_setting
from popbt.errors import ConfigError
from popbt.executors import EXECUTORS, worker_name
from popbt.strategies import registry


def _choices_help(kind: registry.Kind, what: str) -> str:
    """`what`, then each registered choice of `kind` with its help."""
    return f"{what}: " + "; ".join(f"{c.name}: {c.help}"
                                   for c in registry.CHOICES[kind].values())


def _strategy(kind: registry.Kind, args: argparse.Namespace, module: ModuleType) -> Any:
    """The `kind` strategy: the one `--exploit`/`--explore` names (built by the strategy
    registry from the parsed options), else the file's `exploit`/`explore`, else the
    registry's default."""
    name = getattr(args, kind)
    if name is not None:
        return registry.make(kind, name, vars(args))
    return module_setting(module, kind, registry.make(kind, registry.DEFAULTS[kind], vars(args)))


def _resources(text: str | None) -> dict[str, float] | None:
    """`CPU=1,GPU=0.5` as a dict; None when not given."""
    if text is None:
        return None
    resources: dict[str, float] = {}
    for part in text.split(","):
        name, sep, amount = part.partition("=")
        try:
            resources[name.strip()] = float(amount)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError(f"--resources {text!r}: expected NAME=AMOUNT pairs separated by "
                              f"commas, such as CPU=1,GPU=0.5") from None
    return resources


def cmd_run(args: argparse.Namespace) -> int:
    """Create (or resume) the population and train it; see the module contract."""
    import popbt

    if args.workers > args.population:
        raise ConfigError(f"--workers {args.workers} is more than the {args.population} "
                          f"members of --population: a worker trains one member at a time, "
                          f"so give at most {args.population} workers")
    module = load_file(args.file)
    trainable = find_trainable(module, args.file, args.trainable)
    space = module_setting(module, "space")
    if not isinstance(space, popbt.Space):
        raise ConfigError(f"{args.file!r} must define `space = popbt.Space({{...}})`")
    ready = (popbt.Every(steps=args.ready_every) if args.ready_every is not None
             else module_setting(module, "ready"))
    if ready is None:
        raise ConfigError(f"give --ready-every STEPS, or define `ready = popbt.Every(steps=...)` "
                          f"in {args.file!r}")
    metric = args.metric or module_setting(module, "metric")
    if metric is None:
        raise ConfigError(f"give --metric NAME, or define `metric = '...'` in {args.file!r}")
    name = args.name or Path(args.file).stem
    pop = popbt.create_population(
        name=name, storage=args.storage, space=space, size=args.population, metric=metric,
        mode=args.mode or module_setting(module, "mode", "max"), seed=args.seed, ready=ready,
        exploit=_strategy("exploit", args, module), explore=_strategy("explore", args, module),
        initial=module_setting(module, "initial", ()), checkpoints=args.checkpoints,
        load_if_exists=True)
    best = pop.train(trainable, steps=args.steps, workers=args.workers, executor=args.executor,
                     lease_s=args.lease, progress=not args.quiet, ray_address=args.ray_address,
                     resources_per_worker=_resources(args.resources))
    if args.json:
        print_json(pop.status())
    elif best is not None:
        say(f"best: member {best.member_id}, {pop.settings.metric} = {fmt(best.score)} at "
            f"step {best.step} ({hparams_text(best.hparams)})")
    return 0


def _run_args(run: argparse.ArgumentParser) -> None:
    run.add_argument("file", help="a Python file defining a Trainable and `space`")
    storage_args(run, creates=True)
    run.add_argument("--population", type=integer(hi=MAX_POPULATION), default=8,
                     help="members (default 8)")
    run.add_argument("--workers", type=integer(hi=MAX_POPULATION), default=1,
                     help="workers (default 1; at most one per member)")
    run.add_argument("--executor", choices=EXECUTORS,
                     help="where workers run (default: inprocess for 1 worker, else processes)")
    run.add_argument("--ray-address", help="executor ray: the cluster to join ('auto': the one "
                                           "on this machine; default: start a local one)")
    run.add_argument("--resources", help="executor ray: what each worker asks for, e.g. "
                                         "CPU=1,GPU=0.5 (default CPU=1)")
    run.add_argument("--checkpoints", help="checkpoint folder or fsspec URL (default: beside "
                                           "a SQLite file; required for other storages)")
    run.add_argument("--steps", type=integer(), required=True,
                     help="training steps per member")
    run.add_argument("--ready-every", type=integer(), help="steps between ready points")
    run.add_argument("--metric", type=utf8_text, help="the key of evaluate() to optimise")
    run.add_argument("--mode", choices=("max", "min"), help="maximise or minimise the metric")
    run.add_argument("--seed", type=integer(0, None), default=0)
    run.add_argument("--exploit", choices=tuple(registry.EXPLOITS),
                     help=_choices_help("exploit", f"whom a ready member copies (default: "
                                        f"the file's `exploit`, else "
                                        f"{registry.DEFAULTS['exploit']})"))
    run.add_argument("--fraction", type=number(), default=0.2, help="truncation fraction")
    run.add_argument("--explore", choices=tuple(registry.EXPLORES),
                     help=_choices_help("explore", f"how a copied member's hyperparameters "
                                        f"change (default: the file's `explore`, else "
                                        f"{registry.DEFAULTS['explore']})"))
    run.add_argument("--trainable", type=utf8_text,
                     help="the Trainable class, if the file defines several")
    run.add_argument("--lease", type=lease_seconds(), default=30.0,
                     help="claim lease in seconds (default 30)")
    run.add_argument("--quiet", action="store_true", help="no progress display")
    run.add_argument("--json", action="store_true", help="print the final status as JSON")


def cmd_worker(args: argparse.Namespace) -> int:
    """Train members of the existing population `--name` until none is left."""
    from popbt.population import load_population
    from popbt.worker import Worker, WorkerOptions

    module = load_file(args.file)
    trainable = find_trainable(module, args.file, args.trainable)
    pop = load_population(name=args.name, storage=args.storage,
                          explore=module_setting(module, "explore"))
    stats = Worker(pop.storage, pop.row, pop.settings, trainable, name=worker_name(),
                   options=WorkerOptions(lease_s=args.lease)).run()
    print(f"worker done: {stats.intervals} intervals, {stats.steps} steps "
          f"({stats.train_seconds:.1f} s in the trainable), {stats.failures} failures, "
          f"{stats.lost_claims} lost claims")
    return 0


def _worker_args(worker: argparse.ArgumentParser) -> None:
    worker.add_argument("file", help="the Python file that defines the Trainable")
    storage_args(worker, name_required=True)
    worker.add_argument("--trainable", type=utf8_text,
                        help="the Trainable class, if the file defines several")
    worker.add_argument("--lease", type=lease_seconds(), default=30.0,
                        help="claim lease in seconds (default 30)")


COMMANDS = (
    Command("run", "create or resume a population and train it", _run_args, cmd_run),
    Command("worker", "join an existing population as one worker", _worker_args, cmd_worker),
)
