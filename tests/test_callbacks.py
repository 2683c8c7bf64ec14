"""Callbacks: the driver hands them every score and event the workers commit (in process and
with worker processes), in commit order; one that raises stops the run without losing
anything. And the trainable's `member_id`, `member_step` and `log`."""

from __future__ import annotations

from typing import Any

import pytest

import popbt
from popbt.records import Event, EventKind, MemberState, Score
from run_trainables import SPACE, Saturating, SlowSaturating

TARGET = 30


class Recorder(popbt.Callback):
    """Records every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def on_start(self, pop: popbt.Population) -> None:
        self.calls.append(("start", [m.step for m in pop.members]))

    def on_report(self, pop: popbt.Population, score: Score) -> None:
        self.calls.append(("report", score))

    def on_event(self, pop: popbt.Population, event: Event) -> None:
        self.calls.append(("event", event))

    def on_end(self, pop: popbt.Population, end: popbt.RunEnd) -> None:
        self.calls.append(("end", end))

    def of(self, kind: str) -> list[Any]:
        return [arg for name, arg in self.calls if name == kind]


class Raises(popbt.Callback):
    """Raises in `method` at its `after`-th call."""

    def __init__(self, method: str, after: int = 1) -> None:
        self.method, self.after, self.count = method, after, 0

    def __getattribute__(self, name: str) -> Any:
        if name == object.__getattribute__(self, "method"):
            return self._maybe_raise
        return object.__getattribute__(self, name)

    def _maybe_raise(self, pop: popbt.Population, *args: Any) -> None:
        self.count += 1
        if self.count >= self.after:
            raise ValueError(f"boom at call {self.count}")


@pytest.fixture
def pop(make_pop) -> popbt.Population:
    return make_pop(space=SPACE, size=4, ready=popbt.Every(steps=5))


def check_delivered(pop: popbt.Population, recorder: Recorder, *, since_event: int,
                    since_score: int = 0) -> None:
    """The recorder got every score and event committed after the given ids, once each,
    in commit order, a report's score before its READY event."""
    reports, events = recorder.of("report"), recorder.of("event")
    assert reports == [s for s in pop.scores() if s.score_id > since_score]
    assert events == [e for e in pop.events() if e.event_id > since_event]
    order = [(arg.member_id, arg.step, name) for name, arg in recorder.calls
             if name == "report" or (name == "event" and arg.kind is EventKind.READY)]
    for i, (member, step, name) in enumerate(order):
        if name == "event":
            assert (member, step, "report") in order[:i]


@pytest.mark.parametrize("workers", [1, 2])
def test_callbacks_get_every_record_of_the_run(pop, workers):
    recorder = Recorder()
    created = pop.events()[-1].event_id
    trainable = Saturating if workers == 1 else SlowSaturating
    pop.train(trainable, steps=TARGET, workers=workers, progress=False, callbacks=[recorder])
    assert recorder.calls[0] == ("start", [0, 0, 0, 0])
    assert recorder.calls[-1] == ("end", popbt.RunEnd("finished"))
    check_delivered(pop, recorder, since_event=created)
    assert any(e.kind is EventKind.EXPLOIT for e in recorder.of("event"))


def test_a_second_run_delivers_only_its_own_records(pop):
    pop.train(Saturating, steps=10, progress=False)
    scores, events = pop.scores(), pop.events()
    recorder = Recorder()
    pop.train(Saturating, steps=TARGET, progress=False, callbacks=[recorder])
    assert recorder.calls[0] == ("start", [10, 10, 10, 10])
    check_delivered(pop, recorder, since_score=scores[-1].score_id,
                    since_event=events[-1].event_id)


