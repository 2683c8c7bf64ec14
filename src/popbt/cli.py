"""The `popbt` command: run, worker, status, best, schedule, replay, report, dashboard, gc,
demo. The commands that only read (status, best, schedule, report, dashboard, gc) create
nothing in a storage and never import the user's code.

Bad input and failed runs end with one line on stderr (`popbt: error: ...`) and a non-zero
exit status, never a traceback: 2 for bad input or storage, 1 for a run that failed,
130 when interrupted (Ctrl-C), 143 when terminated (SIGTERM; worker processes are stopped
and their members given back first). The storage URL comes from `--storage`, else
`$POPBT_STORAGE` (which keeps a password off the command line), else `sqlite:///popbt.db`;
no output shows its password. Output for people shows control characters in names, values
and messages as escapes (`\\x1b`; see `popbt._text`); JSON and CSV output hold them exactly,
escaped as those formats escape them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from popbt._cli_args import (
    MAX_POPULATION,
    Parser,
    integer,
    lease_seconds,
    number,
    population_name,
    say,
    utf8_text,
)
from popbt._signals import Terminated, sigterm_interrupts
from popbt._text import printable
from popbt.errors import PopbtError, TrainingError
from popbt.executors import EXECUTORS
from popbt.report.cli import cmd_dashboard, cmd_report

EXPLOITS = ("truncation", "tournament", "ttest")
EXPLORES = ("perturb", "resample")
DEFAULT_STORAGE = "sqlite:///popbt.db"
DEFAULT_GC_MIN_AGE_S = 3600.0  # popbt.garbage.DEFAULT_MIN_AGE_S, without importing it


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def _print_json(obj: Any) -> None:
    print(json.dumps(_jsonable(obj), indent=2))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _hparams_text(hparams: dict[str, Any]) -> str:
    return " ".join(f"{k}={_fmt(v)}" for k, v in hparams.items())


# -- loading a user's file ---------------------------------------------------------------------

def _load_file(path: str) -> ModuleType:
    from popbt._refs import load_file
    from popbt.errors import ConfigError

    try:
        return load_file(path)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any error in the user's file, reported in one line
        raise ConfigError(f"cannot load {path!r}: {type(exc).__name__}: {exc}") from None


def _find_trainable(module: ModuleType, path: str, name: str | None) -> type:
    from popbt.errors import ConfigError
    from popbt.trainable import Trainable

    found = {k: v for k, v in vars(module).items() if isinstance(v, type)
             and issubclass(v, Trainable) and v is not Trainable}
    defined = {k: v for k, v in found.items() if v.__module__ == module.__name__}
    if defined and name is None:
        found = defined  # classes the file defines win over those it imports
    if name is not None:
        if name not in found:
            raise ConfigError(f"{path!r} defines no Trainable named {name!r}; it defines "
                              f"{sorted(found) or 'none'}")
        return found[name]
    if len(found) != 1:
        raise ConfigError(f"{path!r} must define exactly one popbt.Trainable subclass, found "
                          f"{sorted(found) or 'none'}; pick one with --trainable NAME")
    return next(iter(found.values()))


def _module_setting(module: ModuleType, name: str, default: Any = None) -> Any:
    return getattr(module, name, getattr(module, name.upper(), default))


# -- commands ----------------------------------------------------------------------------------

def _exploit_from(args: argparse.Namespace, module: ModuleType) -> Any:
    import popbt

    if args.exploit is None:
        return _module_setting(module, "exploit", popbt.Truncation(fraction=args.fraction))
    return {"truncation": lambda: popbt.Truncation(fraction=args.fraction),
            "tournament": popbt.Tournament, "ttest": popbt.TTest}[args.exploit]()


def _explore_from(args: argparse.Namespace, module: ModuleType) -> Any:
    import popbt

    if args.explore is None:
        return _module_setting(module, "explore", popbt.Perturb())
    makers: dict[str, Callable[[], Any]] = {
        "perturb": popbt.Perturb, "resample": lambda: popbt.Resample(probability=1.0)}
    return makers[args.explore]()


def cmd_run(args: argparse.Namespace) -> int:
    import popbt
    from popbt.errors import ConfigError

    if args.workers > args.population:
        raise ConfigError(f"--workers {args.workers} is more than the {args.population} "
                          f"members of --population: a worker trains one member at a time, "
                          f"so give at most {args.population} workers")
    module = _load_file(args.file)
    trainable = _find_trainable(module, args.file, args.trainable)
    space = _module_setting(module, "space")
    if not isinstance(space, popbt.Space):
        raise ConfigError(f"{args.file!r} must define `space = popbt.Space({{...}})`")
    ready = (popbt.Every(steps=args.ready_every) if args.ready_every is not None
             else _module_setting(module, "ready"))
    if ready is None:
        raise ConfigError(f"give --ready-every STEPS, or define `ready = popbt.Every(steps=...)` "
                          f"in {args.file!r}")
    metric = args.metric or _module_setting(module, "metric")
    if metric is None:
        raise ConfigError(f"give --metric NAME, or define `metric = '...'` in {args.file!r}")
    name = args.name or Path(args.file).stem
    pop = popbt.create_population(
        name=name, storage=args.storage, space=space, size=args.population, metric=metric,
        mode=args.mode or _module_setting(module, "mode", "max"), seed=args.seed, ready=ready,
        exploit=_exploit_from(args, module), explore=_explore_from(args, module),
        initial=_module_setting(module, "initial", ()), checkpoints=args.checkpoints,
        load_if_exists=True)
    best = pop.train(trainable, steps=args.steps, workers=args.workers, executor=args.executor,
                     lease_s=args.lease, progress=not args.quiet, ray_address=args.ray_address,
                     resources_per_worker=_resources(args.resources))
    if args.json:
        _print_json(pop.status())
    elif best is not None:
        say(f"best: member {best.member_id}, {pop.settings.metric} = {_fmt(best.score)} at "
            f"step {best.step} ({_hparams_text(best.hparams)})")
    return 0


def _resources(text: str | None) -> dict[str, float] | None:
    """`CPU=1,GPU=0.5` as a dict; None when not given."""
    from popbt.errors import ConfigError

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


def cmd_worker(args: argparse.Namespace) -> int:
    from popbt.executors import worker_name
    from popbt.population import load_population
    from popbt.worker import Worker, WorkerOptions

    module = _load_file(args.file)
    trainable = _find_trainable(module, args.file, args.trainable)
    pop = load_population(name=args.name, storage=args.storage,
                          explore=_module_setting(module, "explore"))
    stats = Worker(pop.storage, pop.row, pop.settings, trainable, name=worker_name(),
                   options=WorkerOptions(lease_s=args.lease)).run()
    print(f"worker done: {stats.intervals} intervals, {stats.steps} steps "
          f"({stats.train_seconds:.1f} s in the trainable), {stats.failures} failures, "
          f"{stats.lost_claims} lost claims")
    return 0


def _open(args: argparse.Namespace) -> Any:
    from popbt.population import load_population
    from popbt.storage.sql import SQLStorage

    storage = SQLStorage(args.storage, create=False)  # a reader creates nothing
    return load_population(name=storage.find_population(args.name).name, storage=storage)


def cmd_status(args: argparse.Namespace) -> int:
    pop = _open(args)
    status = pop.status()
    members = pop.members
    if args.json:
        status["members"] = [{"member_id": m.member_id, "state": m.state.value, "step": m.step,
                              "score": m.score, "hparams": m.hparams, "failures": m.failures,
                              "error": m.error} for m in members]
        _print_json(status)
        return 0
    say(f"population {status['name']} in {status['storage']}")
    say(f"metric {status['metric']} ({status['mode']}) | size {status['size']} | target "
        f"{status['target_steps']} steps | exploits {status['exploits']} | failures "
        f"{status['failures']} | " + ", ".join(f"{n} {k}" for k, n in status["states"].items()))
    if status["error"]:
        say(f"error: {status['error']}")
    say(f"{'member':>6}  {'state':<8} {'step':>8}  {'score':>10}  hparams")
    for m in members:
        score = "-" if m.score is None else _fmt(m.score)
        say(f"{m.member_id:>6}  {m.state.value:<8} {m.step:>8}  {score:>10}  "
            f"{_hparams_text(m.hparams)}")
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    from popbt.errors import ConfigError

    pop = _open(args)
    best = pop.best
    if best is None:
        raise ConfigError(f"population {pop.name!r} has no scored member yet")
    if args.json:
        _print_json({"member_id": best.member_id, "score": best.score, "step": best.step,
                     "hparams": best.hparams, "metrics": best.metrics})
    else:
        say(f"member {best.member_id}: {pop.settings.metric} = {_fmt(best.score)} at step "
            f"{best.step}")
        say(_hparams_text(best.hparams))
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    """Print or write (`-o`) a member's schedule: text for people (control characters
    escaped), or CSV or JSON that `popbt.schedules` reads back exactly.

    Raises:
        ConfigError: no such population or member, or the output file cannot be written.
    """
    from popbt import schedules
    from popbt.errors import ConfigError

    pop = _open(args)
    schedule = pop.schedule(args.member)
    fmt = "json" if args.json else args.format
    if fmt == "text":
        text = printable(f"schedule of member {args.member} (hyperparameters from each step "
                         f"on):") + "\n" + "".join(printable(f"{step:>8}  {_hparams_text(hp)}")
                                                   + "\n" for step, hp in schedule)
    else:
        text = schedules.to_csv(schedule) if fmt == "csv" else schedules.to_json(schedule) + "\n"
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                out.write(text)
        except OSError as exc:
            raise ConfigError(f"cannot write the schedule to {args.output!r}: "
                              f"{exc.strerror or exc}; give -o a path in a folder that exists "
                              f"and can be written") from None
        say(f"schedule of member {args.member} ({len(schedule)} entries) written to "
            f"{args.output}", err=True)
    else:
        sys.stdout.write(text)
    return 0


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError  # unreachable


def cmd_gc(args: argparse.Namespace) -> int:
    """Sweep the population's checkpoint folder (see `popbt.garbage` for the rule)."""
    pop = _open(args)
    done = pop.gc(min_age_s=args.min_age, dry_run=args.dry_run)
    if args.json:
        _print_json({"name": pop.name, "root": done.root, "dry_run": done.dry_run,
                     "temporary": list(done.temporary),
                     "unreferenced": list(done.unreferenced),
                     "removed_bytes": done.removed_bytes, "referenced": done.referenced,
                     "young": done.young, "unknown_age": done.unknown_age})
        return 0
    verb = "would remove" if done.dry_run else "removed"
    for rel in done.removed:
        say(f"{verb}: {rel}")
    say(f"gc of {pop.name} in {done.root}: {verb} {len(done.temporary)} temporary and "
          f"{len(done.unreferenced)} unreferenced checkpoint files "
          f"({_bytes(done.removed_bytes)}); kept {done.referenced} that rows point at, "
          f"{done.young} younger than {args.min_age:g} s"
          + (f", {done.unknown_age} of unknown age" if done.unknown_age else ""))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from popbt.errors import ConfigError
    from popbt.replay import replay, replay_member
    from popbt.schedules import fit_space, read_schedule
    from popbt.space import Space

    module = _load_file(args.file)
    trainable = _find_trainable(module, args.file, args.trainable)
    original = None
    if args.schedule:
        ready = (args.ready_every if args.ready_every is not None
                 else getattr(_module_setting(module, "ready"), "steps", None))
        metric = args.metric or _module_setting(module, "metric")
        if args.steps is None or ready is None or metric is None:
            raise ConfigError("replaying a schedule file needs --steps, and --ready-every and "
                              "--metric unless the file defines `ready` and `metric`")
        space = _module_setting(module, "space")
        if not isinstance(space, Space):
            raise ConfigError(f"replaying a schedule file checks it against the search space; "
                              f"define `space = popbt.Space({{...}})` in {args.file!r}")
        schedule = read_schedule(args.schedule)  # its errors name the file
        try:
            schedule = fit_space(schedule, space)
        except ConfigError as exc:
            raise ConfigError(f"schedule file {args.schedule!r}: {exc} (the space of "
                              f"{args.file!r})") from None
        result = replay(trainable, schedule, steps=args.steps, ready_every=ready,
                        metric=metric, seed=0 if args.seed is None else args.seed)
    else:
        if args.member is None:
            raise ConfigError("give --member ID (a member of the population), or --schedule "
                              "FILE")
        pop = _open(args)
        original = pop.member(args.member)
        result = replay_member(pop, args.member, trainable, seed=args.seed)
    summary = {"steps": result.steps, "seed": result.seed, "score": result.score,
               "metrics": result.metrics, "changes": len(result.schedule) - 1,
               "scores": [{"step": s, "score": v} for s, v in result.scores],
               "original": None if original is None else {
                   "member_id": original.member_id, "step": original.step,
                   "score": original.score}}
    if args.json:
        _print_json(summary)
        return 0
    what = (f"member {original.member_id}'s schedule" if original is not None
            else f"the schedule in {args.schedule}")
    say(f"replayed {what} ({summary['changes']} changes) for {result.steps} steps from "
        f"seed {result.seed}: score {_fmt(result.score)}")
    if original is not None:
        say(f"original: member {original.member_id}, score {_fmt(original.score)} at step "
            f"{original.step}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.which == "digits":
        return _demo_digits(args)
    from popbt.demos import toy
    from popbt.errors import ConfigError

    steps = 400 if args.steps is None else args.steps
    if args.out and not Path(args.out).resolve().parent.is_dir():
        raise ConfigError(f"--out {args.out!r}: the folder {str(Path(args.out).parent)!r} "
                          f"does not exist; give a path in an existing folder, or --out '' "
                          f"for no figure")
    print(f"toy problem: 4 variants × {args.seeds} seeds, {steps} steps each ...",
          file=sys.stderr)
    runs = toy.run_toy(seeds=args.seeds, steps=steps)
    rows = toy.summarize(runs)
    if args.json:
        _print_json(rows)
    else:
        print(toy.table(rows, steps))
    if args.out:
        try:
            say(f"figure: {toy.plot(runs, args.out)}", err=True)
        except ImportError as exc:
            say(f"no figure: {exc}", err=True)
        except OSError as exc:
            raise ConfigError(f"cannot write the figure to {args.out!r}: "
                              f"{exc.strerror or exc}") from None
    return 0


def _demo_digits(args: argparse.Namespace) -> int:
    import tempfile

    try:
        from popbt.demos import digits
    except ImportError as exc:
        from popbt.errors import ConfigError

        raise ConfigError(f"the digits demo needs PyTorch and scikit-learn ({exc}); "
                          f"pip install 'popbt[torch,examples]'") from None
    with tempfile.TemporaryDirectory(prefix="popbt-digits-") as tmp:
        from popbt.storage.sql import safe_url

        storage = args.storage or f"sqlite:///{tmp}/digits.db"
        steps = 2000 if args.steps is None else args.steps
        say(f"digits: {args.population} members × {steps} steps, {args.workers} workers, PBT "
            f"over {', '.join(digits.SPACE)} ({safe_url(storage)})", err=True)
        result = digits.run_demo(storage=storage, population=args.population,
                                 workers=args.workers, steps=steps, progress=not args.json)
    if args.json:
        _print_json({**result, "schedule": [{"step": s, "hparams": h}
                                            for s, h in result["schedule"]]})
        return 0
    print(f"best: member {result['member_id']} at step {result['step']}: validation accuracy "
          f"{result['val_accuracy']:.4f}, test accuracy {result['test_accuracy']:.4f} "
          f"({result['exploits']} exploits in the run)")
    say(f"hyperparameters: {_hparams_text(result['hparams'])}")
    say(f"its schedule ({len(result['schedule'])} entries):")
    for step, hp in result["schedule"]:
        say(f"{step:>8}  {_hparams_text(hp)}")
    return 0


# -- parser ------------------------------------------------------------------------------------

def _storage_args(p: argparse.ArgumentParser, *, name_required: bool = False,
                  creates: bool = False) -> None:
    """`--storage` and `--name` (with `creates`, a name a population can be created under)."""
    p.add_argument("--storage", default=os.environ.get("POPBT_STORAGE") or DEFAULT_STORAGE,
                   type=utf8_text,
                   help=f"storage URL (default: $POPBT_STORAGE, else {DEFAULT_STORAGE}), "
                        f"e.g. postgresql+psycopg://user@host/db")
    p.add_argument("--name", required=name_required, type=population_name(new=creates),
                   help="population name")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="popbt", description="Population Based Training.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="create or resume a population and train it")
    run.add_argument("file", help="a Python file defining a Trainable and `space`")
    _storage_args(run, creates=True)
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
    run.add_argument("--exploit", choices=EXPLOITS)
    run.add_argument("--fraction", type=number(), default=0.2, help="truncation fraction")
    run.add_argument("--explore", choices=EXPLORES)
    run.add_argument("--trainable", type=utf8_text,
                     help="the Trainable class, if the file defines several")
    run.add_argument("--lease", type=lease_seconds(), default=30.0,
                     help="claim lease in seconds (default 30)")
    run.add_argument("--quiet", action="store_true", help="no progress display")
    run.add_argument("--json", action="store_true", help="print the final status as JSON")
    run.set_defaults(func=cmd_run)

    worker = sub.add_parser("worker", help="join an existing population as one worker")
    worker.add_argument("file", help="the Python file that defines the Trainable")
    _storage_args(worker, name_required=True)
    worker.add_argument("--trainable", type=utf8_text,
                        help="the Trainable class, if the file defines several")
    worker.add_argument("--lease", type=lease_seconds(), default=30.0,
                        help="claim lease in seconds (default 30)")
    worker.set_defaults(func=cmd_worker)

    for cmd, func, text in (("status", cmd_status, "members, steps and scores"),
                            ("best", cmd_best, "the best member")):
        p = sub.add_parser(cmd, help=text)
        _storage_args(p)
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)

    sched = sub.add_parser("schedule", help="a member's hyperparameter schedule")
    sched.add_argument("member", type=int)
    _storage_args(sched)
    sched.add_argument("--format", choices=("text", "csv", "json"), default="text")
    sched.add_argument("--json", action="store_true", help="same as --format json")
    sched.add_argument("-o", "--output", help="write to this file instead of stdout")
    sched.set_defaults(func=cmd_schedule)

    gc = sub.add_parser("gc", help="remove checkpoint files left by killed workers "
                                   "(temporary files, checkpoints no row points at)")
    _storage_args(gc)
    gc.add_argument("--min-age", type=float, default=DEFAULT_GC_MIN_AGE_S, metavar="SECONDS",
                    help=f"remove only files at least this old (default "
                         f"{DEFAULT_GC_MIN_AGE_S:g}, so files of running workers are kept; "
                         f"0 when no worker runs)")
    gc.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    gc.add_argument("--json", action="store_true")
    gc.set_defaults(func=cmd_gc)

    rep = sub.add_parser("replay", help="train a fresh model along a member's schedule")
    rep.add_argument("file", help="the Python file that defines the Trainable")
    _storage_args(rep)
    rep.add_argument("--member", type=int, help="the member whose schedule to follow")
    rep.add_argument("--schedule", help="or a schedule file (.csv or .json) to follow")
    rep.add_argument("--steps", type=integer(), help="with --schedule: steps to train")
    rep.add_argument("--ready-every", type=integer(),
                     help="with --schedule: evaluation interval")
    rep.add_argument("--metric", type=utf8_text,
                     help="with --schedule: the key of evaluate() to report")
    rep.add_argument("--seed", type=integer(0, None),
                     help="setup seed (default: the lineage's first member's)")
    rep.add_argument("--trainable", type=utf8_text,
                     help="the Trainable class, if the file defines several")
    rep.add_argument("--json", action="store_true")
    rep.set_defaults(func=cmd_replay)

    report = sub.add_parser("report", help="write a population's report: one self-contained "
                                           "HTML file")
    _storage_args(report)
    report.add_argument("-o", "--output", default="report.html",
                        help="the HTML file to write (default report.html)")
    report.add_argument("--member", type=int,
                        help="the member whose schedule is shown first (default: the best)")
    report.set_defaults(func=cmd_report)

    dashboard = sub.add_parser("dashboard", help="serve a live, read-only dashboard of every "
                                                 "population in a storage")
    dashboard.add_argument("--storage", type=utf8_text,
                           default=os.environ.get("POPBT_STORAGE") or DEFAULT_STORAGE,
                           help=f"storage URL (default: $POPBT_STORAGE, else {DEFAULT_STORAGE})")
    dashboard.add_argument("--host", default="127.0.0.1",
                           help="interface to listen on (default 127.0.0.1; any other needs "
                                "--allow-remote)")
    dashboard.add_argument("--port", type=integer(0, 65535), default=8765,
                           help="port (default 8765; 0 picks a free one)")
    dashboard.add_argument("--allow-remote", action="store_true",
                           help="allow a non-loopback --host: whoever reaches it sees every "
                                "population in the storage (no authentication)")
    dashboard.set_defaults(func=cmd_dashboard)

    demo = sub.add_parser("demo", help="built-in demonstrations")
    demo.add_argument("which", choices=("toy", "digits"))
    demo.add_argument("--seeds", type=integer(1), default=20, help="toy: seeds per variant")
    demo.add_argument("--steps", type=integer(1),
                      help="steps per member (toy 400, digits 2000)")
    demo.add_argument("--out", default="toy.png", help="toy: figure path ('' for none)")
    demo.add_argument("--population", type=integer(2, MAX_POPULATION), default=16,
                      help="digits: members")
    demo.add_argument("--workers", type=integer(1, MAX_POPULATION), default=2,
                      help="digits: worker processes")
    demo.add_argument("--storage", type=utf8_text,
                      help="digits: keep the population in this storage URL")
    demo.add_argument("--json", action="store_true")
    demo.set_defaults(func=cmd_demo)
    return parser


def _redact(text: str, url: str | None, checkpoints: str | None = None) -> str:
    """`text` without the password or other secrets (see `popbt._secrets`) of the storage URL
    `url`, nor the credentials of a `checkpoints` URL."""
    from popbt import _secrets
    from popbt.storage.sql import password_of

    secrets = set(_secrets.secrets_of(checkpoints or "", hide_user=True))
    if url:
        secrets |= _secrets.secrets_of(url) | {password_of(url)}
    return _secrets.hide(text, secrets)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        with sigterm_interrupts():
            return args.func(args)
    except PopbtError as exc:
        shown = _redact(str(exc), getattr(args, "storage", None),
                        getattr(args, "checkpoints", None))
        print(f"popbt: error: {printable(shown)}", file=sys.stderr)
        return 1 if isinstance(exc, TrainingError) else 2
    except Terminated:
        print("popbt: terminated (SIGTERM); run the same command again to resume",
              file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("popbt: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
