"""Populations without gradients: a Deep-GA mode (extra `torch`).

`GeneticPopulation` evolves networks by truncation selection, elites and Gaussian mutation
(Such et al. 2017), through the same decision seam, storage, lineage, report and CLI as PBT;
each member is a seed-chain `Genome` stored in its row (bytes, not a weight file), decoded
deterministically (`Decoder`, with a cache of parents). Evaluation is vectorized: every
genome of a generation runs as one batched network (`Policy`), on batched environments for
reinforcement learning (`Episodes`).
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("popbt.ga needs PyTorch: pip install 'popbt[torch]'") from exc

from popbt.ga.evaluation import Episodes, Policy
from popbt.ga.genome import Base, Decoder, Genome
from popbt.ga.population import GeneticPopulation

__all__ = ["Base", "Decoder", "Episodes", "GeneticPopulation", "Genome", "Policy"]
