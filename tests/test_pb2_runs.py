"""PB2 and PB2Mix in real runs: worker processes on a SQLite file, the vectorized trainer and
the `popbt run --explore pb2` command; their explore events say PB2 chose them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import popbt
from popbt.demos.toy_trainable import SPACE as TOY
from popbt.demos.toy_trainable import ToyTrainable
from popbt.report.data import population_data, schedule

TESTS = Path(__file__).parent
RULES = {"plain": 1.0, "double": 2.0, "frozen": 0.0}
MIXED = popbt.Space({"lr": popbt.LogUniform(1e-3, 0.2),
                     "rule": popbt.Choice(list(RULES), ordered=False)})


class Descent(popbt.Trainable):
    """Gradient descent on x² whose step is lr × a factor chosen by the categorical `rule`
    ("frozen" never moves); score = -x²."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.x = 3.0

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        for _ in range(steps):
            self.x -= hparams["lr"] * RULES[hparams["rule"]] * 2 * self.x

    def evaluate(self) -> dict[str, float]:
        return {"score": -self.x * self.x}

    def state_dict(self) -> dict[str, Any]:
        return {"x": self.x}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.x = float(state["x"])


def explored(pop: popbt.Population) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """(new hyperparameters, labels) of every explore event, each checked to be in the space."""
    events = pop.events(kinds=[popbt.EventKind.EXPLORE])
    for e in events:
        assert pop.settings.space.validate(e.data["new"]) == e.data["new"]
    return [(e.data["new"], e.data["ops"]) for e in events]


def labels(pop: popbt.Population) -> set[str]:
    return {label for _, ops in explored(pop) for label in ops.values()}


def test_pb2_in_worker_processes_on_the_toy(tmp_path: Path):
    pop = popbt.create_population(
        name="toy-pb2", storage=f"sqlite:///{tmp_path / 'pb2.db'}", space=TOY, size=4,
        metric="Q", seed=1, ready=popbt.Every(steps=4), exploit=popbt.Truncation(0.25),
        explore=popbt.PB2())
    pop.train(ToyTrainable, steps=80, workers=2, progress=False)
    assert len(explored(pop)) >= 5 and labels(pop) == {"pb2", "pb2 random"}
    assert pop.best is not None and pop.best.score > 1.0  # from 1.2 - 2 · 0.81 = -0.42
    # the report's schedules label the points PB2 chose
    data = population_data(pop)
    shown = {label for m in range(4) for entry in schedule(data, m)
             for label in entry["ops"].values()}
    assert "pb2" in shown


def test_pb2mix_in_worker_processes_with_a_categorical(tmp_path: Path):
    pop = popbt.create_population(
        name="mix", storage=f"sqlite:///{tmp_path / 'mix.db'}", space=MIXED, size=4,
        metric="score", seed=2, ready=popbt.Every(steps=2), exploit=popbt.Truncation(0.25),
        explore=popbt.PB2Mix())
    pop.train(Descent, steps=40, workers=2, progress=False)
    assert {"exp3", "pb2"} <= labels(pop) <= {"exp3", "pb2", "pb2 random"}
    assert all(ops["rule"] in ("exp3", "pb2 random") for _, ops in explored(pop))


def test_pb2_in_the_vectorized_trainer(tmp_path: Path):
    from torch import nn

    from popbt.demos.digits import SPACE, load_data
    from popbt.vectorized import VectorizedPopulation

    data = load_data()
    vp = VectorizedPopulation(
        model_fn=lambda: nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)),
        size=4, space=SPACE, optimizer="sgd", metric="accuracy", ready=popbt.Every(steps=10),
        exploit=popbt.Truncation(0.25), explore=popbt.PB2(), name="vec-pb2",
        storage=f"sqlite:///{tmp_path / 'vec.db'}", seed=0)
    vp.train({"train": data["train"], "val": data["val"]}, steps=80)
    assert "pb2" in labels(vp.population)


def test_the_command_line_runs_pb2(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "popbt", "run", str(TESTS / "trainables.py"), "--trainable",
         "Quadratic", "--metric", "score", "--population", "4", "--ready-every", "2",
         "--steps", "24", "--name", "cli-pb2", "--explore", "pb2", "--quiet"],
        cwd=tmp_path, text=True, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pop = popbt.load_population(name="cli-pb2", storage=f"sqlite:///{tmp_path / 'popbt.db'}")
    assert pop.settings.explore == popbt.PB2()
    assert "pb2" in labels(pop)
    pop.storage.close()
