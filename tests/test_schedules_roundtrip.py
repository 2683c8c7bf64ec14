"""CSV (and JSON) schedules read back exactly what was written, whatever the values: text
that looks like a number, a boolean or a spreadsheet formula stays text, and no cell starts
a formula or holds a character a terminal acts on. Files of the earlier format still read."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import popbt
from popbt import schedules
from popbt._text import unsafe

TRICKY_TEXT = ["1.5", "true", "false", "null", "2", "-0.0", "1e300", "NaN", "Infinity", "nan",
               "=1+2", "+1", "-1", "@SUM(A1)", "=HYPERLINK(\"http://x\")", "'quoted", "''",
               '"q"', '"', "'", "", " ", "a,b", "line\nbreak", "\r", "cr\r\nlf", "\t=1",
               "\x1b[31mred", "bell\x07", "\x00", "\x7f", "\x9b", "\u202eevil", "\u2028",
               "é😀", "[1, 2]", "{}", "step", "\\", "\\n", "'=1"]
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")

values = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 0.0, 1e300, -1e300, 5e-324, 1.5, 0.1]),
    st.booleans(),
    st.none(),
    st.text(),
    st.sampled_from(TRICKY_TEXT),
)
names = st.one_of(st.text(min_size=1), st.sampled_from(["lr", "=cmd", "-x", "'a", '"b', "a,b",
                                                        "new\nline", "\x1b", "step"]))


def same(a: schedules.Schedule, b: schedules.Schedule) -> bool:
    """Equal, with the same types and the sign of zero (== says -0.0 == 0 == False)."""
    def key(s: schedules.Schedule) -> list[Any]:
        return [(step, [(k, type(v), repr(v)) for k, v in hp.items()]) for step, hp in s]
    return key(a) == key(b)


@st.composite
def schedule_of_mixed_values(draw: st.DrawFn) -> schedules.Schedule:
    keys = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    steps = draw(st.lists(st.integers(1, 10**6), max_size=4, unique=True))
    return [(step, {k: draw(values) for k in keys}) for step in [0, *sorted(steps)]]


@settings(max_examples=300, deadline=None)
@given(schedule_of_mixed_values())
def test_csv_and_json_round_trip_exactly(schedule: schedules.Schedule):
    text = schedules.to_csv(schedule)
    assert same(schedules.from_csv(text), schedule)
    assert same(schedules.from_json(schedules.to_json(schedule)), schedule)
    # one line per row, and nothing a terminal would act on
    assert text.count("\n") == len(schedule) + 1 and not unsafe(text.replace("\n", ""))
    rows = list(csv.reader(io.StringIO(text)))
    for row, (_, hparams) in zip(rows[1:], schedule, strict=True):
        for cell, value in zip(row[1:], hparams.values(), strict=True):
            if isinstance(value, str):  # text is marked, so never a number or a formula
                assert cell[:1] in ("'", '"'), (value, cell)
            assert not cell.startswith(FORMULA_LEADS) or isinstance(value, int | float)
    for cell in rows[0][1:]:
        assert not cell.startswith(FORMULA_LEADS), cell


@pytest.mark.parametrize("value", TRICKY_TEXT)
def test_text_that_looks_like_something_else_stays_text(value: str):
    schedule = [(0, {"h": value}), (10, {"h": 1.5}), (20, {"h": True}), (30, {"h": None})]
    back = schedules.from_csv(schedules.to_csv(schedule))
    assert same(back, schedule)
    assert type(back[0][1]["h"]) is str


@pytest.mark.parametrize(("value", "cell"), [
    ("1.5", "'1.5"), ("true", "'true"), ("2", "'2"), ("=1+2", "'=1+2"), ("+1", "'+1"),
    ("-1", "'-1"), ("@x", "'@x"), ("adam", "'adam"), ("'", "''"),
    (1.5, "1.5"), (2, "2"), (-0.0, "-0.0"), (1e300, "1e+300"), (True, "true"),
    (None, "null"), ("a\x1b[31m", '"a\\u001b[31m"'), ("x\ny", '"x\\ny"'),
    ("\u202e", '"\\u202e"'), ("\x9b", '"\\u009b"'),
])
def test_the_cells_as_written(value: Any, cell: str):
    text = schedules.to_csv([(0, {"h": value})])
    assert list(csv.reader(io.StringIO(text)))[1] == ["0", cell]


def test_a_file_round_trips_through_disk(tmp_path: Path):
    schedule = [(0, {"opt": "cr\r\nlf", "=f": "=1+2", "n": 3}),
                (5, {"opt": "1", "=f": "", "n": -0.0})]
    path = tmp_path / "s.csv"
    path.write_text(schedules.to_csv(schedule), encoding="utf-8")
    assert same(schedules.read_schedule(str(path)), schedule)
    assert same(schedules.read_schedule(path), schedule)  # a pathlib.Path as well


@pytest.mark.parametrize(("text", "expected"), [
    ("step,lr,opt\n0,0.1,adam\n5,1e-3,sgd\n", [(0, {"lr": 0.1, "opt": "adam"}),
                                                (5, {"lr": 0.001, "opt": "sgd"})]),
    ("step,lr,on\n0,1,true\n", [(0, {"lr": 1, "on": True})]),
    ("step,x\n0,null\n", [(0, {"x": None})]),
    ("step,x\n0,[1]\n", [(0, {"x": "[1]"})]),
    ("step,x\n0,nan\n", [(0, {"x": "nan"})]),
    ("step,x\n0,NaN\n", [(0, {"x": "NaN"})]),
    ("step,x\n0,hello world\n", [(0, {"x": "hello world"})]),
    ("step,x\r\n0,a\r\n", [(0, {"x": "a"})]),
])
def test_files_of_the_earlier_format_still_read(text: str, expected: schedules.Schedule):
    assert same(schedules.from_csv(text), expected)


@pytest.mark.parametrize(("text", "message"), [
    ("step,x\n0,1e999\n", "line 2, column 'x': '1e999' is not a finite number"),
    ("step,x,x\n0,1,2\n", "names \\['x'\\] more than once"),
])
def test_bad_cells_are_refused(text: str, message: str):
    with pytest.raises(popbt.ConfigError, match=message):
        schedules.from_csv(text)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused_in_both_formats(value: float):
    for write in (schedules.to_csv, schedules.to_json):
        with pytest.raises(popbt.ConfigError, match="finite"):
            write([(0, {"h": value})])
    with pytest.raises(popbt.ConfigError, match="finite"):
        schedules.from_json('[{"step": 0, "hparams": {"h": NaN}}]')


def test_values_csv_cannot_hold_are_refused():
    with pytest.raises(popbt.ConfigError, match="use JSON"):
        schedules.to_csv([(0, {"h": [1, 2]})])
    with pytest.raises(popbt.ConfigError, match="surrogate"):
        schedules.to_csv([(0, {"h": "\udcff"})])


def test_a_binary_file_is_refused(tmp_path: Path):
    path = tmp_path / "s.csv"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(popbt.ConfigError, match="'.*s.csv' is not UTF-8 text"):
        schedules.read_schedule(str(path))


def test_fit_space_checks_names_types_and_domains():
    space = popbt.Space({"lr": popbt.LogUniform(1e-3, 1.0), "bs": popbt.IntUniform(8, 64),
                         "opt": popbt.Choice(["adam", "1.5"])})
    good = [(0, {"lr": 0.1, "bs": 32.0, "opt": "1.5"})]
    assert schedules.fit_space(good, space) == [(0, {"lr": 0.1, "bs": 32, "opt": "1.5"})]
    for hparams, message in (
            ({"lr": 0.1, "bs": 32, "opt": 1.5}, "is not one of"),
            ({"lr": 0.1, "bs": 32, "opt": "adam", "x": 1}, "unknown hyperparameters"),
            ({"lr": 0.1, "bs": 32}, "missing"),
            ({"lr": "0.1", "bs": 32, "opt": "adam"}, "must be a number"),
            ({"lr": 2.0, "bs": 32, "opt": "adam"}, "outside"),
            ({"lr": 0.1, "bs": 32.5, "opt": "adam"}, "not an integer")):
        with pytest.raises(popbt.ConfigError, match=f"entry of step 0 .*{message}"):
            schedules.fit_space([(0, hparams)], space)
