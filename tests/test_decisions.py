"""Decisions as values: the Decider on plain data, the one events function, the history an
explore can ask for (worker loop and vectorized trainer), and the storage applying values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import popbt
from popbt.decider import Decider
from popbt.decisions import (
    Continue,
    CopyDonor,
    DonorView,
    ExploreInPlace,
    Reseed,
    decision_events,
    history_from_events,
)
from popbt.fitness import MetricFitness
from popbt.records import EventKind, Peers
from popbt.settings import Settings
from trainables import SPACE, Quadratic

HP = {"lr": 0.1, "noise": 0.05}


def settings(**overrides: Any) -> Settings:
    kwargs: dict[str, Any] = {"space": SPACE, "size": 4, "metric": "score",
                              "ready": popbt.Every(steps=5), "exploit": popbt.Truncation(0.25),
                              "explore": popbt.Perturb()}
    kwargs.update(overrides)
    return Settings(**kwargs)


def view(mid: int, step: int, fitness: float, checkpoint: int | None = 7) -> DonorView:
    return DonorView(member_id=mid, step=step, score=fitness, fitness=fitness,
                     hparams={"lr": 0.01 * (mid + 1), "noise": 0.0}, checkpoint_id=checkpoint)


def context(decider: Decider, member: int, steps: list[int], fitness: list[float],
            **views: DonorView | None) -> Any:
    peers = Peers(np.arange(len(steps)), np.array(steps), np.array(fitness))
    table = {m: view(m, steps[m], fitness[m]) for m in range(len(steps))}
    table.update({int(k[1:]): v for k, v in views.items()})
    return decider.context(member=peers[member], hparams=HP, ready_count=3, peers=peers,
                           donor=table.get)


def test_the_worst_member_copies_a_donor_as_a_value():
    decider = Decider(settings())
    decision = decider.decide(context(decider, 0, [10] * 4, [0.0, 1.0, 2.0, 3.0]))
    assert isinstance(decision, CopyDonor)
    assert decision.donor.member_id == 3 and decision.old == HP
    assert decision.ops is not None and set(decision.hparams) == set(HP)
    again = decider.decide(context(decider, 0, [10] * 4, [0.0, 1.0, 2.0, 3.0]))
    assert again == decision  # pure: the same context gives the same value


def test_a_donor_behind_the_member_is_never_copied():
    decider = Decider(settings(exploit=popbt.Truncation(0.5)))
    # members 2 and 3 are best but still at step 5: left out, so member 0 is compared with 1
    ctx = context(decider, 0, [10, 10, 5, 5], [0.0, 1.0, 9.0, 9.0])
    decision = decider.decide(ctx)
    assert isinstance(decision, CopyDonor) and decision.donor.member_id == 1


def test_explore_in_place_and_continue():
    decider = Decider(settings(exploit=popbt.NoExploit(explore=True)))
    decision = decider.decide(context(decider, 1, [10] * 4, [0.0, 1.0, 2.0, 3.0]))
    assert isinstance(decision, ExploreInPlace) and decision.old == HP
    quiet = Decider(settings(exploit=popbt.NoExploit(explore=True), explore=None))
    assert quiet.decide(context(quiet, 1, [10] * 4, [0.0] * 4)) == Continue()
    top = Decider(settings())
    assert top.decide(context(top, 3, [10] * 4, [0.0, 1.0, 2.0, 3.0])) == Continue()


def test_a_donor_without_a_checkpoint_gives_continue():
    decider = Decider(settings())
    ctx = context(decider, 0, [10] * 4, [0.0, 1.0, 2.0, 3.0], m3=None)
    assert decider.decide(ctx) == Continue()


def test_reseed_prefers_the_best_member_not_behind():
    decider = Decider(settings(explore=None))
    ctx = context(decider, 0, [10, 10, 5, 10], [np.nan, 1.0, 9.0, 2.0])
    decision = decider.reseed(ctx, "boom")
    assert isinstance(decision, Reseed) and decision.donor is not None
    assert decision.donor.member_id == 3 and decision.hparams == decision.donor.hparams
    alone = decider.reseed(context(decider, 0, [10, 5], [np.nan, 9.0], m1=None), "boom")
    assert alone.donor is None


def test_decision_events_are_the_one_record_of_a_decision():
    donor = view(2, 20, 1.5)
    copy = CopyDonor(donor=donor, old=HP, hparams={"lr": 0.5, "noise": 0.0},
                     ops={"lr": "×1.2"})
    assert [(k, s) for k, s, _ in decision_events(copy, step=15)] == [
        (EventKind.EXPLOIT, 20), (EventKind.EXPLORE, 20)]
    exploit = decision_events(copy, step=15)[0][2]
    assert exploit == {"donor": 2, "donor_step": 20, "checkpoint_id": 7, "score": 1.5,
                       "old": HP, "new": donor.hparams}
    reseed = Reseed(error="x", donor=donor, old=HP, hparams=donor.hparams, ops=None)
    assert [k for k, _, _ in decision_events(reseed, step=15)] == [EventKind.RESEED,
                                                                   EventKind.EXPLOIT]
    assert decision_events(Continue(), step=15) == []


def test_history_from_events():
    events = [
        (0, EventKind.CREATED, 0, {"hparams": {"lr": 0.1}}),
        (0, EventKind.READY, 5, {"score": 1.0, "metrics": {"score": 1.0, "x": 2.0}}),
        (0, EventKind.EXPLOIT, 5, {"new": {"lr": 0.3}}),
        (0, EventKind.EXPLORE, 5, {"old": {"lr": 0.3}, "new": {"lr": 0.36}}),
        (0, EventKind.READY, 10, {"score": 2.0}),  # written before metrics were recorded
    ]
    history = history_from_events(events, metric="score")[0]
    assert [(o.step, o.hparams["lr"], o.score) for o in history.observations] == [
        (5, 0.1, 1.0), (10, 0.36, 2.0)]
    assert history.observations[0].metrics == {"score": 1.0, "x": 2.0}
    assert history.observations[1].metrics == {"score": 2.0}
    assert [o.step for o in history.own] == [10]
    assert history.hparams == {"lr": 0.36}


def test_history_stretches_start_at_the_copied_point_and_fitness_is_oriented():
    events = [
        (0, EventKind.CREATED, 0, {"hparams": {"lr": 0.1}}),
        (0, EventKind.READY, 5, {"score": 3.0}),
        (0, EventKind.READY, 10, {"score": 2.5}),
        (0, EventKind.EXPLOIT, 10, {"donor": 1, "donor_step": 10, "score": 1.0,
                                    "new": {"lr": 0.3}}),
        (0, EventKind.EXPLORE, 10, {"old": {"lr": 0.3}, "new": {"lr": 0.36}}),
        (0, EventKind.READY, 15, {"score": 0.5}),
    ]
    history = history_from_events(events, metric="loss", mode="min")[0]
    first, second = history.stretches
    assert [(o.step, o.score, o.fitness) for o in first] == [(5, 3.0, -3.0), (10, 2.5, -2.5)]
    # the stretch after the exploit starts from the donor's point: the change over the
    # interval trained with the explored lr (0.36) is measured from it
    assert [(o.step, o.fitness, dict(o.hparams)) for o in second] == [
        (10, -1.0, {}), (15, -0.5, {"lr": 0.36})]
    assert history.runs == history.stretches and history.own == second[1:]


SEEN: list[dict[int, Any]] = []


def explore_with_history(hparams: dict, space: popbt.Space, rng: np.random.Generator,
                         history: Any) -> dict:
    """A module-level explore function that asks for the population's history."""
    SEEN.append(dict(history))
    return {"lr": min(1.0, hparams["lr"] * 1.1)}


