"""Multi-objective populations: Pareto fronts, crowding and hypervolume as defined; exploit
ranks by them in the worker loop and the vectorized trainer; `best` refused for `front`;
hypervolume recorded at ready points; settings that need one score refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import popbt
from checks import popbt_cli
from popbt.decider import Decider
from popbt.decisions import CopyDonor, DonorView
from popbt.fitness import Objective, ParetoFitness
from popbt.pareto import crowding, dominates, fronts, hypervolume, rank_values
from popbt.records import Peers
from popbt.settings import Settings
from trainables import TRADE_SPACE, OneObjective, TradeOff

OBJECTIVES = [("left", "max", 0.0), ("right", "max", 0.0)]


def test_fronts_are_the_non_dominated_layers():
    rng = np.random.default_rng(0)
    points = rng.integers(0, 6, size=(40, 3)).astype(float)  # ties and duplicates too
    layers = fronts(points)
    assert sorted(np.concatenate(layers).tolist()) == list(range(40))
    placed: list[int] = []
    for layer in layers:
        rest = [j for j in range(40) if j not in placed]
        for i in layer:  # nobody left dominates a member of the layer...
            assert not any(dominates(points[j], points[i]) for j in rest)
        for j in set(rest) - set(layer):  # ...and someone in it dominates each of the rest
            assert any(dominates(points[i], points[j]) for i in layer)
        placed += layer.tolist()


def test_crowding_keeps_the_extremes_and_ranks_by_front_first():
    points = np.array([[0.0, 1.0], [0.1, 0.95], [0.5, 0.5], [1.0, 0.0], [0.2, 0.2]])
    d = crowding(points[:4])
    assert np.isinf(d[0]) and np.isinf(d[3]) and d[2] > d[1]
    values = rank_values(points)
    assert values[:4].min() > values[4]  # the dominated point ranks below the whole front
    assert values[2] > values[1]  # in the front, the lonelier point ranks higher


def test_hypervolume_is_exact_in_two_dimensions_and_matches_sampling_in_three():
    square = np.array([[1.0, 0.2], [0.2, 1.0], [0.5, 0.5]])
    assert hypervolume(square, np.array([0.0, 0.0])) == pytest.approx(0.45)
    assert hypervolume(square, np.array([2.0, 2.0])) == 0.0
    rng = np.random.default_rng(1)
    cloud = rng.random((10, 3))
    samples = rng.random((200_000, 3))
    inside = np.any(np.all(samples[:, None, :] <= cloud[None], axis=2), axis=1).mean()
    assert hypervolume(cloud, np.zeros(3)) == pytest.approx(inside, abs=0.005)


def settings(**overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "space": TRADE_SPACE, "size": 4, "metric": "left", "mode": "max",
        "ready": popbt.Every(steps=5), "exploit": popbt.Truncation(0.25),
        "explore": popbt.Perturb(), "objectives": OBJECTIVES, **overrides}
    return Settings(**options)


def test_exploit_copies_a_front_member_into_the_dominated_one():
    decider = Decider(settings())
    vectors = {0: (5.0, 1.0), 1: (1.0, 5.0), 2: (3.0, 3.0), 3: (0.5, 0.5)}
    peers = Peers(np.arange(4), np.full(4, 10), np.array([v[0] for v in vectors.values()]),
                  objectives=vectors)

    def donor(member_id: int) -> DonorView:
        return DonorView(member_id=member_id, step=10, score=vectors[member_id][0],
                         fitness=vectors[member_id][0], hparams={"share": 0.5, "lr": 0.7},
                         checkpoint_id=1)

    # member 3 is dominated by everyone; on "left" alone, member 1 would look as poor
    decision = decider.decide(decider.context(member=peers.find(3), hparams={"share": 0.1,
                              "lr": 0.6}, ready_count=1, peers=peers, donor=donor))
    assert isinstance(decision, CopyDonor) and decision.donor.member_id in (0, 1)
    for member in (0, 1, 2):  # the front carries on
        keep = decider.decide(decider.context(member=peers.find(member), hparams={
            "share": 0.5, "lr": 0.7}, ready_count=1, peers=peers, donor=donor))
        assert not isinstance(keep, CopyDonor)
    ranked = ParetoFitness(tuple(Objective.of(o) for o in OBJECTIVES)).rank_values(peers)
    assert ranked[3] == ranked.min() and ranked[2] < min(ranked[0], ranked[1])


@pytest.mark.parametrize(("overrides", "message"), [
    ({"objectives": [("left", "max")]}, "give two or more different metrics"),
    ({"objectives": [("left", "max"), ("left", "min")]}, "two or more different metrics"),
    ({"objectives": [("left", "up"), ("right", "max")]}, "mode 'up' must be 'max' or 'min'"),
    ({"objectives": [("left",), ("right", "max")]}, r"give \(metric, mode\)"),
    ({"objectives": [("left", "max", "zero"), ("right", "max")]}, "reference must be a finite"),
    ({"metric": "right"}, "leave metric and mode out"),
    ({"exploit": popbt.TTest()}, "cannot use exploit=TTest"),
    ({"exploit": popbt.Truncation(0.25, margin=0.5)}, "without margins"),
    ({"exploit": popbt.Backtrack()}, "it needs one best score"),
    ({"explore": popbt.PB2()}, "explore=PB2"),
])
def test_settings_that_need_one_score_are_refused(overrides: dict, message: str):
    with pytest.raises(popbt.ConfigError, match=message):
        settings(**overrides)


def test_create_population_takes_the_metric_from_the_first_objective(db_url: str):
    pop = popbt.create_population(name="mo", storage=db_url, space=TRADE_SPACE, size=4,
                                  objectives=[("left", "max"), ("right", "min")],
                                  ready=popbt.Every(steps=5))
    assert (pop.settings.metric, pop.settings.mode) == ("left", "max")
    again = popbt.load_population(name="mo", storage=db_url)
    assert again.settings.objectives == (Objective("left", "max"), Objective("right", "min"))
    with pytest.raises(popbt.ConfigError, match=r"give metric= .* or objectives="):
        popbt.create_population(name="none", storage=db_url, space=TRADE_SPACE, size=4,
                                ready=popbt.Every(steps=5))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[popbt.Population, str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('mo') / 'mo.db'}"
    pop = popbt.create_population(name="mo", storage=url, space=TRADE_SPACE, size=8,
                                  objectives=OBJECTIVES, ready=popbt.Every(steps=5), seed=2)
    assert pop.train(TradeOff, steps=60, workers=1, progress=False) is None
    return popbt.load_population(name="mo", storage=url), url


def test_the_front_is_the_members_no_other_beats(trained):
    pop, _ = trained
    members = pop.members
    points = {m.member_id: (m.metrics["left"], m.metrics["right"]) for m in members}
    expected = {i for i, p in points.items()
                if not any(dominates(np.array(q), np.array(p)) for q in points.values())}
    front = pop.front
    assert {m.member_id for m in front} == expected and len(front) >= 2
    lefts = [m.metrics["left"] for m in front]
    assert lefts == sorted(lefts, reverse=True)
    assert pop.hypervolume == pytest.approx(hypervolume(
        np.array([points[m.member_id] for m in front]), np.zeros(2)))
    with pytest.raises(popbt.ConfigError, match=r"no single best member: read pop.front"):
        _ = pop.best
    assert pop.events(kinds=[popbt.EventKind.EXPLOIT])


def test_every_ready_point_records_the_hypervolume_of_the_front_then(trained):
    pop, _ = trained
    ready = pop.events(kinds=[popbt.EventKind.READY])
    volumes = [e.data["hypervolume"] for e in ready]
    assert len(volumes) == 8 * 12 and all(v >= 0 for v in volumes)
    assert volumes[-1] == pytest.approx(pop.hypervolume)
    assert volumes[-1] > volumes[7]  # the front grows as the members train


def test_the_command_line_prints_the_front(trained, tmp_path: Path):
    pop, url = trained

    def cli(*args: str) -> str:
        return popbt_cli(url, "mo", tmp_path, *args)

    text = cli("best")
    assert text.startswith(f"front: {len(pop.front)} members not beaten on every one of "
                           f"left, right | hypervolume")
    assert f"member {pop.front[0].member_id} at step 60: left=" in text
    data = json.loads(cli("best", "--json"))
    assert [m["member_id"] for m in data["front"]] == [m.member_id for m in pop.front]
    assert data["hypervolume"] == pytest.approx(pop.hypervolume)
    status = json.loads(cli("status", "--json"))
    assert status["best"] is None and len(status["front"]) == len(pop.front)
    assert "front:" in cli("status")


def test_a_missing_objective_stops_the_run_naming_it(db_url: str):
    pop = popbt.create_population(name="missing", storage=db_url, space=TRADE_SPACE, size=4,
                                  objectives=OBJECTIVES, ready=popbt.Every(steps=5))
    with pytest.raises(popbt.PopbtError, match=r"the objectives \['right'\] are not among"):
        pop.train(OneObjective, steps=10, workers=1, progress=False)


def test_a_vectorized_population_ranks_by_the_front_and_records_it(tmp_path: Path):
    import torch
    from torch import nn

    from popbt.vectorized import VectorizedPopulation

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(400, 6, generator=gen)
    y = (x[:, 0] > 0).long()

    def metrics(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"sparsity": -outputs.abs().mean()}  # small outputs against accuracy

    vp = VectorizedPopulation(
        model_fn=lambda: nn.Linear(6, 2), size=6, name="vec-mo", metrics_fn=metrics,
        space=popbt.Space({"lr": popbt.LogUniform(1e-3, 1e-1)}),
        objectives=[("accuracy", "max", 0.0), ("sparsity", "max", -10.0)],
        ready=popbt.Every(steps=10), storage=f"sqlite:///{tmp_path / 'v.db'}")
    assert vp.train({"train": (x[:300], y[:300]), "val": (x[300:], y[300:])},
                    steps=40) is None
    pop = vp.population
    ready = pop.events(kinds=[popbt.EventKind.READY])
    assert len(ready) == 24 and all("hypervolume" in e.data for e in ready)
    assert ready[-1].data["hypervolume"] == pytest.approx(pop.hypervolume)
    assert pop.front and pop.events(kinds=[popbt.EventKind.EXPLOIT])


def test_the_report_data_has_the_fronts_and_the_recorded_hypervolume(trained):
    from popbt.report import population_data

    pop, _ = trained
    data = population_data(pop)["objectives"]
    assert data["names"] == ["left", "right"] and data["reference"] == [0.0, 0.0]
    assert data["front"] == [m.member_id for m in pop.front]
    assert [f["step"] for f in data["fronts"]] == [15, 30, 45, 60]
    assert data["fronts"][-1]["points"] == [[m.metrics["left"], m.metrics["right"]]
                                            for m in pop.front]
    ready = pop.events(kinds=[popbt.EventKind.READY])
    assert data["hypervolume"]["values"] == [e.data["hypervolume"] for e in ready]
    assert population_data(popbt.create_population(
        name="single", storage=pop.storage, space=TRADE_SPACE, size=2, metric="left",
        ready=popbt.Every(steps=5)))["objectives"] is None


def test_popbt_run_reads_objectives_and_the_trainable_from_the_file(tmp_path: Path):
    run_file = tmp_path / "trade.py"
    run_file.write_text(
        "import popbt\nfrom trainables import TRADE_SPACE, Mixture, TradeOff\n"
        "trainable = TradeOff  # the file has two\n"
        "space = TRADE_SPACE\nready = popbt.Every(steps=5)\n"
        "objectives = [('left', 'max', 0.0), ('right', 'max', 0.0)]\n")
    tests = Path(__file__).resolve().parent
    done = subprocess.run(
        [sys.executable, "-m", "popbt", "run", str(run_file), "--population", "4",
         "--steps", "20", "--storage", f"sqlite:///{tmp_path / 'r.db'}", "--quiet"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tests)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("front: ")
    pop = popbt.load_population(name="trade", storage=f"sqlite:///{tmp_path / 'r.db'}")
    assert (pop.settings.metric, [o.metric for o in pop.settings.objectives]) == \
        ("left", ["left", "right"])
