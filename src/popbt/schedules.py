"""Hyperparameter schedules as files: CSV (one row per change, one column per name) or JSON.

A schedule is `[(step, hparams), ...]`, steps strictly increasing from 0, every entry naming
the same hyperparameters (what `Population.schedule` returns), every number finite. Both
formats round-trip it exactly: the same values of the same types (int, float, bool, None,
str) come back.

A CSV cell holds one value, written so that it reads back as itself and is safe to open in a
spreadsheet or print on a terminal:
- a number: Python's shortest exact `repr` (`3`, `0.001`, `-0.0`, `1e+300`), read back as
  the same int or float;
- a boolean or None: `true`, `false`, `null`;
- text: a `'` followed by the text (`'adam`, `'1.5`, `'true`, `'=1+2`), so that it is never
  read as a number, a boolean or a spreadsheet formula (the apostrophe is the spreadsheets'
  own mark for text); text holding a character that a terminal acts on (a control
  character such as a newline or ESC; see `popbt._text`) is written instead as a JSON
  string, those characters escaped: `"two\\nlines"`.
A hyperparameter name in the header is written as it is, unless it starts with one of
`' " = + - @`, holds such a character or has the form `name[part]`, when it is written as
text is. A `popbt.Simplex` hyperparameter (a dict of weights) takes one column per component,
headed `name[component]` (unmarked), each cell that component's weight.

Files written before this encoding (text as it was, unmarked) are read as they were where
that is unambiguous: a cell that is not a number, `true`, `false`, `null`, `'`-marked text
or a JSON string is text. (Unmarked text that reads as a number still comes back as the
number, and old text starting with `'` or `"` loses that mark.)
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from popbt._text import unsafe
from popbt.errors import ConfigError

if TYPE_CHECKING:
    from popbt.space import Space

Schedule = list[tuple[int, dict[str, Any]]]
FORMATS = ("csv", "json")
_TEXT = "'"  # the mark of a text cell
_LEADS = ("'", '"', "=", "+", "-", "@")  # a name starting with one of these is marked
_SURROGATES = re.compile("[\ud800-\udfff]")
_COMPONENT = re.compile(r"(.+)\[([^\[\]]+)\]")  # the header of a Simplex's component


def check_schedule(schedule: Sequence[tuple[int, dict[str, Any]]]) -> Schedule:
    """The schedule as a list, checked.

    Raises:
        ConfigError: empty, not starting at step 0, steps not strictly increasing integers,
            entries naming different hyperparameters, or a value that is a float but not a
            finite one.
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
        infinite = {k: v for k, v in hparams.items()
                    if any(isinstance(x, float) and not math.isfinite(x)
                           for x in (v.values() if isinstance(v, dict) else [v]))}
        if infinite:
            raise ConfigError(f"schedule entry {i} (step {step}) has {infinite!r}; hyperparameter "
                              f"values are finite numbers, booleans or text")
        names, last = set(hparams), step
    return [(step, dict(hparams)) for step, hparams in entries]


def fit_space(schedule: Sequence[tuple[int, dict[str, Any]]], space: Space) -> Schedule:
    """The schedule checked, every entry validated by `space` (and normalised as
    `Space.validate` does: an `IntUniform` value 64.0 becomes 64).

    Raises:
        ConfigError: a bad schedule, or an entry that names a hyperparameter the space lacks,
            leaves one out, or holds a value of the wrong type or outside its domain (the
            message names the entry's step).
    """
    entries = []
    for step, hparams in check_schedule(schedule):
        try:
            entries.append((step, space.validate(hparams)))
        except ConfigError as exc:
            raise ConfigError(f"the entry of step {step} does not fit the search space: "
                              f"{exc}") from None
    return entries


