"""Seed-chain genomes (Such et al. 2017): a network's weights as the seed that initialised it
and one (seed, strength) per mutation since, rebuilt deterministically on any machine.

Contract:
- `Genome` (`popbt.genomes`) is the value: an initial seed, an optional base checkpoint, the
  mutations.
- Decoding: the initial weights are `model_fn()` built under `torch.manual_seed(init)` (as
  `popbt.vectorized` builds members), flattened in parameter order; a base is read from its
  checkpoint (checksum verified). A mutation (seed, sigma) adds `sigma * eps`, where `eps`
  is `torch.randn` of the weights' size, float32, drawn on the CPU from a generator seeded
  with `seed`, and `sigma` is rounded to float32 first: the product, then the sum, each one
  rounded float32 operation, so a genome decodes to the same bits in every process and
  whether it is rebuilt from its start or from a cached parent (`mutate` is the one
  function that applies a mutation, for rows and for stacked rows alike).
- `Decoder` keeps the weights of recently decoded genomes (and of their chains' starts) in an
  LRU cache, looked up by every prefix of a chain: a child whose parent was decoded costs one
  mutation, not a rebuild.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from popbt.errors import ConfigError
from popbt.genomes import SEED_LIMIT, STEP, Base, Genome

__all__ = ["SEED_LIMIT", "Base", "Decoder", "Genome", "initial_weights", "mutate", "noise"]

def noise(seed: int, size: int) -> torch.Tensor:
    """A mutation's direction: `size` standard normal float32 values on the CPU from `seed`."""
    return torch.randn(size, generator=torch.Generator().manual_seed(seed))


def mutate(weights: torch.Tensor, eps: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """`weights + sigma * eps` as two float32 operations (rows [N] or stacked rows [P, N] with
    `sigma` of shape [] or [P, 1]): bit for bit the same whichever way it is batched."""
    return weights + eps * sigma.to(torch.float32)


def initial_weights(model_fn: Callable[[], nn.Module], seed: int) -> torch.Tensor:
    """The flat parameters of `model_fn()` built under `torch.manual_seed(seed)` (CPU)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_fn()
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model_fn returned {model!r}, not a torch.nn.Module")
    return torch.cat([p.detach().reshape(-1).float() for p in model.parameters()]).cpu()


class Decoder:
    """Weights of genomes, with an LRU cache of decoded genomes (see the module contract).

    Args:
        model_fn: builds the network (what an initial seed means).
        load_base: reads a base's weights: `(path, checksum) -> state` holding "params" (a
            `CheckpointStore.load`); needed only for compacted genomes.
        capacity: how many decoded weight vectors the cache keeps (each one the size of the
            network's weights).

    Attributes:
        mutations_applied, initialised, bases_loaded: the work done so far (a child of a
            cached parent adds one mutation and nothing else).

    Examples:
        >>> from torch import nn
        >>> decoder = Decoder(lambda: nn.Linear(3, 2))
        >>> parent = Genome(init=1).child(seed=5, sigma=0.1)
        >>> w = decoder.decode(parent); w2 = decoder.decode(parent.child(seed=6, sigma=0.1))
        >>> decoder.initialised, decoder.mutations_applied
        (1, 2)
    """

    def __init__(self, model_fn: Callable[[], nn.Module], *,
                 load_base: Callable[[str, str], dict[str, Any]] | None = None,
                 capacity: int = 64) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ConfigError(f"capacity={capacity!r}: must be an integer >= 1")
        self.model_fn = model_fn
        self.load_base = load_base
        self.capacity = capacity
        self._cache: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        self.mutations_applied = self.initialised = self.bases_loaded = 0

    @staticmethod
    def _keys(genome: Genome) -> list[bytes]:
        """One key per prefix of the chain (0..n mutations), each a digest of the one before."""
        start = Genome(genome.init, (), genome.base, genome.size).to_bytes()
        keys = [hashlib.sha256(start).digest()]
        for seed, sigma in genome.mutations:
            keys.append(hashlib.sha256(keys[-1] + STEP.pack(seed, sigma)).digest())
        return keys

    def _start(self, genome: Genome) -> torch.Tensor:
        if genome.base is None:
            self.initialised += 1
            return initial_weights(self.model_fn, genome.init)
        if self.load_base is None:
            raise ConfigError(f"genome starts from the checkpoint {genome.base.path!r}, and "
                              f"this decoder was given no load_base to read it")
        self.bases_loaded += 1
        params = self.load_base(genome.base.path, genome.base.checksum)["params"]
        return params.detach().to("cpu", torch.float32).reshape(-1)

    def _remember(self, key: bytes, weights: torch.Tensor) -> None:
        self._cache[key] = weights
        self._cache.move_to_end(key)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)

    def decode(self, genome: Genome) -> torch.Tensor:
        """The genome's weights, a new float32 CPU tensor (the cache keeps its own)."""
        keys = self._keys(genome)
        have = next((k for k in range(len(keys) - 1, -1, -1) if keys[k] in self._cache), None)
        if have is None:
            weights, have = self._start(genome), 0
            if genome.size and weights.numel() != genome.size:
                raise ConfigError(f"the genome decodes to {genome.size} weights and this "
                                  f"network has {weights.numel()}: it was evolved with "
                                  f"another model_fn")
            self._remember(keys[0], weights)
        else:
            weights = self._cache[keys[have]]
            self._cache.move_to_end(keys[have])
        for k in range(have, len(genome.mutations)):
            seed, sigma = genome.mutations[k]
            weights = mutate(weights, noise(seed, weights.numel()), torch.tensor(sigma))
            self.mutations_applied += 1
        self._remember(keys[-1], weights)
        return weights.clone()
