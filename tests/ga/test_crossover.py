"""Crossover in a genetic population: a child of two parents takes each weight from one of
them, is stored as a checkpoint base plus its one mutation, decodes to the weights evaluated,
resumes exactly, and its second parent is in the EXPLOIT event."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import popbt
from popbt.checkpoints import CheckpointStore
from popbt.ga import Decoder, Episodes, GeneticPopulation, Genome


def net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def make(url: str, **overrides) -> GeneticPopulation:
    kwargs = {"model_fn": net, "evaluate": Episodes("CartPole", max_steps=60), "size": 12,
              "parents": 4, "sigma": 0.1, "seed": 3, "name": "ga", "storage": url,
              "crossover": 1.0}
    kwargs.update(overrides)
    return GeneticPopulation(**kwargs)


def scores(ga: GeneticPopulation) -> list[tuple[int, int, float]]:
    return sorted((s.member_id, s.step, s.score) for s in ga.population.scores())


def test_a_crossover_child_takes_each_weight_from_one_of_its_two_parents(db_url, tmp_path):
    ga = make(db_url, checkpoints=tmp_path / "ckpt")
    ga.run(generations=1)  # evaluated; the decisions wait for the next run
    before = ga.flat.clone()
    ga.run(generations=2)
    store = CheckpointStore(ga.population.row.checkpoint_root)
    decoder = Decoder(net, load_base=store.load)
    exploits = {e.member_id: e.data for e in ga.population.events(
        kinds=[popbt.EventKind.EXPLOIT]) if e.step == 1}
    elite = ga.best.member_id
    assert set(exploits) == set(range(12)) - {elite}  # crossover=1: every child has two
    for child, data in exploits.items():
        genome = ga.genomes[child]
        assert genome.base is not None and len(genome) == 1
        first, second = ((child, data["donor"]) if data["crossover_with"] == child
                         else (data["donor"], data["crossover_with"]))
        assert first != second
        crossed = store.load(genome.base.path, genome.base.checksum)["params"]
        from_first = crossed == before[first]
        from_second = crossed == before[second]
        assert bool((from_first | from_second).all())
        assert 0.2 < from_first.float().mean() < 0.8 and 0.2 < from_second.float().mean() < 0.8
        assert torch.equal(decoder.decode(genome), ga.weights(child))
        assert not torch.equal(ga.weights(child), crossed)  # then mutated
    assert ga.genomes[elite].base is None and torch.equal(ga.weights(elite), before[elite])


def test_a_crossover_run_resumes_exactly_and_keeps_only_the_bases_in_use(tmp_path):
    whole = make(f"sqlite:///{tmp_path / 'a.db'}", crossover=0.5,
                 checkpoints=tmp_path / "a")
    whole.run(generations=5)
    url = f"sqlite:///{tmp_path / 'b.db'}"
    make(url, crossover=0.5, checkpoints=tmp_path / "b").run(generations=2)
    again = make(url, crossover=0.5, checkpoints=tmp_path / "b", load_if_exists=True)
    again.run(generations=5)
    assert scores(again) == scores(whole) and torch.equal(again.flat, whole.flat)
    rows = again.population.storage.genomes(again.population.row)
    genomes = [Genome.from_bytes(rows[i]) for i in sorted(rows)]
    based = {g.base.path for g in genomes if g.base is not None}
    store = CheckpointStore(again.population.row.checkpoint_root)
    assert based and {f.rel for f in store.files("ga")} == based
    half = [len(g) for g in genomes if g.base is None]
    assert half and max(half) >= 2  # without crossover, children stay seed chains
    sizes = again.storage_per_member()  # the weight files count, not only the rows
    on_disk = sum(f.size for f in store.files("ga"))
    rows_bytes = sum(len(g.to_bytes()) for g in genomes)
    assert sizes["weight_files"] == len(based)
    assert sizes["total_mean"] == pytest.approx((rows_bytes + on_disk) / len(genomes))
    assert sizes["total_mean"] > sizes["genome_mean"]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"crossover": 1.5}, r"crossover=1.5: the probability .* in \[0, 1\]"),
    ({"crossover": -0.1}, r"crossover=-0.1"),
    ({"crossover": True}, r"crossover=True"),
    ({"crossover": "half"}, r"crossover='half'"),
    ({"crossover": 0.3, "parents": 1, "elites": 1},
     r"crossover=0.3 with parents=1: a crossover needs two parents"),
])
def test_a_bad_crossover_is_refused_at_once(tmp_path, overrides, message):
    with pytest.raises(popbt.ConfigError, match=message):
        make(f"sqlite:///{tmp_path / 'e.db'}", **overrides)
    assert not (tmp_path / "e.db").exists()
