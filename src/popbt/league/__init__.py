"""Self-play leagues: members play each other and frozen snapshots of each other; ratings
from their matches are the fitness; opponents are sampled from the pool.

Public: `League` (also `popbt.League`), the ratings (`Elo`), the opponent samplers
(`Uniform`, `Latest`, `SelfPlay`, `PFSP`, `Nash`, `Mixture`) and the records (`LeagueEntry`,
`MatchRecord`).
"""

from __future__ import annotations

from popbt.league.config import League
from popbt.league.opponents import PFSP, Latest, Mixture, Nash, Pool, Sampler, SelfPlay, Uniform
from popbt.league.ratings import Elo
from popbt.league.records import LeagueEntry, MatchRecord

__all__ = ["PFSP", "Elo", "Latest", "League", "LeagueEntry", "MatchRecord", "Mixture", "Nash",
           "Pool", "Sampler", "SelfPlay", "Uniform"]
