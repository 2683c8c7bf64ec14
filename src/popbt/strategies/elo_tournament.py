"""`EloTournament`: Capture the Flag's exploit for a league whose ratings are the fitness.

Contract: a ready member is compared with one other member chosen at random; it copies that
member when the Elo-expected probability that it beats it, 1 / (1 + 10^((r_other −
r_member) / scale)), is below `threshold`. The fitness must be an Elo rating on that scale:
`Settings` refuses it unless the population has a league and `metric="rating"`. A member
whose rating is not finite copies any finite one; a peer whose rating is not finite is
never copied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from popbt.errors import ConfigError
from popbt.league.ratings import Elo
from popbt.records import Peer
from popbt.strategies.exploit import Exploit, _pick_other


@dataclass(frozen=True)
class EloTournament(Exploit):
    """Copy a random peer the member is expected to beat less often than `threshold` (see
    the module contract).

    Args:
        threshold: the win probability below which the member copies, in (0, 0.5].
        scale: the Elo scale of the ratings (`popbt.league.Elo(scale=...)`).

    Raises:
        ConfigError: a value out of range, quoted.

    Examples:
        >>> EloTournament(threshold=0.3)
        EloTournament(threshold=0.3, scale=400.0)
    """

    threshold: float = 0.3
    scale: float = 400.0
    needs_rating = True

    def __post_init__(self) -> None:
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 0.5:
            raise ConfigError(f"EloTournament(threshold={t!r}): must be a probability in "
                              f"(0, 0.5]: the member copies a peer it is expected to beat "
                              f"less often than this")
        s = self.scale
        if isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(s) \
                or s <= 0:
            raise ConfigError(f"EloTournament(scale={s!r}): must be a finite number > 0")
        object.__setattr__(self, "threshold", float(t))
        object.__setattr__(self, "scale", float(s))

    def win_probability(self, member: float, other: float) -> float:
        """The Elo-expected probability that a player rated `member` beats one rated `other`."""
        return Elo(scale=self.scale).expected(member, other)

    def select(self, member: Peer, peers: Sequence[Peer], rng: np.random.Generator) -> int | None:
        other = _pick_other(member, peers, rng)
        if other is None or not math.isfinite(other.fitness):
            return None
        if not math.isfinite(member.fitness):
            return other.member_id
        won = self.win_probability(member.fitness, other.fitness)
        return other.member_id if won < self.threshold else None
