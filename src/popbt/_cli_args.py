"""The `popbt` command's argument parser: values checked as they are parsed, errors in one line.

Contract:
- `Parser.error` (a missing or unknown argument, a value a `type=` function refused) prints
  one line on stderr, `popbt: error: <command>: <what is wrong>; see 'popbt <command>
  --help'`, control characters escaped (see `popbt._text`), and exits with status 2; no
  usage block, never a traceback.
- Each factory here returns a `type=` function that returns the parsed value or raises
  `argparse.ArgumentTypeError` with a message that quotes the text given and says what is
  valid. They refuse what the library would choke on (text that is not UTF-8, numbers that
  overflow the storage, non-finite numbers); range checks the library makes itself with a
  message of its own are left to it.
Importing this module imports nothing heavy.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import NoReturn

from popbt._text import printable, shorten

INT64_MAX = 2**63 - 1  # the largest integer a storage column holds
MAX_POPULATION = 1_000_000  # every member's hyperparameters are sampled at once, in memory


class Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one `popbt: error: ...` line (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.partition(" ")[2]
        where = f"{command}: " if command else ""
        self.exit(2, f"popbt: error: {printable(where + message)}; see "
                     f"'{printable(self.prog)} --help'\n")


def _shown(text: str) -> str:
    return repr(shorten(text, 60))


def _utf8(text: str) -> str:
    """`text`, unless it holds bytes that were not UTF-8 on the command line (Python keeps
    them as lone surrogates, which no storage or file name can hold)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is not UTF-8 text; give it in UTF-8 (check the terminal's or "
            f"the script's encoding)") from None
    return text


def utf8_text(value: str) -> str:
    """Any UTF-8 text (a metric, a class name, a storage URL)."""
    return _utf8(value)


def population_name(*, new: bool = False) -> Callable[[str], str]:
    """A population's name: non-empty UTF-8 text; with `new`, one that a population can be
    created under (see `popbt._places.check_name`: length, no '/', no control characters)."""

    def name(value: str) -> str:
        _utf8(value)
        if not value:
            raise argparse.ArgumentTypeError("the name is empty; give a population name")
        if new:
            from popbt._places import check_name
            from popbt.errors import ConfigError

            try:
                check_name(value)
            except ConfigError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    return name


def integer(lo: int | None = None, hi: int | None = INT64_MAX) -> Callable[[str], int]:
    """An integer in [lo, hi] (either end open when None)."""
    if lo is not None and hi is not None:
        valid = f"an integer from {lo} to {hi}"
    elif lo is not None:
        valid = f"an integer >= {lo}"
    else:
        valid = "an integer" if hi is None else f"an integer up to {hi}"

    def checked_int(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {valid}, got {_shown(value)}") from None
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise argparse.ArgumentTypeError(f"expected {valid}, got {_shown(value)}")
        return number

    return checked_int


def number() -> Callable[[str], float]:
    """A finite float."""

    def finite_number(value: str) -> float:
        try:
            result = float(value)
        except ValueError:
            result = math.nan
        if not math.isfinite(result):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {_shown(value)}")
        return result

    return finite_number


def positive_number() -> Callable[[str], float]:
    """A finite float above 0."""
    finite = number()

    def positive(value: str) -> float:
        result = finite(value)
        if result <= 0:
            raise argparse.ArgumentTypeError(f"expected a number above 0, got {_shown(value)}")
        return result

    return positive


def lease_seconds() -> Callable[[str], float]:
    """A claim lease: seconds above 0, at most `popbt.worker.MAX_LEASE_S`."""

    def lease(value: str) -> float:
        from popbt.worker import MAX_LEASE_S

        try:
            result = float(value)
        except ValueError:
            result = math.nan
        if not 0 < result <= MAX_LEASE_S:  # False for NaN
            raise argparse.ArgumentTypeError(
                f"expected a number of seconds above 0 and at most {MAX_LEASE_S:g} (a week; "
                f"the heartbeat renews a lease every third of it), got {_shown(value)}")
        return result

    return lease


def say(line: str = "", *, err: bool = False) -> None:
    """Print one line for people, control characters escaped (see `popbt._text`)."""
    print(printable(line), file=sys.stderr if err else sys.stdout)