def _text_cell(text: str) -> str:
    """`text` marked: `'text`, or a JSON string when it holds a character to escape."""
    if not unsafe(text):
        return _TEXT + text
    if _SURROGATES.search(text):
        raise ConfigError(f"hyperparameter text {text!r} holds a lone surrogate, which is not "
                          f"Unicode text and cannot be written")
    escaped = json.dumps(text, ensure_ascii=False)  # escapes C0 controls, quotes, backslashes
    return "".join(f"\\u{ord(c):04x}" if unsafe(c) else c for c in escaped)


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, numbers.Integral):
        return repr(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ConfigError(f"hyperparameter value {value!r} cannot be written; values are "
                              f"finite numbers, booleans or text")
        return repr(number)
    if isinstance(value, str):
        return _text_cell(value)
    raise ConfigError(f"hyperparameter value {value!r} ({type(value).__name__}) cannot be "
                      f"written to CSV, which holds numbers, booleans, None and text; use JSON")


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not numbers here: the cell is text


def _value(cell: str, where: str) -> Any:
    if cell.startswith(_TEXT):
        return cell[1:]
    try:
        value = json.loads(cell, parse_constant=_no_constant)
    except ValueError:
        return cell  # unmarked text, as files of the earlier format hold it
    if isinstance(value, str) and not cell.startswith('"'):
        return cell
    if isinstance(value, float) and not math.isfinite(value):  # 1e999
        raise ConfigError(f"{where}: {cell!r} is not a finite number")
    return value if isinstance(value, bool | int | float | str) or value is None else cell


def _name_cell(name: Any) -> str:
    if not isinstance(name, str):
        raise ConfigError(f"hyperparameter name {name!r} is not a string")
    marked = name.startswith(_LEADS) or unsafe(name) or _COMPONENT.fullmatch(name)
    return _text_cell(name) if marked else name


def _headers(name: str, value: Any) -> list[str]:
    """The header cells of hyperparameter `name`: one, or one per component of a dict."""
    if not isinstance(value, dict):
        return [_name_cell(name)]
    if _name_cell(name) != name:
        raise ConfigError(f"the Simplex hyperparameter {name!r} cannot head CSV columns "
                          f"(it would be marked as text); write the schedule as JSON")
    return [f"{name}[{component}]" for component in value]


def _name(cell: str) -> tuple[str, str | None]:
    """The hyperparameter (and the Simplex component, or None) a header cell names."""
    if cell.startswith(_TEXT):
        return cell[1:], None
    if cell.startswith('"'):
        try:
            name = json.loads(cell)
        except ValueError:
            return cell, None
        return (name if isinstance(name, str) else cell), None
    part = _COMPONENT.fullmatch(cell)
    return (part.group(1), part.group(2)) if part else (cell, None)


def to_csv(schedule: Sequence[tuple[int, dict[str, Any]]]) -> str:
    """The schedule as CSV text: a header `step,<names...>` and one row per entry."""
    entries = check_schedule(schedule)
    first = entries[0][1]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", *(h for n, v in first.items() for h in _headers(n, v))])
    for step, hparams in entries:
        row: list[Any] = [step]
        for name, value in hparams.items():
            if isinstance(first[name], dict):
                if not isinstance(value, dict) or list(value) != list(first[name]):
                    raise ConfigError(f"schedule entry of step {step}: {name!r} is {value!r}; "
                                      f"entry 0 has the weights of {list(first[name])}")
                row += [_cell(value[c]) for c in value]
            else:
                row.append(_cell(value))
        writer.writerow(row)
    return out.getvalue()


def from_csv(text: str) -> Schedule:
    """The schedule `to_csv` wrote (or the earlier format wrote; see the module).

    Raises:
        ConfigError: not CSV, no `step` column first, a name twice, a row of the wrong
            length, a number that is not finite, or a bad schedule.
    """
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ConfigError(f"the schedule is not CSV text: {exc}") from None
    if not rows or not rows[0] or rows[0][0] != "step":
        raise ConfigError("a schedule CSV starts with a header row 'step,<hyperparameter "
                          "names...>'")
    columns = [_name(cell) for cell in rows[0][1:]]
    twice = sorted({f"{n}[{c}]" if c else n for n, c in columns if columns.count((n, c)) > 1})
    mixed = sorted({n for n, c in columns if c is None} & {n for n, c in columns if c})
    if twice or mixed:
        raise ConfigError(f"the schedule CSV's header names {twice or mixed!r} more than once")
    entries = []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(columns) + 1:
            raise ConfigError(f"schedule CSV line {n} has {len(row)} fields; the header has "
                              f"{len(columns) + 1}")
        try:
            step = int(row[0])
        except ValueError:
            raise ConfigError(f"schedule CSV line {n}: step {row[0]!r} is not an integer") \
                from None
        hparams: dict[str, Any] = {}
        for (name, component), cell in zip(columns, row[1:], strict=True):
            value = _value(cell, f"schedule CSV line {n}, column {name!r}")
            if component is None:
                hparams[name] = value
            else:
                hparams.setdefault(name, {})[component] = value
        entries.append((step, hparams))
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
    except (ValueError, TypeError, KeyError, RecursionError):
        raise ConfigError('a schedule JSON is a list of {"step": ..., "hparams": {...}}') \
            from None
    return check_schedule(entries)


def read_schedule(path: str | os.PathLike[str]) -> Schedule:
    """A schedule from a `.csv` or `.json` file (a path as a string or a `pathlib.Path`).

    Raises:
        ConfigError: another suffix, a file that cannot be read or is not UTF-8 text, or a
            bad schedule (the message names the file).
    """
    path = os.fspath(path)
    suffix = path.rsplit(".", 1)[-1].lower()
    if suffix not in FORMATS:
        raise ConfigError(f"schedule file {path!r}: expected a .csv or .json file")
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read schedule file {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"schedule file {path!r} is not UTF-8 text (byte {exc.start} is "
                          f"{exc.object[exc.start:exc.start + 1]!r}); expected a schedule "
                          f"that popbt schedule wrote") from None
    try:
        return from_csv(text) if suffix == "csv" else from_json(text)
    except ConfigError as exc:
        raise ConfigError(f"schedule file {path!r}: {exc}") from None
