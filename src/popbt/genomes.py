"""Seed-chain genomes as values (Such et al. 2017): a network's weights as the seed that
initialised it and one (seed, strength) per mutation since; pure data, no torch (how they
decode to weights: `popbt.ga.genome`).

Contract: `Genome` is a frozen value: an initial seed, optionally a `base` (a stored
checkpoint of weights the chain starts from instead, after compaction), and the mutations in
order, and how many weights it decodes to. `to_bytes` / `Genome.from_bytes` are exact
inverses; 16 bytes per mutation plus a 21-byte header (and the base's path and checksum).

Examples:
    >>> g = Genome(init=7).child(seed=123, sigma=0.002)
    >>> Genome.from_bytes(g.to_bytes()) == g, len(g.to_bytes())
    (True, 37)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from popbt.errors import ConfigError

_MAGIC = b"PBG1"
# magic, has a base, initial seed, number of weights (0: not said), number of mutations
_HEAD = struct.Struct("<4sBQII")
STEP = struct.Struct("<Qd")  # a mutation: seed, strength
SEED_LIMIT = 2 ** 63  # seeds are integers in [0, 2**63)


def _seed(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SEED_LIMIT:
        raise ConfigError(f"{what}={value!r}: a seed must be an integer in [0, 2**63)")
    return value


@dataclass(frozen=True)
class Base:
    """Weights a compacted genome starts from: a checkpoint's path (relative to the
    population's checkpoint root) and its checksum."""

    path: str
    checksum: str


@dataclass(frozen=True)
class Genome:
    """A network as its initial seed (or `base`) and its mutations (see the module contract).

    Args:
        init: the seed its initial weights are built under.
        mutations: (seed, sigma) pairs, oldest first.
        base: when set, the weights start from this checkpoint instead of `init`'s.
        size: how many weights it decodes to (0: not said); a decoder refuses a network of
            another size.

    Raises:
        ConfigError: a seed outside [0, 2**63), a sigma that is not a finite number, or a
            size that is not an integer in [0, 2**32).
    """

    init: int
    mutations: tuple[tuple[int, float], ...] = ()
    base: Base | None = None
    size: int = 0

    def __post_init__(self) -> None:
        _seed(self.init, "init")
        if isinstance(self.size, bool) or not isinstance(self.size, int) \
                or not 0 <= self.size < 2 ** 32:
            raise ConfigError(f"size={self.size!r}: the number of weights must be an integer "
                              f"in [0, 2**32)")
        for seed, sigma in self.mutations:
            _seed(seed, "mutation seed")
            if isinstance(sigma, bool) or not isinstance(sigma, int | float) \
                    or sigma != sigma or abs(sigma) == float("inf"):
                raise ConfigError(f"mutation sigma={sigma!r}: must be a finite number")

    def child(self, *, seed: int, sigma: float) -> Genome:
        """This genome with one more mutation."""
        return Genome(self.init, (*self.mutations, (seed, float(sigma))), self.base, self.size)

    def rebased(self, base: Base) -> Genome:
        """The same weights as a chain of no mutations from `base` (compaction)."""
        return Genome(self.init, (), base, self.size)

    def __len__(self) -> int:
        return len(self.mutations)

    def to_bytes(self) -> bytes:
        """The genome's compact encoding (see `from_bytes`)."""
        parts = [_HEAD.pack(_MAGIC, self.base is not None, self.init, self.size,
                            len(self.mutations))]
        if self.base is not None:
            for text in (self.base.path, self.base.checksum):
                raw = text.encode()
                parts.append(struct.pack("<H", len(raw)) + raw)
        parts.extend(STEP.pack(seed, sigma) for seed, sigma in self.mutations)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Genome:
        """The genome `to_bytes` encoded.

        Raises:
            ConfigError: `data` is not a genome's encoding.
        """
        try:
            magic, has_base, init, size, count = _HEAD.unpack_from(data, 0)
            if magic != _MAGIC:
                raise ValueError(f"starts with {bytes(data[:4])!r}, not {_MAGIC!r}")
            at, base = _HEAD.size, None
            if has_base:
                texts = []
                for _ in range(2):
                    (n,) = struct.unpack_from("<H", data, at)
                    texts.append(bytes(data[at + 2:at + 2 + n]).decode())
                    at += 2 + n
                base = Base(texts[0], texts[1])
            if len(data) != at + count * STEP.size:
                raise ValueError(f"{len(data)} bytes for {count} mutations")
            steps = tuple((int(s), float(v)) for s, v in STEP.iter_unpack(data[at:]))
        except (struct.error, ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"not a popbt genome ({exc})") from None
        return cls(int(init), steps, base, int(size))


def base_paths(stored: dict[int, bytes]) -> set[str]:
    """The checkpoints the stored genomes (member id → bytes) start from."""
    bases = (Genome.from_bytes(data).base for data in stored.values())
    return {b.path for b in bases if b is not None}
