"""A vectorized round's decisions: in turn (each member sees the exploits made before it in
the round) or, with `sync`, together (every donor as it was before the round)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

import popbt
from popbt.decider import Decider
from popbt.records import Peer
from popbt.settings import Settings
from popbt.vectorized._decide import decide_round


class Chain(popbt.Exploit):
    """Member 0 copies member 1, member 2 copies member 0; the others carry on."""

    def select(self, member: Peer, peers: Sequence[Peer],
               rng: np.random.Generator) -> int | None:
        return {0: 1, 2: 0}.get(member.member_id)


@pytest.mark.parametrize(("together", "sources", "lr_of_2"), [
    (False, [1, 1, 1], 0.2),  # member 2 copies what member 0 took from member 1 this round
    (True, [1, 1, 0], 0.1),  # member 2 copies member 0 as it was before the round
])
def test_a_round_in_turn_or_together(together: bool, sources: list[int], lr_of_2: float):
    decider = Decider(Settings(space=popbt.Space({"lr": popbt.Uniform(0.0, 1.0)}), size=3,
                               metric="score", ready=popbt.Every(steps=5), exploit=Chain(),
                               explore=None, sync=together))
    records = [{"member_id": i, "hparams": {"lr": 0.1 * (i + 1)}, "fitness": float(i),
                "score": float(i), "ready_count": 1} for i in range(3)]
    events: list = []
    source = decide_round(decider, records, {}, step=5, events=events, stored=list,
                          together=together)
    assert source.tolist() == sources
    assert records[2]["hparams"] == {"lr": lr_of_2}
    assert [mid for mid, *_ in events] == [0, 2]
