"""Evaluation in worker processes: each decodes the genomes to the bits the population holds,
a child costs its worker one mutation of a cached parent, and a worker killed in the middle
of a generation loses nothing."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

import popbt
from popbt.ga import Episodes, GeneticPopulation


def net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def weight_sums(policy, seed):
    """A score that is a function of the weights alone: equal scores, equal weights."""
    return {"return": policy.flat.double().sum(1) * 1000}


@dataclass
class KillsItsWorkerOnce:
    """Evaluates as `weight_sums`, but the third call in a worker process kills that process
    (once over all workers: the first to create the marker file is the one)."""

    folder: str

    def __call__(self, policy, seed):
        calls = Path(self.folder, f"calls-{os.getpid()}")  # workers run at the same time
        count = int(calls.read_text()) + 1 if calls.exists() else 1
        calls.write_text(str(count))
        if count == 3 and os.getpid() != int(Path(self.folder, "main").read_text()):
            try:
                os.close(os.open(Path(self.folder, "killed"), os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return weight_sums(policy, seed)
            os.kill(os.getpid(), signal.SIGKILL)
        return weight_sums(policy, seed)


def make(url: str, **overrides) -> GeneticPopulation:
    kwargs = {"model_fn": net, "evaluate": weight_sums, "size": 12, "parents": 4,
              "elite_candidates": 3, "elite_episodes": 2, "sigma": 0.1, "seed": 5,
              "name": "ga", "storage": url}
    kwargs.update(overrides)
    return GeneticPopulation(**kwargs)


def scores(ga: GeneticPopulation) -> list[tuple[int, int, float]]:
    return sorted((s.member_id, s.step, s.score) for s in ga.population.scores())


@pytest.mark.parametrize("options", [{}, {"crossover": 0.5}, {"max_chain": 2}],
                         ids=["chains", "crossover", "compacted"])
def test_workers_decode_the_bits_the_population_holds(tmp_path, options):
    # crossover children and compacted chains start from weight files, which are deleted
    # once no genome uses them: a worker never asks for one of those
    alone = make(f"sqlite:///{tmp_path / 'a.db'}", checkpoints=tmp_path / "a", **options)
    alone.run(generations=6)
    spread = make(f"sqlite:///{tmp_path / 'b.db'}", workers=2, checkpoints=tmp_path / "b",
                  **options)
    spread.run(generations=6)
    spread.close()
    assert scores(spread) == scores(alone)  # every score is a function of the weights
    assert torch.equal(spread.flat, alone.flat)
    assert [g.mutations for g in spread.genomes] == [g.mutations for g in alone.genomes]
    assert any(g.base is not None for g in spread.genomes) == bool(options)
    if not options:
        assert spread.genomes == alone.genomes


def test_episodes_score_the_same_whatever_the_number_of_workers(tmp_path):
    play = Episodes("CartPole", episodes=2, max_steps=150)
    runs = []
    for workers in (0, 2, 3):
        ga = make(f"sqlite:///{tmp_path / f'w{workers}.db'}", evaluate=play, workers=workers,
                  size=13, elite_episodes=2)
        ga.run(generations=4)
        ga.close()
        runs.append(ga)
    alone = runs[0]
    assert len({s for _, _, s in scores(alone)}) > 3  # the episodes tell members apart
    for spread in runs[1:]:
        assert scores(spread) == scores(alone)
        assert spread.genomes == alone.genomes and torch.equal(spread.flat, alone.flat)


@dataclass
class RecordsItsProcess:
    """Evaluates as `weight_sums`, and writes down which process evaluated how many members."""

    folder: str

    def __call__(self, policy, seed):
        with Path(self.folder, "who").open("a") as out:
            out.write(f"{policy.flat.shape[0]} {os.getpid()}\n")
        return weight_sums(policy, seed)


def test_each_worker_takes_the_same_shard_every_generation(tmp_path):
    # 13 members: shards of 7 and 6; a shard that moved to the other worker would find
    # none of its parents cached there
    ga = make(f"sqlite:///{tmp_path / 's.db'}", workers=2, size=13, elite_episodes=0,
              evaluate=RecordsItsProcess(str(tmp_path)))
    ga.run(generations=8)
    ga.close()
    lines = Path(tmp_path, "who").read_text().split()
    seen = {(int(n), int(pid)) for n, pid in zip(lines[::2], lines[1::2], strict=True)}
    assert len(lines) == 2 * 2 * 8
    assert {n for n, _ in seen} == {7, 6} and len(seen) == 2, seen
    assert len({pid for _, pid in seen}) == 2


def test_a_child_costs_its_worker_one_mutation_of_a_cached_parent(tmp_path):
    ga = make(f"sqlite:///{tmp_path / 'c.db'}", workers=2)
    ga.run(generations=2)
    for generation in range(3, 7):
        assert ga._workers is not None
        before = ga._workers.mutations
        ga.run(generations=generation)
        parents = len(ga._parents)
        spent = ga._workers.mutations - before
        # each child one mutation; each parent at most one in each worker (its own parent
        # was a parent before, so it is cached); never a rebuild of a whole chain
        assert spent <= 11 + 2 * parents < 11 * (generation - 1)
    ga.close()


def test_a_worker_killed_mid_generation_loses_nothing(tmp_path):
    Path(tmp_path, "main").write_text(str(os.getpid()))
    killer = KillsItsWorkerOnce(str(tmp_path))
    ga = make(f"sqlite:///{tmp_path / 'k.db'}", workers=2, evaluate=killer,
              elite_episodes=0)
    ga.run(generations=4)
    ga.close()
    assert Path(tmp_path, "killed").exists() and ga._workers is not None
    assert ga._workers.restarts == 1
    whole = make(f"sqlite:///{tmp_path / 'w.db'}", workers=2, elite_episodes=0)
    whole.run(generations=4)
    whole.close()
    assert scores(ga) == scores(whole) and ga.genomes == whole.genomes


@pytest.mark.parametrize(("overrides", "message"), [
    ({"workers": -1}, r"workers=-1: must be an integer >= 0"),
    ({"workers": 2, "model_fn": lambda: net()}, "model_fn=.* cannot be sent to worker"),
    ({"workers": 2, "evaluate": lambda policy, seed: {}}, "evaluate=.* cannot be sent"),
])
def test_what_workers_cannot_run_is_refused_at_once(tmp_path, overrides, message):
    with pytest.raises(popbt.ConfigError, match=message):
        make(f"sqlite:///{tmp_path / 'e.db'}", **overrides)
    assert not (tmp_path / "e.db").exists()  # refused before the population was created


def test_workers_play_episodes_too(tmp_path):
    ga = make(f"sqlite:///{tmp_path / 'p.db'}", workers=2,
              evaluate=Episodes("CartPole", max_steps=50))
    best = ga.run(generations=3)
    ga.close()
    assert best is not None and 1 <= best.score <= 50
