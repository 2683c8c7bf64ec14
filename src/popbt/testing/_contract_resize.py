"""The storage contract's tests of a population's size: growing, shrinking (retired members)
and members that start from another population's checkpoints (see `popbt.testing`)."""

from __future__ import annotations

import pytest

import popbt
from popbt.records import EventKind, MemberState
from popbt.storage.base import WarmStart
from popbt.storage.contract import Storage
from popbt.testing._helpers import (
    NEVER,
    NOW,
    SPACE,
    ScriptedClone,
    ScriptedDecide,
    claim,
    make,
    present,
    report,
)

FRESH = [{"lr": 0.01 * (i + 1)} for i in range(8)]


class ResizeContract:
    """The tests of `Storage.resize` and of `create_population(starts=...)`; part of
    `StorageContract`, which provides the `storage` fixture."""

    def test_growing_adds_members_with_the_next_ids(self, storage: Storage) -> None:
        pop = make(storage, size=3, target=10)
        done = storage.resize(pop, size=5, hparams=FRESH, clone=None, now=NOW)
        assert (done.added, done.retired, done.donor, done.size) == ((3, 4), (), None, 5)
        members = storage.members(pop)
        assert [m.member_id for m in members] == [0, 1, 2, 3, 4]
        new = members[3:]
        assert [m.hparams for m in new] == FRESH[:2]
        assert all(m.step == 0 and m.state is MemberState.IDLE and m.score is None
                   and m.checkpoint_id is None for m in new)
        created = storage.events(pop, kinds=[EventKind.CREATED])
        assert [(e.member_id, e.data["hparams"]) for e in created[3:]] == [
            (3, FRESH[0]), (4, FRESH[1])]
        assert storage.refresh(pop).settings.size == 5
        assert storage.unfinished(pop) == 5
        assert sorted(claim(storage, pop, f"w{i}").member.member_id for i in range(5)) == [
            0, 1, 2, 3, 4]

    def test_a_grown_member_is_ranked_once_it_reports(self, storage: Storage) -> None:
        """Peers read before the population grew still see the new members' scores."""
        pop = make(storage, size=2, target=20)
        a, b = claim(storage, pop, "a"), claim(storage, pop, "b")
        report(storage, pop, a, score=0.1, ready=False)
        report(storage, pop, b, score=0.2, ready=False)
        assert {p.member_id for p in storage.peers(pop)} == {0, 1}
        storage.resize(pop, size=3, hparams=FRESH, clone=None, now=NOW)
        new = claim(storage, pop, "c")
        assert new.member.member_id == 2
        report(storage, pop, new, steps=5, score=0.9, ready=False)
        assert {p.member_id: p.fitness for p in storage.peers(pop)} == {0: 0.1, 1: 0.2, 2: 0.9}
        assert present(storage.best(pop)).member_id == 2

    def test_growing_with_clone_copies_the_best_member(self, storage: Storage) -> None:
        pop = make(storage, size=3, target=20)
        for name, score in (("a", 0.3), ("b", 0.9), ("c", 0.5)):
            report(storage, pop, claim(storage, pop, name), score=score, ready=False)
        clone = ScriptedClone(lr=0.55)
        done = storage.resize(pop, size=5, hparams=FRESH, clone=clone, now=NOW)
        assert done.added == (3, 4) and done.donor == 1
        assert clone.calls == [(3, 1), (4, 1)]
        best = storage.members(pop)[1]
        for m in storage.members(pop)[3:]:
            assert (m.checkpoint_id, m.step) == (best.checkpoint_id, best.step)
            assert m.hparams == {"lr": 0.55} and m.score is None
            assert m.state is MemberState.IDLE
            kinds = [(e.kind, e.step) for e in storage.events(pop, member_id=m.member_id)]
            assert kinds == [(EventKind.CREATED, 5), (EventKind.EXPLOIT, 5),
                             (EventKind.EXPLORE, 5)]
            exploit = storage.events(pop, member_id=m.member_id,
                                     kinds=[EventKind.EXPLOIT])[0]
            assert exploit.data["donor"] == 1 and exploit.data["donor_step"] == 5

    def test_growing_with_clone_before_any_score_samples(self, storage: Storage) -> None:
        pop = make(storage, size=2)
        done = storage.resize(pop, size=3, hparams=FRESH, clone=ScriptedClone(), now=NOW)
        assert done.donor is None and storage.members(pop)[2].hparams == FRESH[0]

    def test_a_clone_at_the_target_is_done_with_the_donor_score(
            self, storage: Storage) -> None:
        pop = make(storage, size=2, target=5)
        for name, score in (("a", 0.3), ("b", 0.9)):
            report(storage, pop, claim(storage, pop, name), score=score)
        storage.resize(pop, size=3, hparams=FRESH, clone=ScriptedClone(), now=NOW)
        new = storage.members(pop)[2]
        assert new.state is MemberState.DONE and new.score == 0.9
        assert storage.unfinished(pop) == 0

    def test_shrinking_retires_the_worst(self, storage: Storage) -> None:
        pop = make(storage, size=5, target=20)
        for name, score in (("a", 0.5), ("b", 0.1), ("c", 0.9), ("d", 0.1)):
            report(storage, pop, claim(storage, pop, name), score=score, ready=False)
        done = storage.resize(pop, size=2, hparams=(), clone=None, now=NOW)
        assert done.retired == (4, 3, 1) and done.size == 2  # unscored, then low, high id first
        states = {m.member_id: m.state for m in storage.members(pop)}
        assert [mid for mid, s in states.items() if s is MemberState.RETIRED] == [1, 3, 4]
        retired = storage.events(pop, kinds=[EventKind.RETIRED])
        assert sorted(e.member_id for e in retired) == [1, 3, 4]
        assert all(e.data == {"size": 2} for e in retired)
        assert storage.refresh(pop).settings.size == 2
        assert {p.member_id for p in storage.peers(pop)} == {0, 2}
        assert storage.unfinished(pop) == 2
        storage.set_target(pop, 40)  # raising the target revives no retired member
        taken = [claim(storage, pop, f"w{i}") for i in range(3)]
        assert sorted(c.member.member_id for c in taken[:2]) == [0, 2] and taken[2] is None

    def test_a_retired_member_is_never_the_best_nor_a_donor(self, storage: Storage) -> None:
        pop = make(storage, size=3, target=20)
        for name, score in (("a", 0.9), ("b", 0.2), ("c", 0.1)):
            report(storage, pop, claim(storage, pop, name), score=score)
        storage.resize(pop, size=2, hparams=(), clone=None, now=NOW)  # retires member 2
        assert present(storage.best(pop)).member_id == 0
        with pytest.raises(popbt.ConfigError, match="sets of hyperparameters"):
            storage.resize(pop, size=4, hparams=FRESH[:1], clone=None, now=NOW)
        decide = ScriptedDecide(donors={1: 2})  # member 1 asks to copy the retired member
        assert claim(storage, pop, "a", decide=decide).member.member_id in (0, 1)
        assert not storage.events(pop, kinds=[EventKind.EXPLOIT])

    def test_a_member_retired_while_held_loses_its_claim(self, storage: Storage) -> None:
        pop = make(storage, size=3, target=20)
        a, b = claim(storage, pop, "a"), claim(storage, pop, "b")
        report(storage, pop, a, score=0.5, ready=False)
        report(storage, pop, b, score=0.6, ready=False)
        held = claim(storage, pop, "c")
        assert held.member.member_id == 2  # unscored: the worst
        storage.resize(pop, size=2, hparams=(), clone=None, now=NOW)
        assert not report(storage, pop, held).accepted
        assert not storage.heartbeat(pop, held, lease_s=30, now=NOW)
        assert storage.members(pop)[2].state is MemberState.RETIRED
        assert storage.holders(pop) == []

    def test_ids_of_retired_members_are_not_reused(self, storage: Storage) -> None:
        pop = make(storage, size=4)
        storage.resize(pop, size=2, hparams=(), clone=None, now=NOW)
        done = storage.resize(pop, size=3, hparams=FRESH, clone=None, now=NOW)
        assert done.added == (4,) and len(storage.members(pop)) == 5
        unchanged = storage.members(pop)
        same = storage.resize(pop, size=3, hparams=(), clone=None, now=NOW)
        assert (same.added, same.retired) == ((), ())
        assert storage.members(pop) == unchanged
        with pytest.raises(popbt.ConfigError, match="size=0"):
            storage.resize(pop, size=0, hparams=(), clone=None, now=NOW)

    def test_members_start_from_warm_start_checkpoints(self, storage: Storage) -> None:
        starts = [WarmStart(path=f"w/m{i:05d}/s0000000000-{i:012x}.npz", checksum="1" * 64,
                            size=7, source={"population": "src", "member_id": 9 - i,
                                            "step": 30, "score": 0.5})
                  for i in range(2)]
        config = {"space": SPACE.to_json(), "size": 3, "metric": "score", "mode": "max",
                  "seed": 0, "ready": popbt.Every(steps=5).to_config(),
                  "exploit": popbt.Truncation(0.5).to_config(), "explore": None,
                  "keep_checkpoints": 3, "max_failures": 3}
        pop = storage.create_population(name="w", config=config, checkpoint_root="/tmp/x",
                                        initial_hparams=[{"lr": 0.1}] * 3, now=NOW,
                                        starts=starts)
        members = storage.members(pop)
        for i, start in enumerate(starts):
            ckpt = storage.checkpoint(pop, present(members[i].checkpoint_id))
            assert (ckpt.member_id, ckpt.step, ckpt.path, ckpt.checksum, ckpt.size) == (
                i, 0, start.path, start.checksum, 7)
            assert members[i].step == 0 and members[i].score is None
            events = storage.events(pop, member_id=i)
            assert [e.kind for e in events] == [EventKind.CREATED, EventKind.WARM_START]
            assert events[1].data == start.source
        assert members[2].checkpoint_id is None
        assert claim(storage, pop, decide=NEVER) is None  # the target is 0: nothing to train