class HistoryPerturb(popbt.Perturb):
    """A strategy subclass that declares `uses_history`."""

    uses_history = True

    def explore(self, hparams: Any, space: Any, rng: Any, history: Any = None) -> Any:
        SEEN.append(dict(history))
        return super().explore(hparams, space, rng)


@pytest.mark.parametrize("explore", [explore_with_history, HistoryPerturb()],
                         ids=["function", "subclass"])
def test_an_explore_that_asks_for_history_gets_it(make_pop, explore):
    SEEN.clear()
    pop = make_pop(size=4, explore=explore, exploit=popbt.Truncation(0.25))
    pop.train(Quadratic, steps=20)
    assert SEEN, "no explore ran"
    first = SEEN[0]
    assert set(first) == {0, 1, 2, 3}
    for mid, hist in first.items():
        assert [o.step for o in hist.observations] == [5]  # every member at the first point
        assert hist.observations[0].hparams == pop.schedule(mid)[0][1] or mid in {
            e.member_id for e in pop.events(kinds=[EventKind.EXPLOIT])}
        assert set(hist.observations[0].metrics) == {"score", "x", "steps"}
    scores = {(s.member_id, s.step): s.score for s in pop.scores()}
    for hist in SEEN[-1].values():
        for o in hist.observations:
            assert scores[(hist.member_id, o.step)] == o.score


