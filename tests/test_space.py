"""Search-space domains and `Space`: sampling, perturbation, unit coordinates, validation."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import popbt
from popbt import Choice, ConfigError, IntUniform, LogUniform, Space, Uniform
from popbt.space import Domain

# Moderate bounds keep the generic properties clear of the float-overflow edge cases, which
# have their own tests below.
BOUND = 1e6
SETTINGS = settings(max_examples=100, deadline=None)

bounded = st.floats(min_value=-BOUND, max_value=BOUND, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-8, max_value=BOUND)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
positive_factors = st.floats(min_value=1e-100, max_value=1e100, exclude_min=False)
any_float = st.floats(allow_nan=False)  # includes ±inf; NaN has its own test


@st.composite
def uniforms(draw: st.DrawFn) -> Uniform:
    lo, hi = sorted(draw(st.lists(bounded, min_size=2, max_size=2, unique=True)))
    return Uniform(lo, hi)


@st.composite
def log_uniforms(draw: st.DrawFn) -> LogUniform:
    lo = draw(positive)
    # a relative width of at least 1e-6 (see test_loguniform_sample_narrow_domain)
    ratio = draw(st.floats(min_value=1.0 + 1e-6, max_value=1e6))
    return LogUniform(lo, lo * ratio)


@st.composite
def int_uniforms(draw: st.DrawFn) -> IntUniform:
    lo = draw(st.integers(-10**6, 10**6))
    hi = draw(st.integers(lo + 1, lo + 10**6))
    return IntUniform(lo, hi)


choice_items = st.one_of(
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=5),
    st.booleans(),
)


@st.composite
def choices(draw: st.DrawFn) -> Choice:
    values = draw(st.lists(choice_items, min_size=1, max_size=8))
    # drop values equal to an earlier one (1 == 1.0 == True collide in a set)
    unique: list = []
    for v in values:
        if all(v != u for u in unique):
            unique.append(v)
    return Choice(unique, ordered=draw(st.booleans()))


domains = st.one_of(uniforms(), log_uniforms(), int_uniforms(), choices())
non_uniform_domains = st.one_of(log_uniforms(), int_uniforms(), choices())


@st.composite
def domain_and_value(draw: st.DrawFn, strategy: st.SearchStrategy[Domain] = domains):
    dom = draw(strategy)
    if isinstance(dom, Uniform | LogUniform):
        value = draw(st.floats(min_value=dom.lo, max_value=dom.hi))
    elif isinstance(dom, IntUniform):
        value = draw(st.integers(dom.lo, dom.hi))
    else:
        value = draw(st.sampled_from(dom.values))
    return dom, value


def assert_inside(dom: Domain, value: object) -> None:
    normalised = dom.validate("h", value)  # raises ConfigError when outside
    assert normalised == value
    assert type(normalised) is type(value)


# ---------------------------------------------------------------------------------------------
# Sampling, perturbation and unit coordinates stay inside the domain


@SETTINGS
@given(dom=domains, seed=seeds)
def test_sample_is_inside_domain(dom: Domain, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(5):
        assert_inside(dom, dom.sample(rng))


@SETTINGS
@given(dv=domain_and_value(), factor=positive_factors)
def test_perturb_stays_inside_domain(dv: tuple[Domain, object], factor: float) -> None:
    dom, value = dv
    assert_inside(dom, dom.perturb(value, factor))


@SETTINGS
@given(dv=domain_and_value(), factor=st.floats(min_value=1e-3, max_value=1e3))
def test_perturb_direction_follows_factor(dv: tuple[Domain, object], factor: float) -> None:
    dom, value = dv
    moved = dom.perturb(value, factor)
    if isinstance(dom, Choice):
        i = dom.values.index(value)
        j = dom.values.index(moved)
        expected = i + (1 if factor > 1 else -1 if factor < 1 else 0)
        assert j == min(max(expected, 0), len(dom.values) - 1)
    elif isinstance(dom, Uniform | LogUniform):
        assert moved == min(max(value * factor, dom.lo), dom.hi)
    elif value >= 0:  # IntUniform; multiplication flips direction for negative values
        assert moved >= value if factor > 1 else moved <= value
        assert abs(moved - value * factor) <= 1.0 or moved in (dom.lo, dom.hi)


@SETTINGS
@given(dom=non_uniform_domains, u=any_float)
def test_from_unit_is_inside_domain(dom: Domain, u: float) -> None:
    assert_inside(dom, dom.from_unit(u))


@SETTINGS
@given(dom=uniforms(), u=any_float)
@example(dom=Uniform(-0.1, 0.3), u=1.0)
def test_uniform_from_unit_is_inside_domain(dom: Uniform, u: float) -> None:
    assert_inside(dom, dom.from_unit(u))


@SETTINGS
@given(dom=domains, u=any_float)
def test_from_unit_clips_outside_unit_interval(dom: Domain, u: float) -> None:
    clipped = min(max(u, 0.0), 1.0)
    assert dom.from_unit(u) == dom.from_unit(clipped)
    if isinstance(dom, Uniform | LogUniform | IntUniform):
        assert dom.from_unit(-1.0) == dom.lo
        assert dom.from_unit(math.inf) == pytest.approx(dom.hi, abs=float_slack(dom))


def float_slack(dom: Uniform | LogUniform | IntUniform) -> float:
    """A few units in the last place of the domain's largest bound."""
    return 4 * math.ulp(max(abs(dom.lo), abs(dom.hi)))


