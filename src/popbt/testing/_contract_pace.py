"""The storage contract's tests of pacing: a bounded lead (`max_lead`) keeps claims within
that many ready intervals of the least-advanced member still training, and synchronous
generations (`sync`) make a step's decisions together once every member has reached it
(see `popbt.testing`)."""

from __future__ import annotations

from popbt.storage.contract import Storage
from popbt.testing._helpers import ScriptedDecide, claim, make, present, report


class PaceContract:
    """The tests of `max_lead` and `sync` in `Storage.claim`; part of `StorageContract`,
    which provides the `storage` fixture."""

    def test_max_lead_holds_members_within_k_intervals_of_the_least_advanced(
            self, storage: Storage) -> None:
        pop = make(storage, size=3, target=30, max_lead=1)
        slow = present(claim(storage, pop, "slow"))  # member 0 stays at step 0
        for _ in range(2):  # members 1 and 2 each train two intervals: steps 5, then 10
            for _ in range(2):
                report(storage, pop, present(claim(storage, pop, "fast")))
        assert sorted(m.step for m in storage.members(pop)) == [0, 10, 10]
        assert claim(storage, pop, "fast") is None  # 10 steps ahead of step 0: 2 intervals
        report(storage, pop, slow)  # the least advanced is at step 5 now
        nxt = present(claim(storage, pop, "fast"))
        assert (nxt.member.member_id, nxt.member.step) == (0, 5)
        ahead = present(claim(storage, pop, "fast"))  # step 10 is one interval ahead of 5
        assert ahead.member.step == 10

    def test_max_lead_counts_only_members_still_training(self, storage: Storage) -> None:
        pop = make(storage, size=2, target=10, max_lead=0)
        first = present(claim(storage, pop, "a"))
        report(storage, pop, first, steps=10)  # done at the target: it holds no one back
        other = present(claim(storage, pop, "b"))
        report(storage, pop, other)
        assert present(claim(storage, pop, "b")).member.member_id == other.member.member_id

    def test_sync_decides_a_generation_together_once_every_member_reached_it(
            self, storage: Storage) -> None:
        pop = make(storage, size=3, target=20, sync=True)
        held = [present(claim(storage, pop, f"w{i}")) for i in range(3)]
        report(storage, pop, held[0], score=0.1)
        report(storage, pop, held[1], score=0.9)
        decide = ScriptedDecide(donors={0: 1, 2: 0}, new_lr=0.5)
        assert claim(storage, pop, "w0", decide=decide) is None  # member 2 is still at 0
        assert decide.calls == []
        report(storage, pop, held[2], score=0.5)
        before = {m.member_id: m for m in storage.members(pop)}
        nxt = present(claim(storage, pop, "w0", decide=decide))
        # every decision of step 5 was made before the claim, in member order, each seeing
        # the same peers
        assert [mid for mid, _ in decide.calls] == [0, 1, 2]
        seen = [{(p.member_id, p.step, p.fitness) for p in peers} for _, peers in decide.calls]
        assert seen[0] == seen[1] == seen[2] == {(0, 5, 0.1), (1, 5, 0.9), (2, 5, 0.5)}
        after = {m.member_id: m for m in storage.members(pop)}
        assert after[0].checkpoint_id == before[1].checkpoint_id
        # member 2 copied member 0 as it was before the generation, not what it just took
        assert after[2].checkpoint_id == before[0].checkpoint_id
        exploit = [e for e in storage.events(pop, member_id=2) if e.kind.value == "exploit"]
        assert exploit[-1].data["new"] == before[0].hparams
        assert nxt.member.step == 5