def test_plain_explore_functions_do_not_read_history(make_pop):
    calls: list[Any] = []

    def plain(hparams: dict, space: popbt.Space, rng: np.random.Generator) -> dict:
        calls.append(hparams)
        return hparams

    pop = make_pop(size=4, explore=plain)
    pop.train(Quadratic, steps=20)
    assert calls


def test_the_vectorized_trainer_gives_history_too(db_url):
    from torch import nn

    from popbt.demos.digits import SPACE as DIGITS
    from popbt.demos.digits import load_data
    from popbt.vectorized import VectorizedPopulation

    SEEN.clear()
    vp = VectorizedPopulation(
        model_fn=lambda: nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)),
        size=4, space=DIGITS, optimizer="sgd", metric="accuracy", ready=popbt.Every(steps=10),
        exploit=popbt.Truncation(0.25), explore=HistoryPerturb(), name="vec", storage=db_url)
    data = load_data()
    vp.train({"train": data["train"], "val": data["val"]}, steps=30)
    assert SEEN
    last = SEEN[-1]
    assert set(last) == {0, 1, 2, 3}
    # decisions at the step target wait for more steps: the last round decided was at 20,
    # and its own observations (written after the decisions) are in the history
    assert {hist.observations[-1].step for hist in last.values()} == {20}


class Reversed(MetricFitness):
    """Ranks peers by the negation of their stored fitness (a stand-in for a ranking that
    is not the stored scalar: Pareto fronts, ratings)."""

    def rank(self, context: Any) -> Peers:
        peers = Peers.of(context.peers)
        return Peers(peers.member_ids, peers.steps, -peers.fitness, peers.history)


class ReversedSettings(Settings):
    @property
    def fitness(self) -> MetricFitness:
        return Reversed(metric=self.metric, mode=self.mode)


def test_what_exploit_ranks_comes_from_the_fitness_seam():
    fitness = [0.0, 1.0, 2.0, 3.0]
    usual = Decider(settings())
    assert isinstance(usual.settings.fitness, MetricFitness)
    assert usual.decide(context(usual, 3, [10] * 4, fitness)) == Continue()  # the best
    flipped = Decider(ReversedSettings(space=SPACE, size=4, metric="score",
                                       ready=popbt.Every(steps=5),
                                       exploit=popbt.Truncation(0.25), explore=None))
    decision = flipped.decide(context(flipped, 3, [10] * 4, fitness))
    assert isinstance(decision, CopyDonor) and decision.donor.member_id == 0


def test_metric_fitness_orients_and_guards():
    assert MetricFitness(metric="loss", mode="min").of({"loss": 2.0}) == -2.0
    assert MetricFitness(metric="acc").of({"acc": float("nan")}) == -np.inf