@pytest.mark.parametrize("dom", [Uniform(0.0, 1.0), LogUniform(1e-3, 1.0), IntUniform(0, 9),
                                 Choice(["a", "b", "c"])], ids=repr)
def test_from_unit_nan_stays_inside_domain(dom: Domain) -> None:
    assert_inside(dom, dom.from_unit(math.nan))


@SETTINGS
@given(dv=domain_and_value())
def test_to_unit_is_in_unit_interval(dv: tuple[Domain, object]) -> None:
    dom, value = dv
    assert 0.0 <= dom.to_unit(value) <= 1.0 + 1e-12


@SETTINGS
@given(dv=domain_and_value())
def test_from_unit_inverts_to_unit(dv: tuple[Domain, object]) -> None:
    dom, value = dv
    back = dom.from_unit(dom.to_unit(value))
    if isinstance(dom, Uniform):
        assert back == pytest.approx(value, abs=float_slack(dom))
    elif isinstance(dom, LogUniform):
        assert back == pytest.approx(value, rel=1e-9)
    else:
        assert back == value
        assert type(back) is type(value)


@SETTINGS
@given(dom=domains, u=st.floats(min_value=0.0, max_value=1.0))
def test_to_unit_inverts_from_unit(dom: Domain, u: float) -> None:
    u_back = dom.to_unit(dom.from_unit(u))
    if isinstance(dom, Uniform):
        assert u_back == pytest.approx(u, abs=float_slack(dom) / (dom.hi - dom.lo) + 1e-12)
    elif isinstance(dom, LogUniform):
        assert u_back == pytest.approx(u, abs=1e-8)
    elif isinstance(dom, IntUniform):
        assert abs(u_back - u) <= 0.5 / (dom.hi - dom.lo) + 1e-12
    elif len(dom.values) > 1:
        assert abs(u_back - u) <= 0.5 / (len(dom.values) - 1) + 1e-12
    else:
        assert u_back == 0.0


def test_loguniform_unit_coordinate_is_logarithmic() -> None:
    dom = LogUniform(1e-4, 1.0)
    assert dom.to_unit(1e-2) == pytest.approx(0.5)
    assert dom.from_unit(0.25) == pytest.approx(1e-3)
    assert dom.to_unit(1e-4) == 0.0
    assert dom.from_unit(1.0) == 1.0


def test_sample_covers_the_domain() -> None:
    rng = np.random.default_rng(0)
    ints = {IntUniform(2, 5).sample(rng) for _ in range(400)}
    assert ints == {2, 3, 4, 5}
    picks = {Choice(["a", "b", "c"]).sample(rng) for _ in range(300)}
    assert picks == {"a", "b", "c"}
    logs = np.array([LogUniform(1e-4, 1.0).sample(rng) for _ in range(4000)])
    # uniform in log10 on [-4, 0]: a quarter of the mass per decade
    assert np.mean(logs < 1e-3) == pytest.approx(0.25, abs=0.03)
    assert np.mean(np.log10(logs)) == pytest.approx(-2.0, abs=0.1)


def test_sample_is_deterministic_given_seed() -> None:
    space = Space({"lr": LogUniform(1e-4, 1e-1), "bs": IntUniform(8, 256),
                   "opt": Choice(["sgd", "adam"]), "m": Uniform(0.0, 1.0)})
    a = space.sample(np.random.default_rng(42))
    b = space.sample(np.random.default_rng(42))
    c = space.sample(np.random.default_rng(43))
    assert a == b
    assert a != c
    assert list(a) == ["lr", "bs", "opt", "m"]


