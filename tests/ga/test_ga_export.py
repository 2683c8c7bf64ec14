"""Exporting a genetic population's member: its decoded network as a plain PyTorch
state_dict, its schedule and its record (with its genome) beside it; `popbt export`, which
cannot decode without the network's builder, says what to do instead."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import popbt
from popbt.ga import Episodes, GeneticPopulation, Genome
from popbt.schedules import read_schedule


def net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def make(url: str, **overrides) -> GeneticPopulation:
    kwargs = {"model_fn": net, "evaluate": Episodes("CartPole", max_steps=80), "size": 12,
              "parents": 4, "elite_candidates": 3, "elite_episodes": 2, "sigma": 0.1,
              "seed": 2, "name": "ga", "storage": url}
    kwargs.update(overrides)
    return GeneticPopulation(**kwargs)


def test_the_best_exports_as_a_state_dict_with_its_genome(db_url, tmp_path):
    ga = make(db_url)
    best = ga.run(generations=3)
    assert best is not None
    path = ga.export(tmp_path / "best.pt")
    assert path == tmp_path / "best.pt"
    model = net()
    model.load_state_dict(torch.load(path))  # plain PyTorch, no popbt needed
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    assert torch.equal(flat, ga.weights(best.member_id))
    record = json.loads((tmp_path / "best.pt.json").read_text())
    assert record["member_id"] == best.member_id and record["score"] == best.score
    assert record["contents"] == "state_dict" and record["format"] == "pt"
    genome = Genome.from_bytes(bytes.fromhex(record["genome"]))
    assert genome == ga.genomes[best.member_id]
    assert read_schedule(tmp_path / "best.pt.schedule.json")
    again = make(db_url, load_if_exists=True)  # a later process, from the rows alone
    again.export(tmp_path / "again.pt")
    assert all(torch.equal(a, b) for a, b in zip(
        torch.load(tmp_path / "again.pt").values(), torch.load(path).values(), strict=True))


def test_a_member_by_id_and_bad_members(tmp_path):
    ga = make(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(popbt.ConfigError, match="no scored member yet"):
        ga.export(tmp_path / "none.pt")
    ga.run(generations=2)
    ga.export(tmp_path / "m5.pt", member=5)
    model = net()
    model.load_state_dict(torch.load(tmp_path / "m5.pt"))
    assert torch.equal(torch.cat([p.detach().reshape(-1) for p in model.parameters()]),
                       ga.weights(5))
    with pytest.raises(popbt.ConfigError, match="member 12"):
        ga.export(tmp_path / "x.pt", member=12)
    with pytest.raises(popbt.ConfigError, match="member='worst'"):
        ga.export(tmp_path / "x.pt", member="worst")
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "none.pt").exists()


def test_popbt_export_says_to_use_the_population(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    make(url).run(generations=1)
    done = subprocess.run([sys.executable, "-m", "popbt", "export", "--name", "ga",
                           "--storage", url, "-o", str(tmp_path / "out.pt")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert "GeneticPopulation" in done.stderr and "export(path)" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.pt").exists()


def test_training_commands_refuse_a_genetic_population(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    make(url).run(generations=1)
    trainable = tmp_path / "t.py"
    trainable.write_text(
        "import popbt\n"
        "class T(popbt.Trainable):\n"
        "    def setup(self, hparams, seed): self.x = 0.0\n"
        "    def train(self, hparams, steps): self.x += steps\n"
        "    def evaluate(self): return {'return': self.x}\n"
        "    def state_dict(self): return {'x': self.x}\n"
        "    def load_state_dict(self, state): self.x = state['x']\n")
    for command, message in (
            (["worker", str(trainable), "--name", "ga"],
             "trained by the ga trainer; continue it with popbt.ga.GeneticPopulation"),
            (["replay", str(trainable), "--name", "ga", "--member", "0"],
             "evaluated, never trained, so there is no training to replay")):
        done = subprocess.run([sys.executable, "-m", "popbt", *command, "--storage", url],
                              capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
    assert {m.step for m in popbt.load_population(name="ga", storage=url).members} == {1}
