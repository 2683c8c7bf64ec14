"""The storage contract's tests, one per guarantee of `popbt.storage.Storage` (see
`popbt.testing`)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator

import pytest

import popbt
from popbt.records import EventKind, MemberState
from popbt.storage.contract import RESEEDS, Storage
from popbt.testing._contract_elite import EliteContract
from popbt.testing._contract_league import LeagueContract
from popbt.testing._contract_pace import PaceContract
from popbt.testing._contract_resize import ResizeContract
from popbt.testing._contract_stop import StopContract
from popbt.testing._helpers import NEVER, NOW, ScriptedDecide, claim, make, present, report


class StorageContract(EliteContract, LeagueContract, PaceContract, ResizeContract,
                      StopContract):
    """The storage contract's tests; subclass it and provide a `storage_factory` fixture (see
    the module docstring)."""

    @pytest.fixture
    def storage(self, storage_factory: Callable[[], Storage]) -> Iterator[Storage]:
        """A handle on the test's storage, closed after the test."""
        store = storage_factory()
        yield store
        store.close()

    def test_create_twice_is_refused(self, storage: Storage) -> None:
        make(storage)
        with pytest.raises(popbt.ConfigError, match="already exists"):
            make(storage)
        assert [p.name for p in storage.list_populations()] == ["p"]


    def test_create_twice_raises_population_exists(self, storage: Storage) -> None:
        make(storage)
        with pytest.raises(popbt.PopulationExists, match="already exists"):
            make(storage)


    def test_a_lower_target_is_refused_while_another_run_holds_members(
            self, storage: Storage) -> None:
        pop = make(storage, target=100)
        held = claim(storage, pop, "other-run")
        with pytest.raises(popbt.ConfigError, match="being trained to 100 steps by another run"):
            storage.set_target(pop, 50, now=NOW)
        assert storage.refresh(pop).target_steps == 100
        assert storage.set_target(pop, 200, now=NOW) == 100  # raising it is joining it
        storage.release(pop, held.member.member_id, worker=held.worker, token=held.token)
        assert storage.set_target(pop, 50, now=NOW) == 200  # nobody trains: the caller decides
        assert storage.refresh(pop).target_steps == 50


    def test_a_lease_that_expired_does_not_hold_the_target(self, storage: Storage) -> None:
        pop = make(storage, target=100)
        claim(storage, pop, "dead-run", lease=5.0)
        assert storage.set_target(pop, 50, now=NOW + 10) == 100


    def test_a_member_never_copies_a_donor_behind_it(self, storage: Storage) -> None:
        """A donor whose step is below the deciding member's is not copied: the member's step
        would go back and its record would repeat steps."""
        pop = make(storage, size=3, target=20)
        c0, c1, _held = (claim(storage, pop, f"w{i}") for i in range(3))
        report(storage, pop, c1, steps=10, score=0.0)  # member 1 at 10, decision due
        report(storage, pop, c0, score=9.0, ready=False)  # member 0 at 5, the best
        decide = ScriptedDecide(donors={1: 0}, new_lr=0.5)
        assert claim(storage, pop, "a", decide=decide).member.member_id == 0
        assert claim(storage, pop, "b", decide=decide).member.member_id == 1
        assert [mid for mid, _ in decide.calls] == [1]
        one = storage.members(pop)[1]
        assert one.step == 10 and one.hparams == {"lr": 0.2}
        assert storage.events(pop, member_id=1, kinds=[EventKind.EXPLOIT, EventKind.EXPLORE]) == []


    def test_claims_take_least_advanced_members_once(self, storage: Storage) -> None:
        pop = make(storage)
        first, second, third = (claim(storage, pop, f"w{i}") for i in range(3))
        assert [c.member.member_id for c in (first, second, third)] == [0, 1, 2]
        assert claim(storage, pop, "w3") is None
        assert report(storage, pop, second).accepted
        again = claim(storage, pop, "w1")  # 0 and 2 are held: 1 is the least advanced claimable
        assert again.member.member_id == 1 and again.member.step == 5
        assert report(storage, pop, first).accepted
        nxt = claim(storage, pop, "w0")
        assert nxt.member.member_id == 0 and nxt.member.step == 5


    def test_concurrent_claims_never_share_a_member(
            self, storage_factory: Callable[[], Storage]) -> None:
        stores = [storage_factory() for _ in range(4)]
        pop = make(stores[0], size=40)
        taken: list[int] = []
        lock = threading.Lock()

        def grab(store: Storage, name: str) -> None:
            while (c := claim(store, pop, name)) is not None:
                with lock:
                    taken.append(c.member.member_id)

        threads = [threading.Thread(target=grab, args=(s, f"w{i}"))
                   for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(taken) == list(range(40))
        for store in stores:
            store.close()

    def test_an_expired_lease_moves_the_member_and_voids_the_old_claim(
            self, storage: Storage) -> None:
        pop = make(storage, size=2)
        old = claim(storage, pop, "dead", lease=1.0)
        other = claim(storage, pop, "w1")
        assert claim(storage, pop, "w2", now=NOW + 0.5) is None
        new = claim(storage, pop, "w2", now=NOW + 2.0)
        assert new.member.member_id == old.member.member_id and new.token > old.token
        assert not report(storage, pop, old).accepted
        assert not storage.heartbeat(pop, old, lease_s=30, now=NOW + 2)
        assert not storage.release(pop, old.member.member_id, worker="dead", token=old.token)
        assert report(storage, pop, new).accepted and report(storage, pop, other).accepted
        readies = storage.events(pop, kinds=[EventKind.READY])
        assert [(e.member_id, e.step) for e in readies] == [(0, 5), (1, 5)]


    def test_heartbeat_keeps_the_claim(self, storage: Storage) -> None:
        pop = make(storage, size=2)
        held = claim(storage, pop, "w0", lease=1.0)
        assert storage.heartbeat(pop, held, lease_s=10.0, now=NOW + 0.9)
        other = claim(storage, pop, "w1", now=NOW + 5)
        assert other.member.member_id != held.member.member_id


    def test_report_records_score_checkpoint_and_release(self, storage: Storage) -> None:
        pop = make(storage, size=2, target=5)
        c = claim(storage, pop)
        out = report(storage, pop, c, score=0.25)
        m = out.member
        assert out.accepted and m.step == 5 and m.score == 0.25 and m.state is MemberState.DONE
        ckpt = storage.checkpoint(pop, m.checkpoint_id)
        assert ckpt.step == 5 and ckpt.member_id == 0
        assert storage.scores(pop)[0].score == 0.25
        assert [e.kind for e in storage.events(pop, member_id=0)] == [EventKind.CREATED,
                                                                      EventKind.READY]
        assert storage.unfinished(pop) == 1


    def test_decision_is_made_before_peers_train_on_and_copies_everything(
            self, storage: Storage) -> None:
        pop = make(storage, size=2)
        a, b = claim(storage, pop, "a"), claim(storage, pop, "b")
        report(storage, pop, a, score=0.1)
        report(storage, pop, b, score=0.9)
        decide = ScriptedDecide(donor=1, new_lr=0.77)
        nxt = claim(storage, pop, "a", decide=decide)
        # member 0's decision came first and saw both members at step 5
        assert decide.calls[0][0] == 0
        assert {p.member_id: (p.step, p.fitness) for p in decide.calls[0][1]} == {
            0: (5, 0.1), 1: (5, 0.9)}
        m0 = storage.members(pop)[0]
        m1 = storage.members(pop)[1]
        assert m0.checkpoint_id == m1.checkpoint_id  # the reference, not a copy
        assert m0.step == 5 and m0.hparams == {"lr": 0.77}
        assert m0.score == 0.1  # ranked by its own score until it reports again
        exploit, explore = storage.events(pop, member_id=0)[-2:]
        assert exploit.kind is EventKind.EXPLOIT and explore.kind is EventKind.EXPLORE
        assert exploit.data["donor"] == 1 and exploit.data["donor_step"] == 5
        assert exploit.data["old"] == {"lr": 0.1} and exploit.data["new"] == {"lr": 0.2}
        assert explore.data == {"old": {"lr": 0.2}, "new": {"lr": 0.77}, "ops": {"lr": "×1.2"}}
        assert nxt.member.member_id == 0 and nxt.member.checkpoint_id == m1.checkpoint_id
        # after an exploit the member's score history starts again
        assert next(p for p in storage.peers(pop, window=3) if p.member_id == 0).history == ()


    def test_a_member_that_copies_a_donor_at_the_target_is_done(self, storage: Storage) -> None:
        """Not claimed again to train zero steps: exploit copied the donor's step."""
        pop = make(storage, size=2, target=10)
        a, b = claim(storage, pop, "a"), claim(storage, pop, "b")
        report(storage, pop, a, score=0.1)
        report(storage, pop, b, steps=10, score=0.9)  # member 1 is done at the target
        assert claim(storage, pop, "a", decide=ScriptedDecide(donor=1)) is None
        m0, m1 = storage.members(pop)
        assert m0.state is MemberState.DONE and m0.step == 10
        assert storage.unfinished(pop) == 0
        # it reports no more, so its score is the one of the checkpoint it holds now
        assert m0.checkpoint_id == m1.checkpoint_id
        assert (m0.score, m0.metrics) == (m1.score, m1.metrics)


    def test_a_failing_decision_changes_nothing(self, storage: Storage) -> None:
        pop = make(storage, size=2)
        a, b = claim(storage, pop, "a"), claim(storage, pop, "b")
        report(storage, pop, a, score=0.1)
        report(storage, pop, b, score=0.9)
        before = storage.members(pop)
        events = storage.events(pop)
        with pytest.raises(RuntimeError, match="explore failed"):
            claim(storage, pop, "a", decide=ScriptedDecide(donor=1, new_lr=0.5, fail=True))
        assert storage.members(pop) == before
        assert storage.events(pop) == events


    def test_no_exploit_from_a_donor_without_checkpoint_or_finite_score(
            self, storage: Storage) -> None:
        pop = make(storage, size=3)
        a, b = claim(storage, pop, "a"), claim(storage, pop, "b")
        report(storage, pop, a, score=0.1)
        report(storage, pop, b, score=math.nan)
        claim(storage, pop, "x", decide=ScriptedDecide(donor=2, new_lr=0.5))  # 2 has no checkpoint
        claim(storage, pop, "y", decide=ScriptedDecide(donor=1, new_lr=0.5))  # 1 scored NaN
        assert not storage.events(pop, kinds=[EventKind.EXPLOIT])
        peers = {p.member_id: p.fitness for p in storage.peers(pop)}
        assert peers == {0: 0.1, 1: -math.inf}
        assert present(storage.best(pop)).member_id == 0


    def test_mode_min_orients_fitness(self, storage: Storage) -> None:
        pop = make(storage, size=2, mode="min")
        a, b = claim(storage, pop, "a"), claim(storage, pop, "b")
        report(storage, pop, a, score=3.0)
        report(storage, pop, b, score=2.0)
        assert present(storage.best(pop)).member_id == 1
        assert {p.member_id: p.fitness for p in storage.peers(pop)} == {0: -3.0, 1: -2.0}


    def test_history_window_holds_recent_scores(self, storage: Storage) -> None:
        pop = make(storage, size=2, target=100)
        first = claim(storage, pop, "a")
        second = claim(storage, pop, "b")
        report(storage, pop, second, score=0.0, steps=90, ready=False)  # parks member 1 ahead
        report(storage, pop, first, score=1.0, ready=False)
        for score in (2.0, 3.0, 4.0):
            c = claim(storage, pop, "a")
            assert c.member.member_id == 0
            report(storage, pop, c, score=score, ready=False)
        history = {p.member_id: p.history for p in storage.peers(pop, window=3)}
        assert history == {0: (2.0, 3.0, 4.0), 1: (0.0,)}


    def test_garbage_collection_keeps_recent_and_pointed_checkpoints(
            self, storage: Storage) -> None:
        pop = make(storage, size=2, target=100)
        a, b = claim(storage, pop, "a"), claim(storage, pop, "b")
        first = report(storage, pop, a, score=0.9, keep=1).member.checkpoint_id
        report(storage, pop, b, score=0.1, keep=1)
        # member 1 copies member 0 (a pointer to member 0's checkpoint at step 5)
        again = claim(storage, pop, "a", decide=ScriptedDecide(donors={1: 0}))
        assert storage.members(pop)[1].checkpoint_id == first
        assert report(storage, pop, again, ready=False, keep=1).obsolete_paths == ()
        assert storage.checkpoint(pop, first).step == 5  # pointed at: kept
        one = claim(storage, pop, "b")
        assert one.member.member_id == 1
        report(storage, pop, one, steps=95, ready=False, keep=1)  # member 1 moves on
        zero = claim(storage, pop, "a")
        # (a ready point better than every one before, so that neither is the elite any more)
        gone = report(storage, pop, zero, keep=1, score=2.0).obsolete_paths
        assert sorted(gone) == ["m0/s10-2.npz", "m0/s5-1.npz"]
        with pytest.raises(popbt.StorageError, match="not recorded"):
            storage.checkpoint(pop, first)


    def test_failures_then_reseed_from_the_best(self, storage: Storage) -> None:
        pop = make(storage, size=3)
        for name, score in (("a", 0.5), ("b", 0.8)):
            report(storage, pop, claim(storage, pop, name), score=score)
        for attempt in range(1, 4):
            c = claim(storage, pop, "w")
            assert c.member.member_id == 2 and c.member.failures == attempt - 1
            after = present(storage.fail(pop, c, error="boom", max_failures=3,
                                         decide=ScriptedDecide(reseed_lr=0.33), now=NOW))
        assert after.failures == 3 and after.state is MemberState.IDLE  # a re-seed keeps count
        assert after.step == 5 and after.hparams == {"lr": 0.33}
        assert after.checkpoint_id == storage.members(pop)[1].checkpoint_id  # the best's weights
        assert after.score is None  # no score of its own until it reports
        kinds = [e.kind for e in storage.events(pop, member_id=2)]
        assert kinds.count(EventKind.FAILURE) == 3
        assert kinds[-3:] == [EventKind.RESEED, EventKind.EXPLOIT, EventKind.EXPLORE]


    def test_a_member_failing_after_its_reseeds_is_given_up(self, storage: Storage) -> None:
        """Re-seeds do not reset the failure count: a member that keeps failing is re-seeded
        RESEEDS times, then marked FAILED, so no failure loop can run for ever."""
        pop = make(storage, size=3, target=20)
        c0, c1, c2 = (claim(storage, pop, f"w{i}") for i in range(3))
        for c, score in ((c0, 0.5), (c1, 0.8)):
            report(storage, pop, c, steps=10, score=score, ready=False)
        states = []
        c = c2
        for _ in range((RESEEDS + 1) * 2):
            while c.member.member_id != 2:  # members 0 and 1 come first at equal steps: hold them
                c = claim(storage, pop, "holder")
            after = present(storage.fail(pop, c, error="boom", max_failures=2, decide=NEVER,
                                         now=NOW))
            states.append((after.failures, after.state))
            c = claim(storage, pop, "w")
        assert states[-1] == ((RESEEDS + 1) * 2, MemberState.FAILED)
        assert all(state is MemberState.IDLE for _, state in states[:-1])
        assert len(storage.events(pop, member_id=2, kinds=[EventKind.RESEED])) == RESEEDS
        assert c is None  # members 0 and 1 are held, 2 is given up


    def test_a_reseed_takes_the_best_member_not_behind_it(self, storage: Storage) -> None:
        pop = make(storage, size=3, target=20)
        c0, c1, c2 = (claim(storage, pop, f"w{i}") for i in range(3))
        report(storage, pop, c0, steps=5, score=9.0, ready=False)  # the best, but behind
        report(storage, pop, c1, steps=10, score=1.0, ready=False)
        report(storage, pop, c2, steps=10, score=0.0, ready=False)
        held = [claim(storage, pop, "h") for _ in range(2)]
        assert [c.member.member_id for c in held] == [0, 1]
        failing = claim(storage, pop, "w")
        assert failing.member.member_id == 2
        after = present(storage.fail(pop, failing, error="boom", max_failures=1, decide=NEVER,
                                     now=NOW))
        assert after.step == 10 and after.checkpoint_id == storage.members(pop)[1].checkpoint_id
        assert [e.data["donor"] for e in storage.events(pop, member_id=2,
                                                        kinds=[EventKind.RESEED])] == [1]


    def test_failures_without_any_donor_mark_failed_and_set_target_revives(
            self, storage: Storage) -> None:
        pop = make(storage, size=2)
        for _ in range(2):
            c = claim(storage, pop)
            storage.fail(pop, c, error="boom", max_failures=1, decide=NEVER, now=NOW)
        assert {m.state for m in storage.members(pop)} == {MemberState.FAILED}
        assert storage.unfinished(pop) == 0 and claim(storage, pop) is None
        storage.set_target(pop, 20)
        assert {m.state for m in storage.members(pop)} == {MemberState.IDLE}


    def test_a_fatal_error_stops_every_claim(self, storage: Storage) -> None:
        pop = make(storage)
        storage.set_error(pop, "metric 'x' missing")
        with pytest.raises(popbt.TrainingError, match="metric 'x' missing"):
            claim(storage, pop)
        storage.set_target(pop, 10)  # training again clears it
        assert claim(storage, pop) is not None


    def test_event_ids_increase_in_commit_order(self, storage: Storage) -> None:
        pop = make(storage, size=2)
        for name in ("a", "b"):
            report(storage, pop, claim(storage, pop, name))
        ids = [e.event_id for e in storage.events(pop)]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        times = [e.time for e in storage.events(pop)]
        assert all(t == NOW for t in times)


    def test_populations_are_isolated(self, storage: Storage) -> None:
        a, b = make(storage, name="a"), make(storage, name="b", size=2)
        report(storage, a, claim(storage, a))
        assert storage.events(b, kinds=[EventKind.READY]) == []
        assert [m.step for m in storage.members(b)] == [0, 0]


    def test_genomes_are_stored_as_bytes_in_the_members_rows(self, storage: Storage) -> None:
        pop = make(storage, size=3)
        members = [{"member_id": m.member_id, "step": 1, "fitness": 1.0, "metrics": {"s": 1.0},
                    "hparams": m.hparams, "last_ready_step": 1, "ready_count": 1,
                    "state": MemberState.RUNNING.value} for m in storage.members(pop)]
        blobs = [bytes(range(256)) * 4, b"\x00", b""]
        for record, blob in zip(members[:2], blobs, strict=False):
            record["genome"] = blob
        storage.write_round(pop, scores=[], events=[], members=members, snapshot=None, keep=3,
                            now=NOW)
        assert storage.genomes(pop) == {0: blobs[0], 1: blobs[1]}  # member 2 has none
        members[1]["genome"] = blobs[2]
        storage.write_round(pop, scores=[], events=[], members=members[1:2], snapshot=None,
                            keep=3, now=NOW)
        assert storage.genomes(pop) == {0: blobs[0], 1: b""}
        assert storage.genomes(make(storage, name="other", size=2)) == {}
