"""`popbt replay`: train a fresh model along a member's schedule, or along a schedule file.

Contract: with `--member` the schedule, steps and seed come from the stored population
(nothing in it changes); with `--schedule FILE` the file is checked against the user's
`space` first and `--steps` (and `--ready-every`/`--metric` unless the file defines
`ready`/`metric`) are needed. Prints the replayed score (and the original member's), or
`--json`. Bad input raises `ConfigError` naming the file.
"""

from __future__ import annotations

import argparse
from typing import Any

from popbt._cli_args import integer, say, utf8_text
from popbt.cli._common import Command, fmt, open_population, print_json, storage_args
from popbt.cli._userfile import find_trainable, load_file, module_setting
from popbt.errors import ConfigError


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay a member's schedule or a schedule file; see the module contract."""
    from popbt.replay import replay, replay_member
    from popbt.schedules import fit_space, read_schedule
    from popbt.space import Space

    module = load_file(args.file)
    trainable = find_trainable(module, args.file, args.trainable)
    original = None
    if args.schedule:
        ready = (args.ready_every if args.ready_every is not None
                 else getattr(module_setting(module, "ready"), "steps", None))
        metric = args.metric or module_setting(module, "metric")
        if args.steps is None or ready is None or metric is None:
            raise ConfigError("replaying a schedule file needs --steps, and --ready-every and "
                              "--metric unless the file defines `ready` and `metric`")
        space = module_setting(module, "space")
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
        pop = open_population(args)
        original = pop.member(args.member)
        result = replay_member(pop, args.member, trainable, seed=args.seed)
    summary: dict[str, Any] = {
        "steps": result.steps, "seed": result.seed, "score": result.score,
        "metrics": result.metrics, "changes": len(result.schedule) - 1,
        "scores": [{"step": s, "score": v} for s, v in result.scores],
        "original": None if original is None else {
            "member_id": original.member_id, "step": original.step, "score": original.score}}
    if args.json:
        print_json(summary)
        return 0
    what = (f"member {original.member_id}'s schedule" if original is not None
            else f"the schedule in {args.schedule}")
    say(f"replayed {what} ({summary['changes']} changes) for {result.steps} steps from "
        f"seed {result.seed}: score {fmt(result.score)}")
    if original is not None:
        say(f"original: member {original.member_id}, score {fmt(original.score)} at step "
            f"{original.step}")
    return 0


def _replay_args(rep: argparse.ArgumentParser) -> None:
    rep.add_argument("file", help="the Python file that defines the Trainable")
    storage_args(rep)
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


COMMANDS = (
    Command("replay", "train a fresh model along a member's schedule", _replay_args,
            cmd_replay),
)
