"""Self-play leagues: members play each other and frozen snapshots of each other; ratings
from their matches are the fitness; opponents are sampled from the pool.

Public: the ratings (`Elo`) and the opponent samplers (`Uniform`, `Latest`, `SelfPlay`,
`PFSP`, `Nash`, `Mixture`).
"""

from __future__ import annotations

from popbt.league.opponents import PFSP, Latest, Mixture, Nash, Pool, Sampler, SelfPlay, Uniform
from popbt.league.ratings import Elo

__all__ = ["PFSP", "Elo", "Latest", "Mixture", "Nash", "Pool", "Sampler", "SelfPlay", "Uniform"]
