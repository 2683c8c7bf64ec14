"""`popbt run` (create or resume a population and train it) and `popbt worker` (join one as
a single worker).

Contract:
- `run` reads the trainable, `space`, and optionally `ready`, `metric`, `mode`, `exploit`,
  `explore` and `initial` from the user's file; a command-line option wins over the file,
  and on an existing population both win over its stored settings (see `_resolve`: resuming
  needs only the file, the name and the steps; an option given with another value than
  stored is refused, naming both). `--population` on an existing population resizes it
  (`Population.resize`; with `--clone-best`, new members copy the best), saying so on
  stderr. `--exploit`/`--explore` choose among `popbt.strategies.registry` (their choices
  and help come from there, as registered when the parser is built). It prints the best
  member (or, with `--json`, the final status).
- `worker` trains the members of an existing population until none is left.
Bad input raises `ConfigError`; a failed run raises `TrainingError` (see `popbt.cli`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from popbt._cli_args import (
    MAX_POPULATION,
    integer,
    lease_seconds,
    number,
    positive_number,
    say,
    utf8_text,
)
from popbt._devices import parse_gpus
from popbt.cli._common import Command, fmt, hparams_text, print_json, storage_args
from popbt.cli._resolve import DEFAULT_SIZE, conflicts, resolve
from popbt.cli._userfile import find_trainable, load_file, module_setting
from popbt.cli.resize import resized
from popbt.cli.views import say_front
from popbt.errors import ConfigError
from popbt.executors import EXECUTORS, worker_name
from popbt.stopping import from_options
from popbt.strategies import registry

if TYPE_CHECKING:
    from popbt.storage import Storage
    from popbt.storage.base import PopulationRow


def _choices_help(kind: registry.Kind, what: str) -> str:
    """`what`, then each registered choice of `kind` with its help."""
    return f"{what}: " + "; ".join(f"{c.name}: {c.help}"
                                   for c in registry.CHOICES[kind].values())


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


def _existing(args: argparse.Namespace, module: ModuleType, store: Storage,
              name: str) -> PopulationRow | None:
    """The stored population `name`, once the options given agree with its settings; None
    when there is none.

    Raises:
        ConfigError: options given with other values than stored (naming both).
    """
    from popbt._places import checkpoint_root

    row = store.get_population(name)
    if row is None:
        return None
    given_root = (None if args.checkpoints is None
                  else checkpoint_root(store, args.checkpoints))
    found = conflicts(args, module, row.settings, row.checkpoint_root, given_root)
    if found:
        raise ConfigError(f"population {name!r} exists with other settings than given: "
                          f"{'; '.join(found)}; leave these options out to resume it with its "
                          f"own, or give another --name")
    return row


def cmd_run(args: argparse.Namespace) -> int:
    """Create (or resume) the population and train it; see the module contract."""
    import popbt
    from popbt.storage import get_storage

    module = load_file(args.file)
    trainable = find_trainable(module, args.file, args.trainable)
    stop = from_options(score=args.stop_score, seconds=args.time_budget, plateau=args.plateau,
                        min_delta=args.plateau_delta)
    if not isinstance(module_setting(module, "space"), popbt.Space):
        raise ConfigError(f"{args.file!r} must define `space = popbt.Space({{...}})`")
    name = args.name or Path(args.file).stem
    store = get_storage(args.storage)
    row = _existing(args, module, store, name)
    settings = resolve(args, module, args.file, None if row is None else row.settings)
    size = settings["size"] if args.population is None else args.population
    if args.workers > size:
        raise ConfigError(f"--workers {args.workers} is more than the {size} members of the "
                          f"population: a worker trains one member at a time, so give at "
                          f"most {size} workers")
    pop = popbt.create_population(name=name, storage=store, checkpoints=args.checkpoints,
                                  load_if_exists=True, **settings)
    if size != pop.settings.size:
        resized(pop, size, clone_best=args.clone_best)
    best = pop.train(trainable, steps=args.steps, workers=args.workers, executor=args.executor,
                     lease_s=args.lease, progress=not args.quiet, ray_address=args.ray_address,
                     resources_per_worker=_resources(args.resources), strict=args.strict,
                     gpus=None if args.gpus is None else parse_gpus(args.gpus), stop=stop)
    stopped = pop.row.stopped
    if stopped is not None and not args.json:
        say(f"stopped: {stopped}; run the same command again to continue", err=True)
    if args.json:
        print_json(pop.status())
    elif best is not None:
        say(f"best: member {best.member_id}, {pop.settings.metric} = {fmt(best.score)} at "
            f"step {best.step} ({hparams_text(best.hparams)})")
    elif pop.settings.objectives:
        say_front(pop)
    return 0


def _run_args(run: argparse.ArgumentParser) -> None:
    run.add_argument("file", help="a Python file defining a Trainable and `space`")
    storage_args(run, creates=True)
    run.add_argument("--population", type=integer(hi=MAX_POPULATION),
                     help=f"members (default {DEFAULT_SIZE}); on an existing population, a "
                          f"new size: it grows (new members sampled from the space) or "
                          f"shrinks (the worst retired)")
    run.add_argument("--clone-best", action="store_true",
                     help="members added by --population copy the best member (weights and "
                          "explored hyperparameters) instead")
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
                     help="training steps per member (resuming: the new step target)")
    run.add_argument("--ready-every", type=integer(), help="steps between ready points")
    run.add_argument("--metric", type=utf8_text, help="the key of evaluate() to optimise")
    run.add_argument("--mode", choices=("max", "min"), help="maximise or minimise the metric")
    run.add_argument("--seed", type=integer(0, None), help="the population's seed (default 0)")
    run.add_argument("--gpus", help="worker processes' GPUs: ids such as 0,1 (round-robin), "
                                    "or the share of one GPU per worker such as 0.5")
    run.add_argument("--strict", action="store_true",
                     help="stop (exit status 2) when the trainable never reads a "
                          "hyperparameter of the space, instead of warning")
    run.add_argument("--stop-score", type=number(), metavar="SCORE",
                     help="stop once a member scores SCORE or better (>= with --mode max, "
                          "<= with min); the same command again continues")
    run.add_argument("--time-budget", type=positive_number(), metavar="SECONDS",
                     help="stop once the run has lasted SECONDS")
    run.add_argument("--plateau", type=integer(1, None), metavar="K",
                     help="stop once the best score has not improved in K ready rounds")
    run.add_argument("--plateau-delta", type=number(), default=0.0, metavar="DELTA",
                     help="with --plateau: an improvement is a change of more than DELTA "
                          "(default 0)")
    run.add_argument("--exploit", choices=tuple(registry.EXPLOITS),
                     help=_choices_help("exploit", f"whom a ready member copies (default: "
                                        f"the file's `exploit`, else "
                                        f"{registry.DEFAULTS['exploit']})"))
    run.add_argument("--fraction", type=number(),
                     help="truncation or backtrack fraction (default 0.2)")
    run.add_argument("--margin", type=number(), metavar="AMOUNT",
                     help="exploit: copy only a donor better by at least AMOUNT, in the "
                          "metric's units (truncation, tournament, ttest, backtrack)")
    run.add_argument("--margin-se", type=number(), metavar="K",
                     help="exploit: copy only a donor better by K standard errors of the two "
                          "scores (truncation, tournament, backtrack)")
    run.add_argument("--window", type=integer(2, None), metavar="N",
                     help="exploit: recent scores per member for --margin-se or ttest "
                          "(default 10)")
    run.add_argument("--max-lead", type=integer(0, None), metavar="K",
                     help="no member starts an interval more than K ready intervals ahead of "
                          "the least-advanced one (default: no bound)")
    run.add_argument("--sync", action="store_true", default=None,
                     help="synchronous generations: every member stops at each ready step "
                          "and the step's decisions are made together")
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
