"""`GeneticSelection`: the Deep GA's exploit (Such et al. 2017): truncation selection of
parents, with elites.

Contract: rank the members by fitness (best first; equal fitness: lowest member id first, so
every member sees the same ranking; a non-finite fitness last). The elites are kept as they
are (`select` returns None: no copy, no mutation): the first `elites` of the ranking or, when
some members carry samples (`Peer.samples`: the Deep GA evaluates its top candidates on
more episodes to choose its elite), the `elites` best of those by the mean of their samples.
Every other member becomes the child of a parent drawn uniformly (with replacement) from the
first `parents` of the ranking, itself included when it is one of them. With no finite
fitness yet, nothing is copied. A genetic population (`popbt.ga.GeneticPopulation`) then
mutates every member that is not an elite.
"""


from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from popbt.errors import ConfigError
from popbt.records import Peer, Peers
from popbt.strategies.exploit import Exploit, _with_member

ELITE_PREFIX = "elite_"


def elite_metric(metric: str) -> str:
    """The name under which a genetic population records a candidate's mean over the extra
    episodes that choose the elite ("elite_return" for "return")."""
    return ELITE_PREFIX + metric


def _count(owner: object, name: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{type(owner).__name__}({name}={value!r}): {name} must be an "
                          f"integer >= {least}")


@dataclass(frozen=True)
class GeneticSelection(Exploit):
    """Truncation selection of `parents` with `elites` kept unchanged (the module contract).

    The defaults are the Deep GA paper's: the top 20 are parents, the best one is an elite.

    Args:
        parents: how many of the best members children are drawn from (>= 1).
        elites: how many of the best members are kept unchanged (>= 0, at most `parents`).

    Raises:
        ConfigError: a value out of range, quoted.

    Examples:
        >>> import numpy as np
        >>> peers = [Peer(i, 3, f) for i, f in enumerate([0.1, 0.9, 0.5, 0.7])]
        >>> sel = GeneticSelection(parents=2, elites=1)
        >>> sel.elite_ids(peers)
        [1]
        >>> sel.select(peers[1], peers, np.random.default_rng(0)) is None  # the elite stays
        True
        >>> sel.select(peers[0], peers, np.random.default_rng(0)) in (1, 3)
        True
    """

    parents: int = 20
    elites: int = 1
    history_window = 1  # the caller fills `Peer.samples`, which choose the elites
    def __post_init__(self) -> None:
        _count(self, "parents", self.parents, 1)
        _count(self, "elites", self.elites, 0)
        if self.elites > self.parents:
            raise ConfigError(f"GeneticSelection(elites={self.elites!r}): elites must be at "
                              f"most parents={self.parents!r}")

    @staticmethod
    def ranking(peers: Sequence[Peer]) -> list[int]:
        """Member ids with a finite fitness, best first (ties: lowest id first)."""
        view = Peers.of(peers)
        finite = np.isfinite(view.fitness)
        order = np.lexsort((view.member_ids[finite], -view.fitness[finite]))
        return [int(m) for m in view.member_ids[finite][order]]

    def elite_ids(self, peers: Sequence[Peer]) -> list[int]:
        """The members kept unchanged this generation, best first (see the module contract)."""
        view = Peers.of(peers)
        tested = {m: float(np.mean(s)) for m, s in view.samples.items()
                  if s and np.isfinite(np.mean(s))}
        if not tested:
            return self.ranking(peers)[:self.elites]
        return sorted(tested, key=lambda m: (-tested[m], m))[:self.elites]

    def select(self, member: Peer, peers: Sequence[Peer], rng: np.random.Generator) -> int | None:
        view, _ = _with_member(member, peers)
        ranked = self.ranking(view)
        if not ranked or member.member_id in self.elite_ids(view):
            return None
        chosen = ranked[:self.parents]
        return chosen[int(rng.integers(len(chosen)))]
