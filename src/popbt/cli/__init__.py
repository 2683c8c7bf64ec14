"""The `popbt` command: run, worker, resize, check, status, best, schedule, gc, league, export,
replay, report, dashboard, demo. The commands that only read (status, best, schedule, league,
export, report, dashboard, gc) create nothing in a storage and never import the user's code.

Bad input and failed runs end with one line on stderr (`popbt: error: ...`) and a non-zero
exit status, never a traceback: 2 for bad input or storage (`ConfigError`,
`PopulationExists`, `PopulationNotFound`, `StorageError`, ...), 1 for a run that failed
(`TrainingError`, `FatalRunError`), 130 when interrupted (Ctrl-C), 143 when terminated
(SIGTERM; worker processes are stopped and their members given back first). The storage
URL comes from `--storage`, else `$POPBT_STORAGE` (which keeps a password off the command
line), else `sqlite:///popbt.db`; no output shows its password. Output for people shows
control characters in names, values and messages as escapes (`\\x1b`; see `popbt._text`);
JSON and CSV output hold them exactly, escaped as those formats escape them.

Contract: `COMMANDS` is the one registry of sub-commands, in the order `--help` lists them;
each module of this package names its commands (`Command`: name, help, argument set-up,
function) once, and the strategy choices come from `popbt.strategies.registry`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from popbt import _secrets
from popbt._cli_args import Parser
from popbt._signals import Terminated, sigterm_interrupts, told
from popbt._text import printable
from popbt.cli import check, demo, export, league, replay, report, resize, train, views
from popbt.cli._common import Command
from popbt.errors import PopbtError, TrainingError

__all__ = ["COMMANDS", "Command", "build_parser", "main"]

COMMANDS: tuple[Command, ...] = (
    *train.COMMANDS, *resize.COMMANDS, *check.COMMANDS, *views.COMMANDS, *league.COMMANDS,
    *export.COMMANDS, *replay.COMMANDS, *report.COMMANDS, *demo.COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command in `COMMANDS`; its errors are one line (exit status 2)."""
    parser = Parser(prog="popbt", description="Population Based Training.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help)
        command.setup(p)
        p.set_defaults(func=command.run)
    return parser


def _redact(text: str, url: str | None, checkpoints: str | None = None) -> str:
    """`text` without the secrets of the storage URL `url` (as `popbt._secrets` and as the
    database driver read it), nor the credentials of a `checkpoints` URL."""
    also = (_secrets.password_of(url),) if url else ()
    return _secrets.redact_run(text, storage=url, checkpoints=checkpoints, also=also)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        with sigterm_interrupts():
            status: int = args.func(args)
            return status
    except PopbtError as exc:
        shown = _redact(str(exc), getattr(args, "storage", None),
                        getattr(args, "checkpoints", None))
        print(f"popbt: error: {printable(shown)}", file=sys.stderr)
        return 1 if isinstance(exc, TrainingError) else 2
    except Terminated as exc:  # a run has said what it gave back and how to resume
        if not told(exc):
            print("popbt: terminated (SIGTERM); run the same command again to resume",
                  file=sys.stderr)
        return 143
    except KeyboardInterrupt as exc:
        if not told(exc):
            print("popbt: interrupted; run the same command again to resume",
                  file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
