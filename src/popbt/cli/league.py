"""`popbt league`: a population's league, its players' ratings and records.

Contract: it reads only (nothing is created, the user's code is not imported). Text lists
every player (live members and frozen entries) by rating, best first, with its games and
score (the mean of its results); `--json` has the same, the number of matches, and with
`--matches` every match. A population without a league says so (`ConfigError`).
"""

from __future__ import annotations

import argparse
import dataclasses

from popbt._cli_args import say
from popbt.cli._common import Command, fmt, open_population, print_json, storage_args
from popbt.errors import ConfigError


def cmd_league(args: argparse.Namespace) -> int:
    """Print the league's standings (see the module contract)."""
    from popbt.league.standings import standings

    pop = open_population(args)
    league = pop.settings.league
    if league is None:
        raise ConfigError(f"population {pop.name!r} has no league (create it with "
                          f"league=popbt.League(...))")
    store, row = pop.storage, pop.row
    matches = store.matches(row)
    table = standings(pop.members, store.entries(row, initial=league.rating.initial),
                      store.ratings(row), matches, league.rating.initial)
    if args.json:
        out = {"name": pop.name, "matches": len(matches),
               "players": [dataclasses.asdict(s) for s in table]}
        if args.matches:
            out["match_records"] = [dataclasses.asdict(m) for m in matches]
        print_json(out)
        return 0
    entries = sum(s.frozen for s in table)
    say(f"league of {pop.name}: {len(table) - entries} members, {entries} frozen entries, "
        f"{len(matches)} matches")
    say(f"{'player':<12} {'member':>6} {'step':>8} {'rating':>9} {'games':>6} {'score':>6}")
    for s in table:
        score = "-" if s.score is None else f"{s.score:.3f}"
        say(f"{s.key:<12} {s.member_id:>6} {s.step:>8} {fmt(s.rating):>9} {s.games:>6} "
            f"{score:>6}")
    return 0


def _league_args(p: argparse.ArgumentParser) -> None:
    storage_args(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--matches", action="store_true", help="with --json, every match too")


COMMANDS = (Command("league", "a league's players: ratings, games and scores", _league_args,
                    cmd_league),)
