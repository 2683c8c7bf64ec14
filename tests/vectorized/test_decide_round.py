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


def test_ttest_decides_from_the_latest_samples_in_one_round():
    """Samples (episode returns, say) decide at the first ready point: no history needed."""
    decider = Decider(Settings(space=popbt.Space({"lr": popbt.Uniform(0.0, 1.0)}), size=2,
                               metric="return", ready=popbt.Every(steps=5),
                               exploit=popbt.TTest(), explore=None))
    records = [{"member_id": i, "hparams": {"lr": 0.1 * (i + 1)}, "fitness": float(i),
                "score": float(i), "ready_count": 1} for i in range(2)]
    low, high = [0.0, 0.2, -0.1, 0.1, 0.05], [1.0, 1.2, 0.9, 1.1, 1.05]
    source = decide_round(decider, records, {}, step=5, events=[], stored=list,
                          samples={0: low, 1: high})
    assert source.tolist() == [1, 1]  # member 0 copies member 1: the test is significant
    alike = decide_round(decider, [dict(r, hparams=dict(r["hparams"])) for r in records], {},
                         step=5, events=[], stored=list, samples={0: low, 1: low})
    assert alike.tolist() == [0, 1]  # the same samples: nothing significant, no copy
