"""`popbt check FILE`: exercise a run file's trainable before a run (see `popbt.check`).

Contract: the file is loaded as `popbt run` loads it (its Trainable, `space`, and `metric`
unless `--metric` is given); `popbt.check_trainable` runs on it for `--steps` steps. Every
finding is printed on a line of its own and the status is 1; with none, one line says so and
the status is 0. Bad input (a file without a Trainable or `space`) raises `ConfigError`.
"""

from __future__ import annotations

import argparse

from popbt._cli_args import integer, say, utf8_text
from popbt.cli._common import Command
from popbt.cli._userfile import find_trainable, load_file, module_setting
from popbt.errors import ConfigError

__all__ = ["COMMANDS", "cmd_check"]

DEFAULT_STEPS = 3


def cmd_check(args: argparse.Namespace) -> int:
    """Check the file's trainable; 0 when nothing was found, else 1 (see the module)."""
    import popbt
    from popbt.check import check_trainable

    module = load_file(args.file)
    trainable = find_trainable(module, args.file, args.trainable)
    space = module_setting(module, "space")
    if not isinstance(space, popbt.Space):
        raise ConfigError(f"{args.file!r} must define `space = popbt.Space({{...}})`")
    result = check_trainable(trainable, space, steps=args.steps, seed=args.seed,
                             metric=args.metric or module_setting(module, "metric"),
                             league=module_setting(module, "league"))
    for line in str(result).splitlines():
        say(line)
    return 0 if result.ok else 1


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a Python file defining a Trainable and `space`")
    p.add_argument("--trainable", type=utf8_text,
                   help="the Trainable class, if the file defines several")
    p.add_argument("--steps", type=integer(1), default=DEFAULT_STEPS,
                   help=f"steps of each training the check runs (default {DEFAULT_STEPS})")
    p.add_argument("--seed", type=integer(0, None), default=0,
                   help="seed of the sampled hyperparameters and of the trainable")
    p.add_argument("--metric", type=utf8_text,
                   help="the only key of evaluate() to compare (default: the file's "
                        "`metric`, else every value evaluate() returns)")


COMMANDS = (
    Command("check", "exercise a file's Trainable before a run: state its checkpoint leaves "
                     "out, hyperparameters that change nothing or are never read",
            _check_args, cmd_check),
)
