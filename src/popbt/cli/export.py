"""`popbt export`: a member's weights as a file of their own, its schedule and record beside
it (see `popbt.export`).

Contract: it creates nothing in a storage, changes no record and never imports the user's
code; it writes only the three files it names. No such population or member, a member
without a checkpoint, or a path that cannot be written raises `ConfigError` (one line).
"""

from __future__ import annotations

import argparse

from popbt._cli_args import say
from popbt.cli._common import Command, fmt, open_population, storage_args


def member_id(value: str) -> int | str:
    """"best", or a member id (an integer >= 0)."""
    if value == "best":
        return value
    if value.isdigit():
        return int(value)
    raise argparse.ArgumentTypeError(f"expected a member id (an integer >= 0) or 'best', "
                                     f"got {value[:60]!r}")


def cmd_export(args: argparse.Namespace) -> int:
    """Export the member; one line on stderr says what was written where."""
    from popbt.export import export_member

    pop = open_population(args)
    done = export_member(pop, args.output, member=args.member)
    member = pop.member(done.member_id)
    what = ("its model's state_dict (torch.save)" if done.contents == "state_dict"
            else "its whole state (popbt.export.load_state reads it)")
    say(f"member {member.member_id} ({pop.settings.metric} = {fmt(member.score)} at step "
        f"{member.step}) exported: {done.state}: {what}; {done.schedule}: its schedule; "
        f"{done.record}: its record", err=True)
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    storage_args(p)
    p.add_argument("--member", type=member_id, default="best",
                   help="a member id, or best (the default)")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="where the weights go: for a TorchTrainable its model's state_dict "
                        "(model.load_state_dict(torch.load(PATH))), for any other trainable "
                        "its whole state in popbt's checkpoint format; beside it "
                        "PATH.schedule.json (the schedule, as `popbt schedule --json`) and "
                        "PATH.json (step, score, metrics, hyperparameters)")


COMMANDS = (
    Command("export", "write a member's weights, schedule and record to files",
            _export_args, cmd_export),
)