def test_callbacks_see_the_stop_reason_at_the_end(pop):
    recorder = Recorder()
    created = pop.events()[-1].event_id
    pop.train(Saturating, steps=TARGET, progress=False, callbacks=[recorder],
              stop=popbt.TargetScore(0.5))
    assert recorder.calls[-1] == ("end", popbt.RunEnd("stopped", pop.row.stopped))
    check_delivered(pop, recorder, since_event=created)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_callback_that_raises_stops_the_run_and_loses_nothing(pop, workers):
    recorder = Recorder()
    trainable = Saturating if workers == 1 else SlowSaturating
    with pytest.raises(popbt.CallbackError, match=r"Raises.on_report raised ValueError: "
                                                  r"boom at call 3") as caught:
        pop.train(trainable, steps=TARGET, workers=workers, progress=False,
                  callbacks=[Raises("on_report", after=3), recorder])
    assert isinstance(caught.value.__cause__, ValueError)
    stopped = pop.status()["stopped"]
    assert stopped == "error in callback Raises.on_report: ValueError: boom at call 3"
    assert recorder.calls[-1] == ("end", popbt.RunEnd("stopped", stopped))
    assert len(recorder.of("report")) <= 3  # nothing is delivered after the error
    assert pop.storage.holders(pop.row) == []
    for m in pop.members:  # every member's record ends at its last report
        assert m.state is MemberState.IDLE and m.step < TARGET
        assert m.step == 0 or pop.scores(member_id=m.member_id)[-1].step == m.step \
            or pop.events(member_id=m.member_id)[-1].kind is EventKind.EXPLORE
    pop.train(Saturating, steps=TARGET, progress=False)
    assert pop.status()["stopped"] is None
    assert {m.step for m in pop.members} == {TARGET}


def test_an_on_start_that_raises_trains_nothing(pop):
    recorder = Recorder()
    with pytest.raises(popbt.CallbackError, match="Raises.on_start raised"):
        pop.train(Saturating, steps=TARGET, progress=False,
                  callbacks=[recorder, Raises("on_start")])
    assert [m.step for m in pop.members] == [0, 0, 0, 0]
    assert [name for name, _ in recorder.calls] == ["start", "end"]
    assert recorder.calls[-1][1].status == "stopped"


def test_an_on_end_that_raises_is_raised_after_every_on_end(pop):
    recorder = Recorder()
    with pytest.raises(popbt.CallbackError, match="Raises.on_end raised"):
        pop.train(Saturating, steps=10, progress=False,
                  callbacks=[Raises("on_end"), recorder])
    assert recorder.calls[-1] == ("end", popbt.RunEnd("finished"))
    assert {m.step for m in pop.members} == {10}


def test_a_fatal_error_reaches_on_end(pop):
    class NoMetric(Saturating):
        def evaluate(self) -> dict[str, float]:
            return {"other": 1.0}

    recorder = Recorder()
    with pytest.raises(popbt.FatalRunError):
        pop.train(NoMetric, steps=10, progress=False, callbacks=[recorder])
    end = recorder.calls[-1][1]
    assert end.status == "failed" and "metric 'score' is not among" in end.reason


def test_bad_callbacks_are_refused_before_anything_changes(pop):
    for bad in (Recorder(), [print], "logger"):
        with pytest.raises(popbt.ConfigError, match="callbacks="):
            pop.train(Saturating, steps=10, progress=False, callbacks=bad)
    assert pop.row.target_steps == 0


def test_the_trainable_knows_its_member_and_step_and_logs_metrics(pop):
    pop.train(Saturating, steps=TARGET, progress=False)
    for s in pop.scores():
        assert s.metrics["member"] == s.member_id
        assert s.metrics["evaluated_at"] == s.step
        assert s.metrics["trained_from"] == s.step - 5
        assert s.metrics["loss"] == pytest.approx(1.0 / (1 + s.metrics["steps"]))
    member = pop.members[2]
    assert member.metrics["member"] == 2 and member.metrics["evaluated_at"] == member.step
    assert pop.load(2, trainable=Saturating).setup_as == (2, TARGET)


def test_log_refuses_what_is_not_a_number():
    model = Saturating()
    with pytest.raises(popbt.ConfigError, match=r"log\(loss='high'\): expected a number"):
        model.log(loss="high")
    assert model.member_id is None and model.member_step == 0


def test_evaluate_wins_over_a_logged_name(make_pop):
    class Both(Saturating):
        def evaluate(self) -> dict[str, float]:
            self.log(score=-1.0, extra=2.0)
            return super().evaluate()

    pop = make_pop(space=SPACE, size=2)
    pop.train(Both, steps=5, progress=False)
    assert [(s.score, s.metrics["extra"]) for s in pop.scores()] == [(0.25, 2.0), (0.25, 2.0)]
