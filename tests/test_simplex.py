"""popbt.Simplex: a mixture hyperparameter (weights summing to 1), sampled uniformly, explored
on the simplex, refused where it cannot work, and carried through storage, schedules, the
command line, the report and the vectorized trainer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import popbt
from checks import popbt_cli
from popbt import schedules
from popbt.report import population_data, write_report
from popbt.space import Space
from trainables import MIX_SPACE, MIX_TARGET, Mixture

MIX = popbt.Simplex(["web", "code", "books"])


def on_simplex(value: dict[str, float], domain: popbt.Simplex) -> bool:
    return (list(value) == list(domain.components)
            and math.isclose(sum(value.values()), 1.0, abs_tol=1e-9)
            and min(value.values()) >= domain.floor - 1e-12)


def test_samples_are_uniform_on_the_simplex_above_the_floor():
    rng = np.random.default_rng(0)
    draws = [MIX.sample(rng) for _ in range(4000)]
    assert all(on_simplex(d, MIX) for d in draws)
    first = np.array([d["web"] for d in draws])
    # a flat Dirichlet over 3 components: P(w < 0.5) = 1 - 0.5², mean 1/3
    assert abs(float((first < 0.5).mean()) - 0.75) < 0.03
    assert abs(float(first.mean()) - 1 / 3) < 0.02
    floored = popbt.Simplex(["a", "b", "c", "d"], floor=0.1)
    low = [floored.sample(rng) for _ in range(500)]
    assert all(on_simplex(d, floored) for d in low)
    assert min(min(d.values()) for d in low) < 0.11  # the floor is reached, not just passed


def test_near_is_centred_on_the_weights_with_the_stated_spread():
    rng = np.random.default_rng(1)
    here = {"web": 0.5, "code": 0.3, "books": 0.2}
    moved = np.array([[v for v in MIX.near(here, rng).values()] for _ in range(4000)])
    # centred, pulled towards uniform by the 0.5 added to each parameter
    expected_mean = (MIX.concentration * np.array([0.5, 0.3, 0.2]) + 0.5) / (
        MIX.concentration + 1.5)
    assert np.allclose(moved.mean(0), expected_mean, atol=0.004)
    assert np.allclose(expected_mean, [0.5, 0.3, 0.2], atol=0.005)
    expected = math.sqrt(0.5 * 0.5 / (MIX.concentration + 1))
    assert abs(float(moved[:, 0].std()) - expected) < 0.005
    wide = popbt.Simplex(["web", "code", "books"], concentration=5.0)
    assert float(np.std([wide.near(here, rng)["web"] for _ in range(2000)])) > 0.15
    # a weight at the floor can grow again
    floored = popbt.Simplex(["a", "b"], floor=0.05)
    assert max(floored.near({"a": 0.05, "b": 0.95}, rng)["a"] for _ in range(200)) > 0.06


def test_perturb_sharpens_above_one_and_flattens_below():
    here = {"web": 0.5, "code": 0.3, "books": 0.2}
    sharper, flatter = MIX.perturb(here, 1.5), MIX.perturb(here, 0.5)
    assert sharper["web"] > 0.5 > flatter["web"] > 1 / 3
    assert sharper["books"] < 0.2 < flatter["books"]
    assert on_simplex(sharper, MIX) and on_simplex(flatter, MIX)


def test_validate_renormalises_and_names_what_is_wrong():
    assert MIX.validate("mix", {"books": 0.2, "web": 0.5, "code": 0.3 + 1e-8}) == \
        pytest.approx({"web": 0.5, "code": 0.3, "books": 0.2})
    assert list(MIX.validate("mix", {"books": 0.2, "web": 0.5, "code": 0.3})) == \
        ["web", "code", "books"]
    for value, message in [
        (0.5, r"'mix' = 0.5 is not a dict of weights over \['web', 'code', 'books'\]"),
        ({"web": 1.0, "code": 0.0}, r"names \['code', 'web'\]; the Simplex has"),
        ({"web": 0.7, "code": 0.5, "books": -0.2}, r"weight 'books' is -0.2"),
        ({"web": 0.5, "code": 0.3, "books": 0.1}, "the weights sum to 0.9, not 1"),
        ({"web": 0.5, "code": "0.3", "books": 0.2}, r"weight 'code' is '0.3'"),
        ({"web": 0.5, "code": math.nan, "books": 0.5}, "weight 'code' is nan"),
    ]:
        with pytest.raises(popbt.ConfigError, match=message):
            MIX.validate("mix", value)
    with pytest.raises(popbt.ConfigError, match="of at least 0.1"):
        popbt.Simplex(["a", "b"], floor=0.1).validate("m", {"a": 0.05, "b": 0.95})


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("web",), {}, "needs a list of component names"),
    ((["web"],), {}, "needs at least two components"),
    ((["web", "web"],), {}, "repeats a component"),
    ((["web", ""],), {}, "component '' must be a non-empty string"),
    ((["web", "a[b]"],), {}, r"component 'a\[b\]'"),
    ((["web", "code"],), {"concentration": 0}, "concentration=0: must be a positive"),
    ((["web", "code"],), {"floor": 0.5}, r"floor=0.5: must be at least 0 and below 1/2"),
    ((["web", "code"],), {"floor": -0.1}, "floor=-0.1"),
])
def test_bad_simplexes_are_refused(args, kwargs, message):
    with pytest.raises(popbt.ConfigError, match=message):
        popbt.Simplex(*args, **kwargs)


def test_the_space_round_trips_through_json():
    space = Space({"mix": popbt.Simplex(["a", "b", "c"], concentration=40, floor=0.05),
                   "lr": popbt.LogUniform(1e-4, 1e-1)})
    assert Space.from_json(json.loads(json.dumps(space.to_json()))) == space


@pytest.mark.parametrize("explore", [popbt.Perturb(resample_probability=0.0),
                                     popbt.GaussianNoise(), popbt.Resample(probability=1.0)])
def test_every_explore_keeps_the_mixture_on_the_simplex(explore: popbt.Explore):
    rng = np.random.default_rng(2)
    hparams = MIX_SPACE.sample(rng)
    for _ in range(50):
        new, ops = explore.explore(hparams, MIX_SPACE, rng)
        assert on_simplex(new["mix"], MIX_SPACE["mix"]) and new["mix"] != hparams["mix"]
        assert ops["mix"] == ("resample" if isinstance(explore, popbt.Resample) else "near")
        hparams = MIX_SPACE.validate(new)


@pytest.mark.parametrize("explore", [popbt.PB2(), popbt.PB2Mix()])
def test_pb2_refuses_a_simplex_and_says_what_works(explore: popbt.Explore, tmp_path: Path):
    with pytest.raises(popbt.ConfigError, match=r"cannot explore the Simplex hyperparameters "
                                                r"\['mix'\]; use popbt.Perturb"):
        popbt.create_population(name="pb2", storage=f"sqlite:///{tmp_path / 'p.db'}",
                                space=MIX_SPACE, size=4, metric="score",
                                ready=popbt.Every(steps=5), explore=explore)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[popbt.Population, str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('mix') / 'mix.db'}"
    pop = popbt.create_population(name="mix", storage=url, space=MIX_SPACE, size=8,
                                  metric="score", ready=popbt.Every(steps=5), seed=3)
    pop.train(Mixture, steps=100, workers=1, progress=False)
    return popbt.load_population(name="mix", storage=url), url


def gap(mix: dict[str, float]) -> float:
    return sum((mix[k] - MIX_TARGET[k]) ** 2 for k in MIX_TARGET)


def test_pbt_moves_the_mixture_towards_what_scores_and_stores_it(trained):
    pop, _ = trained
    first = [e.data["hparams"]["mix"] for e in pop.events(kinds=[popbt.EventKind.CREATED])
             if e.step == 0]
    assert len(first) == 8
    final = [m.hparams["mix"] for m in pop.members]
    assert all(on_simplex(mix, MIX_SPACE["mix"]) for mix in first + final)
    assert np.median([gap(m) for m in final]) < np.median([gap(m) for m in first])
    ops = [e.data["ops"].get("mix") for e in pop.events(kinds=[popbt.EventKind.EXPLORE])]
    assert ops and set(ops) <= {"near", "resample"}


def test_the_schedule_round_trips_through_csv_with_a_column_per_component(trained):
    pop, _ = trained
    schedule = pop.schedule(pop.best.member_id)
    text = schedules.to_csv(schedule)
    assert text.splitlines()[0] == "step,mix[web],mix[code],mix[books],lr"
    assert schedules.from_csv(text) == schedule
    assert schedules.fit_space(schedules.from_csv(text), MIX_SPACE) == \
        [(s, MIX_SPACE.validate(h)) for s, h in schedule]
    assert schedules.from_json(schedules.to_json(schedule)) == schedule
    # a plain hyperparameter whose name looks like a component is kept whole
    odd = [(0, {"a[b]": 1.0})]
    assert schedules.from_csv(schedules.to_csv(odd)) == odd


def test_the_command_line_shows_the_weights(trained, tmp_path: Path):
    pop, url = trained

    def cli(*args: str) -> str:
        return popbt_cli(url, "mix", tmp_path, *args)

    best = pop.best
    assert f"mix=web:{best.hparams['mix']['web']:.6g},code:" in cli("best")
    csv_text = cli("schedule", str(best.member_id), "--format", "csv")
    assert csv_text.startswith("step,mix[web],mix[code],mix[books],lr\n")
    status = json.loads(cli("status", "--json"))
    assert on_simplex(status["best"]["hparams"]["mix"], MIX_SPACE["mix"])


def test_the_report_draws_the_mixture_as_stacked_areas(trained, tmp_path: Path):
    pop, _ = trained
    data = population_data(pop)
    assert data["hparams"][0] == {"name": "mix", "scale": "simplex",
                                  "components": ["web", "code", "books"]}
    page = write_report(pop, tmp_path / "report.html")
    assert "schedule-area" in Path(page).read_text()
    from popbt.report import plot_schedule

    figure = plot_schedule(pop, pop.best.member_id, tmp_path / "schedule.png")
    assert (tmp_path / "schedule.png").stat().st_size > 0
    assert len(figure.axes[0].collections) == 3  # one area per component


def test_check_trainable_finds_two_mixtures_to_compare():
    result = popbt.check_trainable(Mixture, MIX_SPACE, steps=3)
    assert result.ok, result


def test_the_vectorized_loss_gets_each_members_weights_as_a_vector(tmp_path: Path):
    import torch
    from torch import nn

    from popbt.vectorized import VectorizedPopulation

    seen: list[tuple[int, ...]] = []

    def weighted(outputs: torch.Tensor, targets: torch.Tensor, hp: dict) -> torch.Tensor:
        seen.append(tuple(hp["mix"].shape))
        # the three classes' losses weighted by the member's mixture
        return 3 * hp["mix"][targets] * nn.functional.cross_entropy(outputs, targets,
                                                                     reduction="none")

    x = torch.randn(300, 4)
    y = torch.randint(0, 3, (300,))
    vp = VectorizedPopulation(
        model_fn=lambda: nn.Linear(4, 3), size=4, name="vec-mix", metric="accuracy",
        space=Space({"mix": MIX, "lr": popbt.LogUniform(1e-3, 1e-1)}), loss_fn=weighted,
        ready=popbt.Every(steps=5), storage=f"sqlite:///{tmp_path / 'v.db'}")
    assert vp._hparam_tensors()["mix"].shape == (4, 3)
    vp.train({"train": (x[:200], y[:200]), "val": (x[200:], y[200:])}, steps=20)
    assert seen and set(seen) == {(3,)}
    assert all(on_simplex(m.hparams["mix"], MIX) for m in vp.population.members)