# ---------------------------------------------------------------------------------------------
# IntUniform and Choice perturbation


@SETTINGS
@given(dv=domain_and_value(int_uniforms()), factor=st.floats(min_value=1e-3, max_value=1e3))
def test_intuniform_perturb_moves_at_least_one_step(dv: tuple[IntUniform, int],
                                                    factor: float) -> None:
    dom, value = dv
    moved = dom.perturb(value, factor)
    assert isinstance(moved, int)
    if factor == 1.0:
        assert moved == value
    elif moved == value:
        assert value in (dom.lo, dom.hi)


@pytest.mark.parametrize(("value", "factor", "expected"), [
    (1, 1.2, 2),    # round(1.2) == 1: forced one step up
    (1, 0.8, 0),    # round(0.8) == 1: forced one step down
    (0, 1.2, 1),    # 0 * factor == 0: still explores
    (2, 1.2, 3),    # round(2.4) == 2: forced up
    (10, 1.2, 12),  # ordinary rounding
    (10, 0.8, 8),
    (10, 1.0, 10),  # factor 1 leaves the value alone
    (16, 100.0, 20),  # clipped to hi
    (1, 0.001, 0),    # clipped to lo
])
def test_intuniform_perturb_examples(value: int, factor: float, expected: int) -> None:
    assert IntUniform(0, 20).perturb(value, factor) == expected


def test_intuniform_perturb_at_bound_stays() -> None:
    dom = IntUniform(3, 7)
    assert dom.perturb(7, 1.2) == 7
    assert dom.perturb(3, 0.8) == 3


def test_intuniform_perturb_huge_factor_clips() -> None:
    assert IntUniform(0, 10).perturb(2, 1e308) == 10


@pytest.mark.parametrize("ordered", [True, False])
def test_choice_perturb_moves_to_neighbour(ordered: bool) -> None:
    dom = Choice([32, 64, 128, 256], ordered=ordered)
    assert dom.perturb(64, 1.2) == 128
    assert dom.perturb(64, 0.8) == 32
    assert dom.perturb(64, 1.0) == 64
    assert dom.perturb(256, 1.2) == 256
    assert dom.perturb(32, 0.5) == 32


def test_choice_distinguishes_bool_from_int() -> None:
    dom = Choice([0, 1, 2])
    with pytest.raises(ConfigError, match="True"):
        dom.validate("h", True)
    assert Choice([False, True]).validate("h", True) is True
    assert Choice(["x", 2.5]).validate("h", 2.5) == 2.5


def test_choice_with_nan_value_is_rejected_or_consistent() -> None:
    """A Choice must never sample a value its own validate rejects."""
    try:
        dom = Choice([math.nan, 1.0])
    except ConfigError:
        return
    rng = np.random.default_rng(0)
    for _ in range(20):
        dom.validate("h", dom.sample(rng))


# ---------------------------------------------------------------------------------------------
# Validation of domain arguments


@pytest.mark.parametrize("cls", [Uniform, LogUniform])
@pytest.mark.parametrize(("lo", "hi"), [(1.5, 1.5), (2.5, 0.5)])
def test_empty_or_inverted_float_range(cls: type, lo: float, hi: float) -> None:
    with pytest.raises(ConfigError) as err:
        cls(lo, hi)
    assert repr(lo) in str(err.value) and repr(hi) in str(err.value)


@pytest.mark.parametrize(("lo", "hi"), [(5, 5), (7, 3)])
def test_empty_or_inverted_int_range(lo: int, hi: int) -> None:
    with pytest.raises(ConfigError) as err:
        IntUniform(lo, hi)
    assert str(lo) in str(err.value) and str(hi) in str(err.value)


@pytest.mark.parametrize("lo", [0.0, -0.5, -3.0])
def test_loguniform_needs_positive_lo(lo: float) -> None:
    with pytest.raises(ConfigError, match=re.escape(repr(lo))):
        LogUniform(lo, 1.0)


@pytest.mark.parametrize("cls", [Uniform, LogUniform])
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_bounds(cls: type, bad: float) -> None:
    with pytest.raises(ConfigError, match=f"lo must be finite, got {bad!r}"):
        cls(bad, 10.0)
    with pytest.raises(ConfigError, match=f"hi must be finite, got {bad!r}"):
        cls(1.0, bad)


