"""Every file in examples/ runs through `popbt run` with its own settings; the digits
example trains every interval with the member's current dropout rate."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import popbt
from popbt._refs import load_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
digits = load_file(EXAMPLES / "digits.py")

# file: (exploit type the file sets, steps for a short run: at least two ready points)
SHORT_RUNS = {"toy.py": ("Truncation", 8), "digits.py": ("Truncation", 200),
              "fashion_mnist.py": ("Truncation", 200), "cartpole.py": ("TTest", 20),
              "gan.py": ("Tournament", 200), "lightning_digits.py": ("Truncation", 200),
              "sb3_cartpole.py": ("Truncation", 10), "translation.py": ("Truncation", 100),
              "leduc_league.py": ("EloTournament", 40),
              "soccer_league.py": ("EloTournament", 40),
              "data_mixture.py": ("Truncation", 200), "robust_fashion.py": ("Truncation", 200),
              "retrieval_cartpole.py": ("Truncation", 20)}
SEVERAL_OBJECTIVES = {"robust_fashion.py"}  # a front, not one best member
# genetic populations: `python FILE`, not `popbt run`
GENETIC = ("mountaincar_ga.py", "breakout_ga.py")


def test_every_example_file_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted([*SHORT_RUNS, *GENETIC])
    listed = (EXAMPLES / "README.md").read_text()
    assert all(f"`{name}`" in listed for name in [*SHORT_RUNS, *GENETIC])


@pytest.mark.parametrize(("name", "population", "generations"), [
    ("mountaincar_ga.py", "mountaincar-ga", 30), ("breakout_ga.py", "breakout-ga", 20)])
def test_a_genetic_example_evolves_and_resumes(name: str, population: str, generations: int,
                                               tmp_path: Path):
    command = [sys.executable, str(EXAMPLES / name)]
    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"generation {generations}: ")
    url = f"sqlite:///{tmp_path / 'popbt.db'}"
    pop = popbt.load_population(name=population, storage=url)
    assert pop.status()["trainer"] == "ga" and set(pop.status()["steps"]) == {generations}
    assert pop.best is not None and "elite_return" in pop.best.metrics
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.splitlines()[0] == first.stdout.splitlines()[0]
    if name == "mountaincar_ga.py":
        test_return = float(first.stdout.split("scored ")[1].split(", ")[1].split(" on")[0])
        assert test_return > -160  # the best of 256 random networks scores about -160


def _dropout_layers(model: nn.Module) -> list[nn.Dropout]:
    return [m for m in model.modules() if isinstance(m, nn.Dropout)]


class RecordsDropout(digits.DigitsMLP):
    """The digits example, logging the dropout probability its layers train with."""

    def train_step(self, hparams: dict[str, Any]) -> None:
        used = {layer.p for layer in _dropout_layers(self.model)}
        assert len(used) == 1 and self.model.training
        self.log(dropout_used=used.pop())
        super().train_step(hparams)


@pytest.mark.parametrize("exploit", [popbt.Truncation(fraction=0.5),
                                     popbt.NoExploit(explore=True)],
                         ids=["after-exploits", "explored-in-place"])
def test_digits_trains_every_interval_with_the_members_current_dropout(
        exploit: popbt.Exploit, tmp_path: Path):
    pop = popbt.create_population(
        name="dropout", storage=f"sqlite:///{tmp_path / 'd.db'}", space=digits.space, size=4,
        metric=digits.metric, seed=0, ready=popbt.Every(steps=10), exploit=exploit,
        explore=popbt.Perturb(factors=(0.5, 2.0), resample_probability=0.5))
    pop.train(RecordsDropout, steps=100, strict=True)
    scores: dict[tuple[int, int], float] = {}
    for s in pop.scores():
        assert (s.member_id, s.step) not in scores, "a member scored the same step twice"
        scores[s.member_id, s.step] = s.metrics["dropout_used"]
    explored = 0
    for member in pop.members:
        schedule = pop.schedule(member.member_id)
        explored += len({hp["dropout"] for _, hp in schedule}) - 1
        for segment in pop.lineage(member.member_id):
            for step in range(segment.start_step + 10, segment.end_step + 1, 10):
                # the hyperparameters in force over the interval (step - 10, step]
                in_force = [hp for start, hp in schedule if start <= step - 10][-1]
                assert scores[segment.member_id, step] == in_force["dropout"]
    exploited = bool(pop.events(kinds=[popbt.EventKind.EXPLOIT]))
    assert exploited == isinstance(exploit, popbt.Truncation) and explored >= 3


def test_digits_dropout_changes_in_place_and_a_restored_copy_draws_the_same_masks():
    hparams = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4, "batch_size": 32,
               "dropout": 0.1}
    original = digits.DigitsMLP()
    original.setup(dict(hparams), 0)
    original.train(dict(hparams), 5)
    original.train({**hparams, "dropout": 0.5}, 5)
    layers = _dropout_layers(original.model)
    assert layers and all(layer.p == 0.5 for layer in layers)
    restored = digits.DigitsMLP()
    restored.setup(dict(hparams), 1)
    restored.load_state_dict(copy.deepcopy(original.state_dict()))  # as from a checkpoint
    torch.manual_seed(1)  # torch's global generator, which dropout draws from, differs
    original.train(dict(hparams), 20)
    torch.manual_seed(2)
    restored.train(dict(hparams), 20)
    assert restored.evaluate() == original.evaluate()
    for a, b in zip(original.model.parameters(), restored.model.parameters(), strict=True):
        assert torch.equal(a, b)
