"""Hyperparameter schedules as files: CSV (one row per change, one column per name) or JSON.

A schedule is `[(step, hparams), ...]`, steps strictly increasing from 0, every entry naming
the same hyperparameters (what `Population.schedule` returns). Both formats round-trip it
unchanged: numbers are written with Python's shortest exact `repr` and read back as the same
int or float; booleans as `true`/`false`; other values as text. (A text value that reads as
a number, such as the string "1", comes back as the number: use JSON for such spaces.)
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from popbt.errors import ConfigError

Schedule = list[tuple[int, dict[str, Any]]]
FORMATS = ("csv", "json")


def check_schedule(schedule: Sequence[tuple[int, dict[str, Any]]]) -> Schedule:
    """The schedule as a list, checked.

    Raises:
        ConfigError: empty, not starting at step 0, steps not strictly increasing integers,
            or entries naming different hyperparameters.
    """
    entries = list(schedule)
    if not entries:
        raise ConfigError("the schedule is empty; it needs at least the entry of step 0")
    names = None
    last = -1
    for i, entry in enumerate(entries):
        if not (isinstance(entry, tuple | list) and len(entry) == 2
                and isinstance(entry[1], dict)):
            raise ConfigError(f"schedule entry {i} is {entry!r}; expected (step, hparams)")
        step, hparams = entry
        if isinstance(step, bool) or not isinstance(step, int) or step <= last:
            raise ConfigError(f"schedule entry {i} has step {step!r}; steps are integers that "
                              f"start at 0 and increase")
        if i == 0 and step != 0:
            raise ConfigError(f"the schedule starts at step {step}; it must start at 0")
        if names is not None and set(hparams) != names:
            raise ConfigError(f"schedule entry {i} names {sorted(hparams)}, entry 0 names "
                              f"{sorted(names)}")
        names, last = set(hparams), step
    return [(step, dict(hparams)) for step, hparams in entries]


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"hyperparameter value {value!r} cannot be written")
        return repr(value)
    return str(value)


def _value(cell: str) -> Any:
    try:
        value = json.loads(cell)
    except ValueError:
        return cell
    return value if isinstance(value, bool | int | float) or value is None else cell


def to_csv(schedule: Sequence[tuple[int, dict[str, Any]]]) -> str:
    """The schedule as CSV text: a header `step,<names...>` and one row per entry."""
    entries = check_schedule(schedule)
    names = list(entries[0][1])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", *names])
    for step, hparams in entries:
        writer.writerow([step, *(_cell(hparams[n]) for n in names)])
    return out.getvalue()


def from_csv(text: str) -> Schedule:
    """The schedule `to_csv` wrote.

    Raises:
        ConfigError: no `step` column first, a row of the wrong length, or a bad schedule.
    """
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not rows[0] or rows[0][0] != "step":
        raise ConfigError("a schedule CSV starts with a header row 'step,<hyperparameter "
                          "names...>'")
    names = rows[0][1:]
    entries = []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(names) + 1:
            raise ConfigError(f"schedule CSV line {n} has {len(row)} fields; the header has "
                              f"{len(names) + 1}")
        try:
            step = int(row[0])
        except ValueError:
            raise ConfigError(f"schedule CSV line {n}: step {row[0]!r} is not an integer") \
                from None
        entries.append((step, {k: _value(v) for k, v in zip(names, row[1:], strict=True)}))
    return check_schedule(entries)


def to_json(schedule: Sequence[tuple[int, dict[str, Any]]]) -> str:
    """The schedule as JSON: `[{"step": 0, "hparams": {...}}, ...]`."""
    return json.dumps([{"step": s, "hparams": h} for s, h in check_schedule(schedule)],
                      indent=1)


def from_json(text: str) -> Schedule:
    """The schedule `to_json` wrote.

    Raises:
        ConfigError: not that shape, or a bad schedule.
    """
    try:
        items = json.loads(text)
        entries = [(item["step"], item["hparams"]) for item in items]
    except (ValueError, TypeError, KeyError):
        raise ConfigError('a schedule JSON is a list of {"step": ..., "hparams": {...}}') \
            from None
    return check_schedule(entries)


def read_schedule(path: str) -> Schedule:
    """A schedule from a `.csv` or `.json` file.

    Raises:
        ConfigError: another suffix, a missing file, or a bad schedule.
    """
    suffix = path.rsplit(".", 1)[-1].lower()
    if suffix not in FORMATS:
        raise ConfigError(f"schedule file {path!r}: expected a .csv or .json file")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read schedule file {path!r}: {exc.strerror}") from None
    return from_csv(text) if suffix == "csv" else from_json(text)