@pytest.mark.parametrize("bad", ["1", None, True, [1]])
def test_non_numeric_bounds(bad: object) -> None:
    for cls in (Uniform, LogUniform):
        with pytest.raises(ConfigError, match=re.escape(repr(bad))):
            cls(bad, 10.0)
    with pytest.raises(ConfigError, match=re.escape(repr(bad))):
        IntUniform(0, bad)


@pytest.mark.parametrize("bad", [1.5, 2.0, math.inf, "3"])
def test_intuniform_needs_integer_bounds(bad: object) -> None:
    with pytest.raises(ConfigError, match=re.escape(repr(bad))):
        IntUniform(bad, 10)


def test_bounds_accept_numpy_numbers() -> None:
    assert Uniform(np.float32(0.5), np.int64(2)) == Uniform(0.5, 2.0)
    dom = IntUniform(np.int32(1), np.int64(4))
    assert dom == IntUniform(1, 4)
    assert type(dom.lo) is int


def test_choice_needs_values() -> None:
    with pytest.raises(ConfigError, match=re.escape("Choice([])")):
        Choice([])
    with pytest.raises(ConfigError, match="'abc'"):
        Choice("abc")
    with pytest.raises(ConfigError, match="None"):
        Choice([1, None])
    with pytest.raises(ConfigError, match=re.escape("[1, 2, 1]")):
        Choice([1, 2, 1])


def test_uniform_bounds_are_floats_and_domains_are_frozen() -> None:
    dom = Uniform(0, 1)
    assert type(dom.lo) is float and type(dom.hi) is float
    with pytest.raises(AttributeError):
        dom.lo = 0.5  # type: ignore[misc]


def test_uniform_with_overflowing_width() -> None:
    try:
        dom = Uniform(-1e308, 1e308)
    except ConfigError:
        return
    assert_inside(dom, dom.sample(np.random.default_rng(0)))
    assert_inside(dom, dom.from_unit(0.0))


def test_loguniform_sample_narrow_domain() -> None:
    dom = LogUniform(81.34569689610721, 81.3456968961073)
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert_inside(dom, dom.sample(rng))


def test_intuniform_validate_keeps_large_integers() -> None:
    assert IntUniform(0, 2**60).validate("h", 2**60 - 1) == 2**60 - 1


# ---------------------------------------------------------------------------------------------
# Validation of values


@pytest.mark.parametrize(("dom", "bad"), [
    (Uniform(0.0, 1.0), 1.5),
    (Uniform(0.0, 1.0), -0.25),
    (Uniform(0.0, 1.0), math.nan),
    (Uniform(0.0, 1.0), math.inf),
    (Uniform(0.0, 1.0), "0.5"),
    (Uniform(0.0, 1.0), True),
    (LogUniform(1e-4, 1e-1), 0.5),
    (LogUniform(1e-4, 1e-1), 0.0),
    (IntUniform(1, 10), 11),
    (IntUniform(1, 10), 2.5),
    (IntUniform(1, 10), None),
    (Choice(["a", "b"]), "c"),
    (Choice([1, 2]), 3),
], ids=repr)
def test_validate_rejects_values_outside(dom: Domain, bad: object) -> None:
    with pytest.raises(ConfigError) as err:
        dom.validate("lr", bad)
    assert repr(bad) in str(err.value)
    assert "'lr'" in str(err.value)


def test_validate_normalises() -> None:
    assert IntUniform(1, 10).validate("h", 4.0) == 4
    assert type(IntUniform(1, 10).validate("h", np.int64(4))) is int
    assert type(Uniform(0, 1).validate("h", np.float32(0.5))) is float
    assert LogUniform(1e-4, 1e-1).validate("h", 1e-4) == 1e-4
    assert Uniform(0, 1).validate("h", 1) == 1.0


def test_config_error_is_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
    assert issubclass(ConfigError, popbt.PopbtError)


# ---------------------------------------------------------------------------------------------
# Space


def make_space() -> Space:
    return Space({
        "lr": LogUniform(1e-4, 1e-1),
        "momentum": Uniform(0.0, 0.99),
        "batch_size": IntUniform(16, 256),
        "optimizer": Choice(["sgd", "adam"], ordered=False),
        "layers": Choice([1, 2, 4]),
        "flag": Choice([False, True]),
    })


