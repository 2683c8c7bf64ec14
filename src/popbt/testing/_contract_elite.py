"""The storage contract's tests of the elite: the checkpoint of the best fitness ever
reported is kept while it is the elite, and a backtracking exploit may copy it, going back
to its step (see `popbt.testing`)."""

from __future__ import annotations

import popbt
from popbt.decider import Decider
from popbt.records import EventKind
from popbt.settings import Settings
from popbt.storage.contract import Storage
from popbt.testing._helpers import SPACE, claim, make, present, report


class EliteContract:
    """The tests of the elite in `Storage.report` and `Storage.claim`; part of
    `StorageContract`, which provides the `storage` fixture."""

    def test_the_elite_checkpoint_is_kept_and_a_backtrack_goes_back_to_it(
            self, storage: Storage) -> None:
        pop = make(storage, size=2, target=30)
        first = [present(claim(storage, pop, f"w{i}")) for i in range(2)]
        best = report(storage, pop, first[0], score=0.9, keep=1).member  # the elite, step 5
        report(storage, pop, first[1], score=0.2, keep=1)
        for score in (0.1, 0.1):  # member 0 moves on and gets worse: its step-5 file would go
            report(storage, pop, present(claim(storage, pop, "w0")), score=score, keep=1)
            report(storage, pop, present(claim(storage, pop, "w1")), score=0.2, keep=1)
        assert {m.step for m in storage.members(pop)} == {15}
        elite = storage.checkpoint(pop, best.checkpoint_id)
        assert elite.step == 5 and elite.path in storage.checkpoint_paths()
        decide = Decider(Settings(space=SPACE, size=2, metric="score",
                                  ready=popbt.Every(steps=5),
                                  exploit=popbt.Backtrack(fraction=0.5), explore=None))
        nxt = present(claim(storage, pop, "w0", decide=decide))
        assert (nxt.member.member_id, nxt.member.step) == (0, 5)  # it went back
        assert nxt.member.checkpoint_id == best.checkpoint_id
        exploit = [e for e in storage.events(pop, member_id=0) if e.kind is EventKind.EXPLOIT]
        assert exploit[-1].data["backtrack"] is True
        assert (exploit[-1].data["donor"], exploit[-1].data["donor_step"]) == (0, 5)
        assert exploit[-1].data["new"] == {"lr": 0.1}

    def test_only_a_better_score_replaces_the_elite(self, storage: Storage) -> None:
        pop = make(storage, size=2, target=30)
        a, b = (present(claim(storage, pop, f"w{i}")) for i in range(2))
        kept = report(storage, pop, a, score=0.5, keep=1).member
        report(storage, pop, b, score=0.5, keep=1)  # a tie does not replace it
        for _ in range(2):
            report(storage, pop, present(claim(storage, pop, "w1")), score=0.4, keep=1)
            report(storage, pop, present(claim(storage, pop, "w0")), score=0.3, keep=1)
        paths = storage.checkpoint_paths()
        assert storage.checkpoint(pop, kept.checkpoint_id).path in paths
        assert len(paths) == 3  # the two members' latest, and the elite
