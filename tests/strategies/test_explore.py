"""Explore strategies, custom explore callables, and strategy config round trips."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popbt import (
    Choice,
    ConfigError,
    Every,
    GaussianNoise,
    IntUniform,
    LogUniform,
    NoExploit,
    Perturb,
    Resample,
    Space,
    Tournament,
    Truncation,
    TTest,
    Uniform,
)
from popbt.strategies import CallableExplore, Explore, as_explore, from_config

SPACE = Space({
    "lr": LogUniform(1e-4, 1e-1),
    "momentum": Uniform(0.0, 1.0),
    "batch_size": IntUniform(8, 256),
    "layers": Choice([1, 2, 4, 8]),
    "optimizer": Choice(["sgd", "adam", "rmsprop"], ordered=False),
})
START = {"lr": 1e-2, "momentum": 0.5, "batch_size": 64, "layers": 2, "optimizer": "adam"}
ORDERED = ["lr", "momentum", "batch_size", "layers"]

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------------------------
# Perturb


def test_perturb_multiplies_by_one_of_the_factors() -> None:
    strategy = Perturb(factors=(0.8, 1.2), resample_probability=0.0)
    labels: Counter = Counter()
    for seed in range(300):
        new, ops = strategy.explore(START, SPACE, rng(seed))
        assert set(ops) == set(SPACE)
        assert ops["optimizer"] == "resample"  # unordered choices always resample
        for name in ORDERED:
            assert ops[name] in {"×0.8", "×1.2"}
            labels[ops[name]] += 1
            factor = float(ops[name][1:])
            assert new[name] == SPACE[name].perturb(START[name], factor)
        assert new["lr"] == pytest.approx(START["lr"] * float(ops["lr"][1:]))
        assert new["momentum"] == pytest.approx(START["momentum"] * float(ops["momentum"][1:]))
        assert new["layers"] == (4 if ops["layers"] == "×1.2" else 1)
    total = labels["×0.8"] + labels["×1.2"]
    assert labels["×0.8"] / total == pytest.approx(0.5, abs=0.05)


def test_perturb_labels_use_general_format() -> None:
    strategy = Perturb(factors=(0.5, 2.0), resample_probability=0.0)
    seen = set()
    for seed in range(50):
        _, ops = strategy.explore(START, SPACE, rng(seed))
        seen.update(ops[name] for name in ORDERED)
    assert seen == {"×0.5", "×2"}


def test_perturb_resample_probability_one_always_resamples() -> None:
    strategy = Perturb(resample_probability=1.0)
    momenta = []
    for seed in range(200):
        new, ops = strategy.explore(START, SPACE, rng(seed))
        assert ops == dict.fromkeys(SPACE, "resample")
        assert SPACE.validate(new) == new
        momenta.append(new["momentum"])
    # drawn from the prior, not a perturbation of 0.5 (which gives 0.4 or 0.6)
    assert not set(momenta) & {0.4, 0.6}
    assert min(momenta) < 0.1 and max(momenta) > 0.9


def test_perturb_resample_probability_zero_never_resamples_ordered() -> None:
    strategy = Perturb(resample_probability=0.0)
    for seed in range(200):
        _, ops = strategy.explore(START, SPACE, rng(seed))
        assert all(ops[name] != "resample" for name in ORDERED)


def test_perturb_default_resamples_a_quarter() -> None:
    strategy = Perturb()
    assert strategy.factors == (0.8, 1.2)
    assert strategy.resample_probability == 0.25
    n = 1000
    resampled = sum(strategy.explore(START, SPACE, rng(s))[1]["lr"] == "resample"
                    for s in range(n))
    assert resampled / n == pytest.approx(0.25, abs=0.05)


def test_perturb_does_not_mutate_input() -> None:
    hparams = dict(START)
    Perturb(resample_probability=0.5).explore(hparams, SPACE, rng(3))
    assert hparams == START


def test_perturb_call_returns_hparams_only() -> None:
    strategy = Perturb()
    new = strategy(START, SPACE, rng(9))
    assert new == strategy.explore(START, SPACE, rng(9))[0]
    assert isinstance(new, dict)


def test_perturb_clips_at_bounds() -> None:
    strategy = Perturb(factors=(100.0,), resample_probability=0.0)
    new, _ = strategy.explore(START, SPACE, rng())
    assert new["lr"] == 1e-1 and new["momentum"] == 1.0 and new["batch_size"] == 256
    assert new["layers"] == 4  # one neighbour up


@pytest.mark.parametrize("strategy", [
    Perturb(), Perturb(factors=(0.5, 3.0), resample_probability=0.0), Perturb(factors=(1e-9,)),
    Resample(), Resample(probability=1.0), GaussianNoise(), GaussianNoise(sigma=2.0),
], ids=repr)
@settings(max_examples=40, deadline=None)
@given(seed=seeds, start_seed=seeds)
def test_explore_stays_inside_space(strategy: Explore, seed: int, start_seed: int) -> None:
    hparams = SPACE.sample(rng(start_seed))
    new, ops = strategy.explore(hparams, SPACE, rng(seed))
    assert SPACE.validate(new) == new
    assert set(ops) <= set(SPACE)
    # repeated exploration never leaves it either
    for _ in range(5):
        new = strategy(new, SPACE, rng(seed))
        assert SPACE.validate(new) == new


@pytest.mark.parametrize("strategy", [Perturb(), Resample(0.5), GaussianNoise()], ids=repr)
def test_explore_is_deterministic_given_seed(strategy: Explore) -> None:
    assert strategy.explore(START, SPACE, rng(5)) == strategy.explore(START, SPACE, rng(5))
    outcomes = {json.dumps(strategy.explore(START, SPACE, rng(s))[0]) for s in range(20)}
    assert len(outcomes) > 1


@pytest.mark.parametrize(("kwargs", "bad"), [
    ({"factors": ()}, "()"),
    ({"factors": []}, "[]"),
    ({"factors": "0.8"}, "'0.8'"),
    ({"factors": 1.2}, "1.2"),
    ({"factors": (0.8, -1.2)}, "-1.2"),
    ({"factors": (0.8, 0)}, "factor 0 "),
    ({"factors": (0.8, math.inf)}, "inf"),
    ({"factors": (0.8, math.nan)}, "nan"),
    ({"factors": (True, 1.2)}, "True"),
    ({"factors": (1.0, 1)}, "(1.0, 1)"),
    ({"resample_probability": 1.5}, "1.5"),
    ({"resample_probability": -0.1}, "-0.1"),
    ({"resample_probability": "0.2"}, "'0.2'"),
    ({"resample_probability": math.nan}, "nan"),
])
def test_perturb_invalid_arguments(kwargs: dict, bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        Perturb(**kwargs)
    assert bad in str(err.value)


def test_perturb_factors_are_normalised_to_floats() -> None:
    strategy = Perturb(factors=[1, 2], resample_probability=0)
    assert strategy.factors == (1.0, 2.0)
    assert all(type(f) is float for f in strategy.factors)
    assert type(strategy.resample_probability) is float


# ---------------------------------------------------------------------------------------------
# Resample


def test_resample_probability_zero_is_identity() -> None:
    for seed in range(20):
        new, ops = Resample(probability=0.0).explore(START, SPACE, rng(seed))
        assert new == START and ops == {}


def test_resample_probability_one_resamples_everything() -> None:
    values = set()
    for seed in range(50):
        new, ops = Resample(probability=1.0).explore(START, SPACE, rng(seed))
        assert ops == dict.fromkeys(SPACE, "resample")
        values.add(new["momentum"])
    assert len(values) == 50


def test_resample_rate() -> None:
    n = 1000
    count = sum("lr" in Resample(probability=0.3).explore(START, SPACE, rng(s))[1]
                for s in range(n))
    assert count / n == pytest.approx(0.3, abs=0.05)


@pytest.mark.parametrize("bad", [-0.01, 1.01, True, None, "0.5", math.nan])
def test_resample_invalid_probability(bad: object) -> None:
    with pytest.raises(ConfigError) as err:
        Resample(probability=bad)  # type: ignore[arg-type]
    assert repr(bad) in str(err.value)


# ---------------------------------------------------------------------------------------------
# GaussianNoise


def test_gaussian_noise_has_sigma_std_on_unit_uniform() -> None:
    space = Space({"x": Uniform(0.0, 1.0)})
    strategy = GaussianNoise(sigma=0.1)
    gen = rng(2024)
    n = 4000
    deltas = []
    for _ in range(n):
        new, ops = strategy.explore({"x": 0.5}, space, gen)
        delta = new["x"] - 0.5
        assert ops["x"] == f"{delta:+.3g}"
        deltas.append(delta)
    arr = np.array(deltas)
    assert abs(arr.mean()) < 5 * 0.1 / math.sqrt(n)
    assert arr.std(ddof=1) == pytest.approx(0.1, rel=0.05)
    # Gaussian shape: about 68% within one sigma
    assert np.mean(np.abs(arr) < 0.1) == pytest.approx(0.6827, abs=0.03)


def test_gaussian_noise_clips_to_unit_interval() -> None:
    space = Space({"x": Uniform(0.0, 1.0)})
    strategy = GaussianNoise(sigma=0.1)
    gen = rng(1)
    for start in (0.99, 0.01):
        values = np.array([strategy.explore({"x": start}, space, gen)[0]["x"]
                           for _ in range(2000)])
        assert values.min() >= 0.0 and values.max() <= 1.0
        edge = 1.0 if start > 0.5 else 0.0
        # P(noise pushes past the edge) = P(Z > 0.1) ~ 0.46
        assert np.mean(values == edge) == pytest.approx(0.46, abs=0.05)


def test_gaussian_noise_is_logarithmic_on_loguniform() -> None:
    space = Space({"lr": LogUniform(1e-6, 1.0)})
    strategy = GaussianNoise(sigma=0.05)
    gen = rng(7)
    logs = np.array([math.log10(strategy.explore({"lr": 1e-3}, space, gen)[0]["lr"])
                     for _ in range(3000)])
    # sigma is a fraction of the 6 decades: 0.3 decades
    assert logs.std(ddof=1) == pytest.approx(0.3, rel=0.06)
    assert logs.mean() == pytest.approx(-3.0, abs=0.03)


def test_gaussian_noise_on_choice_moves_by_index() -> None:
    space = Space({"c": Choice(["a", "b", "c", "d", "e"])})
    gen = rng(3)
    results = Counter()
    for _ in range(500):
        new, ops = GaussianNoise(sigma=0.1).explore({"c": "c"}, space, gen)
        results[new["c"]] += 1
        assert ops["c"] == f"→ {new['c']!r}"
    assert set(results) <= {"b", "c", "d"}
    assert results["c"] > results["b"] > 0 and results["d"] > 0


def test_gaussian_noise_stays_inside_uniform_with_inexact_width() -> None:
    space = Space({"x": Uniform(-0.1, 0.3)})
    gen = rng(0)
    for _ in range(20):
        new, _ = GaussianNoise(sigma=0.5).explore({"x": 0.3}, space, gen)
        assert space.validate(new) == new


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, math.inf, math.nan, True, "0.1", None])
def test_gaussian_noise_invalid_sigma(bad: object) -> None:
    with pytest.raises(ConfigError) as err:
        GaussianNoise(sigma=bad)  # type: ignore[arg-type]
    assert repr(bad) in str(err.value)


# ---------------------------------------------------------------------------------------------
# Custom callables


def double_batch(hparams: Mapping[str, Any], space: Space,
                 rng: np.random.Generator) -> dict[str, Any]:
    return {"batch_size": min(hparams["batch_size"] * 2, 256)}


def escape_space(hparams: Mapping[str, Any], space: Space,
                 rng: np.random.Generator) -> dict[str, Any]:
    return {**hparams, "lr": 10.0}


def test_as_explore_wraps_callable() -> None:
    strategy = as_explore(double_batch)
    assert isinstance(strategy, CallableExplore)
    assert strategy.fn is double_batch
    new, ops = strategy.explore(START, SPACE, rng())
    assert new == {**START, "batch_size": 128}
    assert ops == {"batch_size": "custom"}
    assert strategy(START, SPACE, rng()) == new


def test_as_explore_passes_strategies_and_none_through() -> None:
    perturb = Perturb()
    assert as_explore(perturb) is perturb
    assert as_explore(None) is None


@pytest.mark.parametrize("bad", [42, "perturb", [Perturb()]], ids=repr)
def test_as_explore_rejects_non_callables(bad: object) -> None:
    with pytest.raises(ConfigError) as err:
        as_explore(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(err.value)


def test_callable_returning_out_of_space_value() -> None:
    with pytest.raises(ConfigError, match="10.0"):
        as_explore(escape_space).explore(START, SPACE, rng())


def test_callable_returning_unknown_key_or_non_dict() -> None:
    with pytest.raises(ConfigError, match="'dropout'"):
        as_explore(lambda h, s, r: {"dropout": 0.5}).explore(START, SPACE, rng())
    with pytest.raises(ConfigError, match="None"):
        as_explore(lambda h, s, r: None).explore(START, SPACE, rng())
    with pytest.raises(ConfigError, match="'sgd'"):
        as_explore(lambda h, s, r: "sgd").explore(START, SPACE, rng())


def test_callable_result_is_normalised_and_gets_a_copy() -> None:
    seen = {}

    def fn(hparams: dict, space: Space, rng: np.random.Generator) -> dict:
        seen["hparams"] = hparams
        hparams["momentum"] = 0.9  # mutating its argument must not touch the caller's dict
        return {"batch_size": 32.0}

    start = dict(START)
    new, ops = as_explore(fn).explore(start, SPACE, rng())
    assert start == START
    assert seen["hparams"] is not start
    assert new["batch_size"] == 32 and type(new["batch_size"]) is int
    assert ops == {"batch_size": "custom"}


def test_callable_to_config_round_trip() -> None:
    config = as_explore(double_batch).to_config()
    assert config["type"] == "callable"
    assert config["name"] == "double_batch"
    assert config["ref"].endswith(":double_batch")
    rebuilt = from_config(json.loads(json.dumps(config)))
    assert isinstance(rebuilt, CallableExplore)
    assert rebuilt.fn is double_batch


def test_inline_callable_cannot_be_rebuilt() -> None:
    config = as_explore(lambda h, s, r: h).to_config()
    assert config["ref"] is None
    with pytest.raises(ConfigError, match="<lambda>"):
        from_config(config)


# ---------------------------------------------------------------------------------------------
# Configs


@pytest.mark.parametrize("strategy", [
    Every(steps=4), Every(steps=10, burn_in=30),
    Truncation(), Truncation(fraction=0.25), Tournament(), TTest(), TTest(window=5, alpha=0.01),
    NoExploit(), NoExploit(explore=True),
    Perturb(), Perturb(factors=(0.5, 2.0, 1.1), resample_probability=0.0),
    Resample(), Resample(probability=1),
    GaussianNoise(), GaussianNoise(sigma=0.25),
], ids=repr)
def test_from_config_round_trip(strategy: Any) -> None:
    config = strategy.to_config()
    assert isinstance(config["type"], str)
    text = json.dumps(config)
    rebuilt = from_config(json.loads(text))
    assert type(rebuilt) is type(strategy)
    assert rebuilt == strategy
    assert rebuilt.to_config() == config
    assert config == json.loads(text)  # to_config output is plain JSON


def test_from_config_none_and_unknown() -> None:
    assert from_config(None) is None
    with pytest.raises(ConfigError, match="'PBT2'"):
        from_config({"type": "PBT2"})
    with pytest.raises(ConfigError, match="None"):
        from_config({"steps": 3})


def test_from_config_does_not_mutate_its_argument() -> None:
    config = {"type": "Every", "steps": 5, "burn_in": 1}
    assert from_config(config) == Every(steps=5, burn_in=1)
    assert config == {"type": "Every", "steps": 5, "burn_in": 1}


def test_from_config_validates() -> None:
    with pytest.raises(ConfigError, match="0.9"):
        from_config({"type": "Truncation", "fraction": 0.9})
    with pytest.raises(ConfigError, match="-2"):
        from_config({"type": "GaussianNoise", "sigma": -2})


@pytest.mark.parametrize(("kwargs", "bad"), [
    ({"steps": 0}, "0"), ({"steps": 1.5}, "1.5"), ({"steps": True}, "True"),
    ({"steps": 2, "burn_in": -1}, "-1"), ({"steps": 2, "burn_in": 0.5}, "0.5"),
])
def test_every_invalid_arguments(kwargs: dict, bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        Every(**kwargs)
    assert bad in str(err.value)


def test_every_schedule() -> None:
    every = Every(steps=4, burn_in=8)
    assert every.steps_to_ready(step=6, last_ready_step=4) == 2
    assert every.steps_to_ready(step=9, last_ready_step=4) == 1
    assert not every.is_ready(step=7, last_ready_step=4)
    assert every.is_ready(step=8, last_ready_step=4)
    assert not every.may_exploit(7)
    assert every.may_exploit(8)
