"""What every `popbt` command shares: the command record, the storage arguments, opening a
population to read, and output for people and for JSON.

Contract:
- A `Command` is one sub-command: its name, one line of help, `setup` (adds its arguments
  to its sub-parser) and `run` (takes the parsed arguments, returns the exit status; bad
  input raises `PopbtError`). `popbt.cli` builds the parser from the registry of them.
- `open_population` creates nothing in a storage and never imports the user's code.
- `print_json` writes non-finite floats as null; `say` (from `popbt._cli_args`) escapes
  control characters for people.
Importing this module imports nothing heavy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from popbt._cli_args import population_name, utf8_text

if TYPE_CHECKING:
    from popbt.population import Population

DEFAULT_STORAGE = "sqlite:///popbt.db"


@dataclass(frozen=True)
class Command:
    """One `popbt` sub-command, registered in one place.

    Examples:
        >>> Command("hello", "say hello", lambda p: None, lambda args: 0).name
        'hello'
    """

    name: str
    help: str
    setup: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def default_storage() -> str:
    """`$POPBT_STORAGE`, else `DEFAULT_STORAGE` (read when the parser is built)."""
    return os.environ.get("POPBT_STORAGE") or DEFAULT_STORAGE


def storage_args(p: argparse.ArgumentParser, *, name_required: bool = False,
                 creates: bool = False) -> None:
    """`--storage` and `--name` (with `creates`, a name a population can be created under)."""
    p.add_argument("--storage", default=default_storage(), type=utf8_text,
                   help=f"storage URL (default: $POPBT_STORAGE, else {DEFAULT_STORAGE}), "
                        f"e.g. postgresql+psycopg://user@host/db")
    p.add_argument("--name", required=name_required, type=population_name(new=creates),
                   help="population name")


def open_population(args: argparse.Namespace) -> Population:
    """The population `--name` (or the only one) of `--storage`, opened to read: nothing is
    created, the user's code is not imported.

    Raises:
        PopulationNotFound: no such population (the message lists those there are).
        StorageError: the storage does not exist or cannot be opened.
    """
    from popbt.population import load_population
    from popbt.storage import get_storage

    storage = get_storage(args.storage, create=False)  # a reader creates nothing
    return load_population(name=storage.find_population(args.name).name, storage=storage)


def jsonable(obj: Any) -> Any:
    """`obj` with non-finite floats as None and dict keys as text."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


def print_json(obj: Any) -> None:
    """Print `obj` as indented JSON (non-finite floats as null)."""
    print(json.dumps(jsonable(obj), indent=2))


def fmt(value: Any) -> str:
    """A value for people: floats to 6 significant digits; a Simplex's weights as
    `component:weight` pairs joined by commas (`web:0.5,code:0.3,books:0.2`)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ",".join(f"{k}:{fmt(v)}" for k, v in value.items())
    return str(value)


def hparams_text(hparams: dict[str, Any]) -> str:
    """`name=value` pairs separated by spaces."""
    return " ".join(f"{k}={fmt(v)}" for k, v in hparams.items())
