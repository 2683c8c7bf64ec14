"""The library refuses, with a ConfigError (or StorageError) that names the value and the rule,
inputs that used to overflow, turn into NaN, or fail later: domain bounds, leases, population
names, storage URLs, files that exit at import, the toy demo's counts. And `popbt._text`
escapes what a terminal would act on."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import popbt
from popbt._refs import load_file
from popbt._text import printable, shorten, unsafe
from popbt.replay import replay
from popbt.storage.sql import SQLStorage, password_of, safe_url
from popbt.worker import MAX_LEASE_S, WorkerOptions
from trainables import SPACE, Quadratic

INT64 = 2**63 - 1

# -- domains -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("lo", "hi", "bad"), [(0, 10**30, "hi=" + str(10**30)),
                                               (-(2**63) - 1, 0, "lo=" + str(-(2**63) - 1)),
                                               (0, 2**63, "hi=" + str(2**63))])
def test_intuniform_bounds_are_64_bit(lo: int, hi: int, bad: str):
    with pytest.raises(popbt.ConfigError, match=re.escape(bad)) as info:
        popbt.IntUniform(lo, hi)
    assert str(INT64) in str(info.value)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(1e-3, 1e3))
def test_the_widest_intuniform_samples_and_perturbs_in_range(seed: int, factor: float):
    dom = popbt.IntUniform(-(2**63), INT64)
    rng = np.random.default_rng(seed)
    value = dom.sample(rng)
    for v in (value, dom.perturb(value, factor), dom.from_unit(dom.to_unit(value))):
        assert isinstance(v, int) and -(2**63) <= v <= INT64
    assert 0.0 <= dom.to_unit(value) <= 1.0


@pytest.mark.parametrize(("lo", "hi", "fragment"), [
    (1e-320, 1.0, "subnormal"), (5e-324, 1e-300, "subnormal"),
    (1e-300, 1e300, "hi / lo overflows"), (1e-10, 1.7e308, "hi / lo overflows"),
])
def test_loguniform_refuses_bounds_without_finite_coordinates(lo: float, hi: float,
                                                              fragment: str):
    with pytest.raises(popbt.ConfigError, match=re.escape(fragment)) as info:
        popbt.LogUniform(lo, hi)
    assert repr(lo) in str(info.value)


@settings(max_examples=200, deadline=None)
@given(st.floats(sys.float_info.min, sys.float_info.max), st.floats(1.0, math.inf),
       st.integers(0, 2**32 - 1))
def test_every_accepted_loguniform_has_finite_unit_coordinates(lo: float, ratio: float,
                                                               seed: int):
    hi = lo * ratio
    try:
        dom = popbt.LogUniform(lo, hi)
    except popbt.ConfigError:
        return  # an empty range, or one whose ratio overflows
    value = dom.sample(np.random.default_rng(seed))
    for v in (value, dom.lo, dom.hi, dom.from_unit(0.5)):
        u = dom.to_unit(v)
        assert math.isfinite(u) and -1e-9 <= u <= 1 + 1e-9, (dom, v, u)
        assert dom.lo <= dom.from_unit(u) <= dom.hi


@pytest.mark.parametrize(("lo", "hi"), [(-1e308, 1e308), (-math.inf, 0.0), (0.0, math.inf)])
def test_uniform_refuses_infinite_bounds_and_overflowing_widths(lo: float, hi: float):
    with pytest.raises(popbt.ConfigError):
        popbt.Uniform(lo, hi)


# -- leases, names, storage URLs, files --------------------------------------------------------

@pytest.mark.parametrize("lease", [math.inf, math.nan, 0, -1.0, MAX_LEASE_S * 2, 1e300])
def test_a_lease_is_positive_finite_and_at_most_a_week(lease: float):
    with pytest.raises(popbt.ConfigError, match="at most 604800"):
        WorkerOptions(lease_s=lease)
    WorkerOptions(lease_s=MAX_LEASE_S)


@pytest.mark.parametrize(("name", "fragment"), [
    ("a" * 201, "too long (201 characters"), ("é" * 128, "256 bytes"),
    ("x\x1b[31m", "holds '\\x1b'"), ("x\x00", "holds '\\x00'"), ("\u202eab", "\\u202e"),
    ("a/b", "holds '/'"), ("a\\b", "holds '\\\\'"), ("\udcff", "not UTF-8"),
    (" ", "blank"), ("..", "is '..'"), (3, "name=3"),
])
def test_population_names_are_checked_at_creation(make_pop, name: object, fragment: str):
    with pytest.raises(popbt.ConfigError, match=re.escape(fragment)) as info:
        make_pop(name=name)
    assert "1 to 200 characters, at most 255 bytes" in str(info.value)
    assert len(str(info.value)) < 400


def test_names_at_the_limits_are_accepted_and_train(make_pop):
    for name in ("a" * 200, "é" * 127, "\N{GRINNING FACE}" * 63, "a b-c_d.e"):
        pop = make_pop(name=name, size=2)
        pop.train(Quadratic, steps=5, progress=False)
        assert all(m.step == 5 and m.failures == 0 for m in pop.members)


def test_a_port_that_is_not_a_number_is_a_storage_error():
    url = "postgresql+psycopg://u:secret@localhost:abc/db"
    assert safe_url(url) == "<unparseable storage URL>" and password_of(url) == ""
    with pytest.raises(popbt.StorageError, match="port is not a number") as info:
        SQLStorage(url)
    assert "secret" not in str(info.value) and "localhost:abc" in str(info.value)


@pytest.mark.parametrize(("source", "fragment"), [
    ("import sys\nsys.exit(0)\n", "called sys.exit(0) while being imported"),
    ("import sys\nsys.exit(3)\n", "called sys.exit(3)"),
    ("raise SystemExit\n", "called sys.exit()"),
    ("class Stop(BaseException):\n    pass\n\n\nraise Stop('x')\n", "raised Stop(x)"),
])
def test_load_file_turns_an_exit_into_a_config_error(tmp_path: Path, source: str,
                                                     fragment: str):
    path = tmp_path / "exits.py"
    path.write_text(source)
    with pytest.raises(popbt.ConfigError, match=re.escape(fragment)):
        load_file(path)
    assert not any(getattr(m, "__file__", None) == str(path) for m in sys.modules.values())


def test_load_file_lets_keyboard_interrupt_and_errors_through(tmp_path: Path):
    (tmp_path / "ctrl_c.py").write_text("raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        load_file(tmp_path / "ctrl_c.py")
    (tmp_path / "bad.py").write_text("1 / 0\n")
    with pytest.raises(ZeroDivisionError):
        load_file(tmp_path / "bad.py")


@pytest.mark.parametrize(("kwargs", "fragment"), [({"seeds": 0}, "seeds=0"),
                                                  ({"seeds": -2}, "seeds=-2"),
                                                  ({"steps": 0}, "steps=0")])
def test_the_toy_demo_needs_a_seed_and_a_step(kwargs: dict[str, int], fragment: str):
    from popbt.demos import toy

    with pytest.raises(popbt.ConfigError, match=re.escape(fragment)):
        toy.run_toy(**kwargs)


def test_replay_with_a_space_checks_every_entry():
    good = [(0, {"lr": 0.1, "noise": 0.01}), (5, {"lr": 0.2, "noise": 0})]
    result = replay(Quadratic, good, steps=10, ready_every=5, metric="score", space=SPACE)
    assert result.schedule == [(0, {"lr": 0.1, "noise": 0.01}), (5, {"lr": 0.2, "noise": 0.0})]
    for bad in ({"lr": "nan", "noise": 0.0}, {"lr": 0.1, "noise": 0.0, "x": 1},
                {"lr": 0.1}, {"lr": 7.0, "noise": 0.0}):
        with pytest.raises(popbt.ConfigError, match="entry of step 0"):
            replay(Quadratic, [(0, bad)], steps=10, ready_every=5, metric="score", space=SPACE)


# -- popbt._text -------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "shown"), [
    ("plain é 😀 \\ text", "plain é 😀 \\ text"),
    ("\x1b[31mred\x07", "\\x1b[31mred\\x07"), ("a\nb\rc\td", "a\\nb\\rc\\td"),
    ("\x00\x7f\x9b", "\\x00\\x7f\\x9b"), ("\u202eevil\u2066", "\\u202eevil\\u2066"),
    ("\u2028\udcff", "\\u2028\\udcff"),
])
def test_printable_escapes_what_a_terminal_acts_on_and_nothing_else(text: str, shown: str):
    assert printable(text) == shown
    assert not unsafe(printable(text))


def test_unsafe_and_shorten():
    assert unsafe("a\x1bb\x1bc\x07") == ["\x1b", "\x07"]
    assert shorten("abc", 3) == "abc" and shorten("abcd", 3) == "abc…"
