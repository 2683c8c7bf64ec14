"""Seed-chain genomes: exact bytes, a decoder that rebuilds a child from its cached parent with
one mutation, the same bits in another process, and the Deep GA's selection."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import popbt
from popbt.ga import Decoder, Genome
from popbt.ga.genome import initial_weights, mutate, noise
from popbt.genomes import Base
from popbt.records import Peer
from popbt.strategies import GeneticSelection, from_config


def net() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))


def chain(length: int, init: int = 3) -> Genome:
    genome = Genome(init=init)
    for k in range(length):
        genome = genome.child(seed=1000 + k, sigma=0.01 * (k + 1))
    return genome


def test_bytes_round_trip_exactly_and_hold_sixteen_bytes_per_mutation():
    genome = chain(50)
    data = genome.to_bytes()
    assert Genome.from_bytes(data) == genome
    assert len(data) - len(Genome(init=3).to_bytes()) == 50 * 16
    based = chain(2).rebased(Base("p/genomes/m1/s0000000004-0123456789ab.pt", "f" * 64))
    assert Genome.from_bytes(based.to_bytes()) == based and based.mutations == ()


@pytest.mark.parametrize(("data", "message"), [
    (b"", "not a popbt genome"), (b"XXXX" + bytes(13), "not a popbt genome"),
    (Genome(init=1).child(seed=2, sigma=0.1).to_bytes()[:-1], "bytes for 1 mutations")])
def test_bytes_that_are_not_a_genome_are_refused(data, message):
    with pytest.raises(popbt.ConfigError, match=message):
        Genome.from_bytes(data)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Genome(init=-1), r"init=-1: a seed must be an integer in \[0, 2\*\*63\)"),
    (lambda: Genome(init=1).child(seed=2**63, sigma=0.1), "mutation seed=9223372036854775808"),
    (lambda: Genome(init=1).child(seed=1, sigma=float("nan")), "sigma=nan"),
])
def test_bad_seeds_and_strengths_are_refused(make, message):
    with pytest.raises(popbt.ConfigError, match=message):
        make()


def test_a_child_of_a_decoded_parent_costs_one_mutation_and_matches_a_rebuild():
    decoder = Decoder(net)
    parent = chain(30)
    decoder.decode(parent)
    assert (decoder.initialised, decoder.mutations_applied) == (1, 30)
    child = parent.child(seed=77, sigma=0.05)
    cached = decoder.decode(child)
    assert (decoder.initialised, decoder.mutations_applied) == (1, 31)
    rebuilt = Decoder(net).decode(child)  # from the initial seed, 31 mutations
    assert torch.equal(cached, rebuilt)
    by_hand = initial_weights(net, 3)
    for seed, sigma in child.mutations:
        by_hand = by_hand + noise(seed, by_hand.numel()) * torch.tensor(sigma)
    assert torch.equal(cached, by_hand)


def test_stacked_mutations_give_the_bits_of_row_by_row_ones():
    rows = torch.stack([initial_weights(net, s) for s in range(6)])
    seeds, sigmas = [11, 12, 13, 14, 15, 16], [0.002, 0.01, 0.3, 1.7, 0.05, 0.0001]
    eps = torch.stack([noise(s, rows.shape[1]) for s in seeds])
    stacked = mutate(rows, eps, torch.tensor(sigmas)[:, None])
    for i in range(6):
        assert torch.equal(stacked[i], mutate(rows[i], eps[i], torch.tensor(sigmas[i])))


def test_a_genome_decodes_to_the_same_bits_in_another_process(tmp_path):
    genomes = [chain(n, init=n) for n in (0, 1, 40)]
    ours = [hashlib.sha256(Decoder(net).decode(g).numpy().tobytes()).hexdigest()
            for g in genomes]
    script = textwrap.dedent(f"""
        import hashlib, sys
        from torch import nn
        from popbt.ga import Decoder, Genome
        def net():
            return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
        decoder = Decoder(net)
        for hexed in {[g.to_bytes().hex() for g in genomes]!r}:
            weights = decoder.decode(Genome.from_bytes(bytes.fromhex(hexed)))
            print(hashlib.sha256(weights.numpy().tobytes()).hexdigest())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, cwd=tmp_path)
    assert done.stdout.split() == ours


def test_a_compacted_genome_needs_a_way_to_read_its_base():
    based = chain(1).rebased(Base("x/s0000000001-0123456789ab.pt", "0" * 64))
    with pytest.raises(popbt.ConfigError, match="given no load_base"):
        Decoder(net).decode(based)


def test_genetic_selection_keeps_the_elites_and_draws_parents_from_the_top():
    fitness = [0.5, 0.9, 0.1, 0.9, -np.inf, 0.3]
    peers = [Peer(i, 4, f) for i, f in enumerate(fitness)]
    selection = GeneticSelection(parents=3, elites=2)
    assert GeneticSelection.ranking(peers) == [1, 3, 0, 5, 2]  # ties: lowest id first
    assert selection.elite_ids(peers) == [1, 3]
    for member in (1, 3):
        assert selection.select(peers[member], peers, np.random.default_rng(0)) is None
    drawn = {selection.select(peers[2], peers, np.random.default_rng(s)) for s in range(200)}
    assert drawn == {1, 3, 0}
    assert from_config(selection.to_config()) == selection
    assert selection.select(Peer(0, 1, -np.inf), [Peer(1, 1, -np.inf)],
                            np.random.default_rng(0)) is None  # nothing scored yet


def test_with_samples_the_elites_are_the_best_tested_members():
    """The Deep GA's rule: the candidates evaluated on more episodes (their samples) hold the
    elite, chosen by their mean, even where an untested member's one score is higher."""
    peers = [Peer(0, 4, 0.99), Peer(1, 4, 0.9, samples=(0.5, 0.7)),
             Peer(2, 4, 0.8, samples=(0.8, 0.8)), Peer(3, 4, 0.1)]
    selection = GeneticSelection(parents=3, elites=1)
    assert selection.elite_ids(peers) == [2]
    assert selection.select(peers[2], peers, np.random.default_rng(0)) is None
    assert selection.select(peers[0], peers, np.random.default_rng(0)) in (0, 1, 2)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"parents": 0}, r"parents=0\): parents must be an integer >= 1"),
    ({"elites": -1}, r"elites=-1\): elites must be an integer >= 0"),
    ({"parents": 2, "elites": 3}, "elites must be at most parents=2"),
])
def test_genetic_selection_refuses_bad_counts(kwargs, message):
    with pytest.raises(popbt.ConfigError, match=message):
        GeneticSelection(**kwargs)


def test_a_genome_refuses_a_network_of_another_size():
    genome = Genome(init=4, size=sum(p.numel() for p in net().parameters()))
    assert Genome.from_bytes(genome.to_bytes()) == genome
    Decoder(net).decode(genome.child(seed=1, sigma=0.1))

    def wider() -> nn.Module:
        return nn.Sequential(nn.Linear(5, 9), nn.Tanh(), nn.Linear(9, 3))

    with pytest.raises(popbt.ConfigError, match="decodes to 66 weights and this network has"):
        Decoder(wider).decode(genome.child(seed=1, sigma=0.1))
