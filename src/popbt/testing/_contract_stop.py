"""The storage contract's tests of stopping a population and of reading what is new: a stop
ends claims without being an error, and readers fetch the scores and events committed since
the last ones they saw (see `popbt.testing`)."""

from __future__ import annotations

import pytest

import popbt
from popbt.records import EventKind
from popbt.storage.contract import Storage
from popbt.testing._helpers import NOW, claim, make, present, report


class StopContract:
    """The tests of `Storage.set_stopped`, `set_trainable`, `scores_after` and
    `events_after`; part of
    `StorageContract`, which provides the `storage` fixture."""

    def test_a_stop_ends_claims_and_the_held_member_still_reports(
            self, storage: Storage) -> None:
        pop = make(storage, size=3)
        held = present(claim(storage, pop, "w0"))
        storage.set_stopped(pop, "plateau: best 1 not improved in 2 ready rounds")
        row = storage.refresh(pop)
        assert row.stopped == "plateau: best 1 not improved in 2 ready rounds"
        assert row.error is None
        assert claim(storage, pop, "w1") is None
        assert storage.unfinished(pop) == 3  # nothing is finished or failed by a stop
        assert report(storage, pop, held).accepted  # what was trained is kept
        assert storage.member(pop, held.member.member_id).step == 5
        assert claim(storage, pop, "w1") is None
        assert [p.stopped for p in storage.list_populations()] == [row.stopped]

    def test_set_target_clears_a_stop(self, storage: Storage) -> None:
        pop = make(storage, size=2)
        storage.set_stopped(pop, "time budget: 10 s")
        assert storage.set_target(pop, 10) == 10
        assert storage.refresh(pop).stopped is None
        assert present(claim(storage, pop)).member.member_id == 0

    def test_a_fatal_error_wins_over_a_stop(self, storage: Storage) -> None:
        pop = make(storage)
        storage.set_stopped(pop, "target reached")
        storage.set_error(pop, "metric 'x' missing")
        with pytest.raises(popbt.TrainingError, match="metric 'x' missing"):
            claim(storage, pop)

    def test_a_stop_is_of_one_population(self, storage: Storage) -> None:
        a, b = make(storage, name="a"), make(storage, name="b")
        storage.set_stopped(a, "stopped")
        assert claim(storage, a) is None
        assert storage.refresh(b).stopped is None
        assert present(claim(storage, b)).member.member_id == 0

    def test_the_trainable_reference_is_kept_per_population(self, storage: Storage) -> None:
        a, b = make(storage, name="a"), make(storage, name="b")
        assert storage.refresh(a).trainable is None
        storage.set_trainable(a, "package.module:Model")
        storage.set_trainable(a, "/home/me/train.py:Better")  # the latest one wins
        assert storage.refresh(a).trainable == "/home/me/train.py:Better"
        assert storage.refresh(b).trainable is None
        assert present(storage.get_population("a")).trainable == "/home/me/train.py:Better"

    def test_scores_and_events_after_an_id_are_the_new_ones(self, storage: Storage) -> None:
        pop = make(storage, size=2)
        other = make(storage, name="other", size=2)
        report(storage, other, claim(storage, other))
        assert storage.scores_after(pop, 0) == []
        created = storage.events(pop)
        assert storage.events_after(pop, 0) == created
        for name, score in (("a", 1.0), ("b", 2.0)):
            report(storage, pop, claim(storage, pop, name), score=score)
        scores = storage.scores(pop)
        assert storage.scores_after(pop, 0) == scores
        assert [s.score for s in scores] == [1.0, 2.0]
        ids = [s.score_id for s in scores]
        assert ids == sorted(ids) and len(set(ids)) == 2 and ids[0] > 0
        assert storage.scores_after(pop, ids[0]) == scores[1:]
        assert storage.scores_after(pop, ids[1]) == []
        last_created = created[-1].event_id
        ready = storage.events_after(pop, last_created)
        assert [(e.member_id, e.kind) for e in ready] == [(0, EventKind.READY),
                                                           (1, EventKind.READY)]
        assert storage.events_after(pop, ready[-1].event_id) == []
        assert {s.time for s in scores} == {NOW}