def test_space_is_an_immutable_mapping() -> None:
    space = make_space()
    assert len(space) == 6
    assert list(space) == ["lr", "momentum", "batch_size", "optimizer", "layers", "flag"]
    assert space["layers"] == Choice([1, 2, 4])
    with pytest.raises(TypeError):
        space["lr"] = Uniform(0, 1)  # type: ignore[index]
    with pytest.raises(TypeError):
        hash(space)
    assert "Space(" in repr(space) and "LogUniform" in repr(space)


def test_space_copies_its_input() -> None:
    domains = {"a": Uniform(0, 1)}
    space = Space(domains)
    domains["b"] = Uniform(0, 1)
    assert list(space) == ["a"]


@SETTINGS
@given(doms=st.lists(domains, min_size=1, max_size=5), seed=seeds)
def test_space_json_round_trip(doms: list[Domain], seed: int) -> None:
    space = Space({f"h{i}": d for i, d in enumerate(doms)})
    data = space.to_json()
    assert Space.from_json(data) == space
    again = Space.from_json(json.loads(json.dumps(data)))
    assert again == space
    assert again.to_json() == data
    hp = space.sample(np.random.default_rng(seed))
    assert again.validate(hp) == hp


def test_space_json_keeps_choice_order_and_flag() -> None:
    space = Space({"c": Choice([3, "x", 1.5, True], ordered=False)})
    back = Space.from_json(json.loads(json.dumps(space.to_json())))
    assert back["c"].values == (3, "x", 1.5, True)
    assert back["c"].ordered is False
    assert back != Space({"c": Choice([3, "x", 1.5, True], ordered=True)})


def test_space_from_json_rejects_unknown_type() -> None:
    with pytest.raises(ConfigError, match="'Normal'"):
        Space.from_json({"x": {"type": "Normal", "mu": 0}})
    with pytest.raises(ConfigError, match="None"):
        Space.from_json({"x": {"lo": 0, "hi": 1}})


@SETTINGS
@given(seed=seeds)
def test_space_sample_validates(seed: int) -> None:
    space = make_space()
    hp = space.sample(np.random.default_rng(seed))
    assert space.validate(hp) == hp


def test_space_validate_normalises() -> None:
    space = make_space()
    hp = {"lr": 1e-3, "momentum": 0, "batch_size": 32.0, "optimizer": "adam", "layers": 2,
          "flag": False}
    out = space.validate(hp)
    assert out == hp
    assert type(out["momentum"]) is float and type(out["batch_size"]) is int
    assert list(out) == list(space)


def test_space_validate_unknown_key() -> None:
    space = make_space()
    hp = space.sample(np.random.default_rng(0))
    with pytest.raises(ConfigError, match="'dropout'"):
        space.validate({**hp, "dropout": 0.1})


def test_space_validate_missing_key() -> None:
    space = make_space()
    hp = space.sample(np.random.default_rng(0))
    del hp["batch_size"]
    with pytest.raises(ConfigError, match="'batch_size'"):
        space.validate(hp)


def test_space_validate_value_outside() -> None:
    space = make_space()
    hp = {**space.sample(np.random.default_rng(0)), "lr": 0.5}
    with pytest.raises(ConfigError, match="0.5"):
        space.validate(hp)


def test_space_complete() -> None:
    space = make_space()
    out = space.complete({"lr": 0.01, "layers": 4}, np.random.default_rng(0))
    assert out["lr"] == 0.01 and out["layers"] == 4
    assert space.validate(out) == out
    # the sampled rest depends on the rng only
    again = space.complete({"lr": 0.01, "layers": 4}, np.random.default_rng(0))
    assert again == out
    with pytest.raises(ConfigError, match="'dropout'"):
        space.complete({"dropout": 0.1}, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="7"):
        space.complete({"layers": 7}, np.random.default_rng(0))


@pytest.mark.parametrize("bad", [{}, None, [("a", Uniform(0, 1))]], ids=repr)
def test_space_needs_non_empty_mapping(bad: object) -> None:
    with pytest.raises(ConfigError, match=re.escape(repr(bad))):
        Space(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [(0.0, 1.0), "Uniform", None, Uniform], ids=repr)
def test_space_rejects_non_domain_values(bad: object) -> None:
    with pytest.raises(ConfigError) as err:
        Space({"x": bad})  # type: ignore[dict-item]
    assert repr(bad) in str(err.value) and "'x'" in str(err.value)


@pytest.mark.parametrize("bad", [1, "", None])
def test_space_rejects_bad_names(bad: object) -> None:
    with pytest.raises(ConfigError, match=re.escape(repr(bad))):
        Space({bad: Uniform(0, 1)})  # type: ignore[dict-item]
