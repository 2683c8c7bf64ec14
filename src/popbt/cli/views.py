"""The commands that only read a population: `popbt status`, `best`, `schedule` and `gc`
(which removes only checkpoint files no row points at). In a population with a league,
`status` shows each member's rating (in `--json`, `rating`).

Contract: they create nothing in a storage and never import the user's code (see
`open_population`). Text for people has control characters escaped; `--json` and the CSV
and JSON schedule formats hold values exactly. No such population or member raises
`ConfigError` (`PopulationNotFound` for the population).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from popbt._cli_args import say
from popbt._text import printable
from popbt.cli._common import Command, fmt, hparams_text, open_population, print_json, storage_args
from popbt.errors import ConfigError

if TYPE_CHECKING:
    from popbt.population import Population

DEFAULT_GC_MIN_AGE_S = 3600.0  # popbt.garbage.DEFAULT_MIN_AGE_S, without importing it


def _storage_and_json(p: argparse.ArgumentParser) -> None:
    storage_args(p)
    p.add_argument("--json", action="store_true")


def cmd_status(args: argparse.Namespace) -> int:
    """The population's totals, then one line per member."""
    pop = open_population(args)
    status = pop.status()
    members = pop.members
    rating = _ratings(pop)
    genomes = pop.storage.genomes(pop.row) if status["trainer"] == "ga" else {}
    if args.json:
        status["members"] = [{"member_id": m.member_id, "state": m.state.value, "step": m.step,
                              "score": m.score, "hparams": m.hparams, "failures": m.failures,
                              "error": m.error, **({} if rating is None
                                                   else {"rating": rating(m.member_id)}),
                              **({"genome_bytes": len(genomes[m.member_id])}
                                 if m.member_id in genomes else {})}
                             for m in members]
        print_json(status)
        return 0
    say(f"population {status['name']} in {status['storage']}")
    unit, column = ("generations", "gen") if status["trainer"] == "ga" else ("steps", "step")
    done = f" ({max(status['steps'], default=0)} done)" if genomes else ""
    say(f"metric {status['metric']} ({status['mode']}) | size {status['size']} | target "
        f"{status['target_steps']} {unit}{done} | exploits {status['exploits']} | failures "
        f"{status['failures']} | " + ", ".join(f"{n} {k}" for k, n in status["states"].items()))
    if status["error"]:
        say(f"error: {status['error']}")
    if status["stopped"]:
        say(f"stopped: {status['stopped']}")
    if "front" in status:
        say_front(pop)
    shown = rating is not None and pop.settings.metric != "rating"
    say(f"{'member':>6}  {'state':<8} {column:>8}  {'score':>10}  "
        + (f"{'rating':>9}  " if shown else "") + ("genome B  " if genomes else "") + "hparams")
    for m in members:
        score = "-" if m.score is None else fmt(m.score)
        rated = f"{fmt(rating(m.member_id)):>9}  " if shown and rating is not None else ""
        size = f"{len(genomes[m.member_id]):>8}  " if m.member_id in genomes else ""
        say(f"{m.member_id:>6}  {m.state.value:<8} {m.step:>8}  {score:>10}  {rated}{size}"
            f"{hparams_text(m.hparams)}")
    return 0


def _ratings(pop: Population) -> Callable[[int], float] | None:
    """A member's league rating (the initial one before it plays), or None without a
    league."""
    league = pop.settings.league
    if league is None:
        return None
    ratings = pop.storage.ratings(pop.row)
    initial = league.rating.initial
    return lambda member_id: ratings.get(f"member:{member_id}", (initial, 0))[0]


def cmd_best(args: argparse.Namespace) -> int:
    """The best member: score, step, hyperparameters (with `--json`, also its metrics and
    where its checkpoint lies: an absolute path, or a URL with any credentials hidden); for a
    population of several objectives, its front (and hypervolume).

    Raises:
        ConfigError: no member has a score yet.
    """
    from popbt.export import checkpoint_location

    pop = open_population(args)
    if pop.settings.objectives:
        if args.json:
            status = pop.status()
            print_json({"front": status["front"], "hypervolume": status["hypervolume"]})
        else:
            say_front(pop)
        return 0
    best = pop.best
    if best is None:
        raise ConfigError(f"population {pop.name!r} has no scored member yet")
    if args.json:
        print_json({"member_id": best.member_id, "score": best.score, "step": best.step,
                    "hparams": best.hparams, "metrics": best.metrics,
                    "checkpoint": checkpoint_location(pop, best)})
    else:
        say(f"member {best.member_id}: {pop.settings.metric} = {fmt(best.score)} at step "
            f"{best.step}")
        say(hparams_text(best.hparams))
    return 0


def say_front(pop: Population) -> None:
    """A multi-objective population's front: one line per member, then its hyperparameters."""
    front, volume = pop.front, pop.hypervolume
    names = [o.metric for o in pop.settings.objectives]
    say(f"front: {len(front)} members not beaten on every one of {', '.join(names)}"
        + ("" if volume is None else f" | hypervolume {fmt(volume)}"))
    for m in front:
        values = " ".join(f"{n}={fmt(m.metrics.get(n))}" for n in names)
        say(f"  member {m.member_id} at step {m.step}: {values} | {hparams_text(m.hparams)}")


def cmd_schedule(args: argparse.Namespace) -> int:
    """Print or write (`-o`) a member's schedule: text for people (control characters
    escaped), or CSV or JSON that `popbt.schedules` reads back exactly.

    Raises:
        ConfigError: no such population or member, or the output file cannot be written.
    """
    from popbt import schedules

    pop = open_population(args)
    schedule = pop.schedule(args.member)
    form = "json" if args.json else args.format
    if form == "text":
        text = printable(f"schedule of member {args.member} (hyperparameters from each step "
                         f"on):") + "\n" + "".join(printable(f"{step:>8}  {hparams_text(hp)}")
                                                   + "\n" for step, hp in schedule)
    else:
        text = schedules.to_csv(schedule) if form == "csv" else schedules.to_json(schedule) + "\n"
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


def _schedule_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("member", type=int)
    storage_args(p)
    p.add_argument("--format", choices=("text", "csv", "json"), default="text")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


def _bytes(n: int) -> str:
    """`n` bytes for people: "512 B", "1.5 kB", ..., "3.2 GB"."""
    if n < 1000:
        return f"{n} B"
    size = n / 1000
    for unit in ("kB", "MB"):
        if size < 1000:
            return f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def cmd_gc(args: argparse.Namespace) -> int:
    """Sweep the population's checkpoint folder (see `popbt.garbage` for the rule)."""
    pop = open_population(args)
    done = pop.gc(min_age_s=args.min_age, dry_run=args.dry_run)
    if args.json:
        print_json({"name": pop.name, "root": done.root, "dry_run": done.dry_run,
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


def _gc_args(p: argparse.ArgumentParser) -> None:
    storage_args(p)
    p.add_argument("--min-age", type=float, default=DEFAULT_GC_MIN_AGE_S, metavar="SECONDS",
                   help=f"remove only files at least this old (default "
                        f"{DEFAULT_GC_MIN_AGE_S:g}, so files of running workers are kept; "
                        f"0 when no worker runs)")
    p.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    p.add_argument("--json", action="store_true")


COMMANDS = (
    Command("status", "members, steps and scores", _storage_and_json, cmd_status),
    Command("best", "the best member", _storage_and_json, cmd_best),
    Command("schedule", "a member's hyperparameter schedule", _schedule_args, cmd_schedule),
    Command("gc", "remove checkpoint files left by killed workers (temporary files, "
                  "checkpoints no row points at)", _gc_args, cmd_gc),
)
