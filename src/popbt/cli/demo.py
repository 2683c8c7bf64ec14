"""`popbt demo toy | digits`: the built-in demonstrations.

Contract: `toy` runs the paper's toy problem (4 variants × `--seeds`) and prints a table
(`--json`: the rows) and, unless `--out ''`, writes a figure (skipped with a note when
matplotlib is missing). `digits` trains a small network on scikit-learn's digits with PBT
(needs `popbt[torch,examples]`) in a temporary storage unless `--storage` is given. Bad
input (a figure folder that does not exist, a missing extra) raises `ConfigError`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from popbt._cli_args import MAX_POPULATION, integer, number, say, utf8_text
from popbt.cli._common import Command, hparams_text, print_json
from popbt.errors import ConfigError


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demonstration `args.which`; see the module contract."""
    if args.which == "digits":
        return _demo_digits(args)
    from popbt.demos import toy

    steps = 400 if args.steps is None else args.steps
    if args.out and not Path(args.out).resolve().parent.is_dir():
        raise ConfigError(f"--out {args.out!r}: the folder {str(Path(args.out).parent)!r} "
                          f"does not exist; give a path in an existing folder, or --out '' "
                          f"for no figure")
    noisy = f", Gaussian noise of sd {args.noise:g} on Q" if args.noise else ""
    print(f"toy problem: 4 variants × {args.seeds} seeds, {steps} steps each{noisy} ...",
          file=sys.stderr)
    runs = toy.run_toy(seeds=args.seeds, steps=steps, noise=args.noise)
    rows = toy.summarize(runs)
    if args.json:
        print_json(rows)
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
        raise ConfigError(f"the digits demo needs PyTorch and scikit-learn ({exc}); "
                          f"pip install 'popbt[torch,examples]'") from None
    with tempfile.TemporaryDirectory(prefix="popbt-digits-") as tmp:
        from popbt._secrets import safe_url

        storage = args.storage or f"sqlite:///{tmp}/digits.db"
        steps = 2000 if args.steps is None else args.steps
        say(f"digits: {args.population} members × {steps} steps, {args.workers} workers, PBT "
            f"over {', '.join(digits.SPACE)} ({safe_url(storage)})", err=True)
        result = digits.run_demo(storage=storage, population=args.population,
                                 workers=args.workers, steps=steps, progress=not args.json)
    if args.json:
        print_json({**result, "schedule": [{"step": s, "hparams": h}
                                           for s, h in result["schedule"]]})
        return 0
    print(f"best: member {result['member_id']} at step {result['step']}: validation accuracy "
          f"{result['val_accuracy']:.4f}, test accuracy {result['test_accuracy']:.4f} "
          f"({result['exploits']} exploits in the run)")
    say(f"hyperparameters: {hparams_text(result['hparams'])}")
    say(f"its schedule ({len(result['schedule'])} entries):")
    for step, hp in result["schedule"]:
        say(f"{step:>8}  {hparams_text(hp)}")
    return 0


def _demo_args(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("which", choices=("toy", "digits"))
    demo.add_argument("--seeds", type=integer(1), default=20, help="toy: seeds per variant")
    demo.add_argument("--steps", type=integer(1),
                      help="steps per member (toy 400, digits 2000)")
    demo.add_argument("--out", default="toy.png", help="toy: figure path ('' for none)")
    demo.add_argument("--noise", type=number(), default=0.0,
                      help="toy: the standard deviation of Gaussian noise on the reported Q "
                           "(default 0: the paper's toy)")
    demo.add_argument("--population", type=integer(2, MAX_POPULATION), default=16,
                      help="digits: members")
    demo.add_argument("--workers", type=integer(1, MAX_POPULATION), default=2,
                      help="digits: worker processes")
    demo.add_argument("--storage", type=utf8_text,
                      help="digits: keep the population in this storage URL")
    demo.add_argument("--json", action="store_true")


COMMANDS = (Command("demo", "built-in demonstrations", _demo_args, cmd_demo),)
