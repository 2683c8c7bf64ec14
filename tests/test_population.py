"""The population facade in one process: training, reading back, resuming, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import popbt
from popbt.records import EventKind, MemberState
from trainables import (
    SPACE,
    AlwaysFails,
    CountsSetups,
    Flaky,
    NanForSmallLr,
    Quadratic,
    Unstorable,
    WrongMetric,
)


def test_train_reaches_every_step_and_exploits(make_pop):
    pop = make_pop()
    best = pop.train(Quadratic, steps=40)
    members = pop.members
    assert [m.step for m in members] == [40] * 6
    assert all(m.state is MemberState.DONE for m in members)
    scores = [m.score for m in members]
    assert best is not None and best.score == max(scores)
    assert best.member_id == members[scores.index(max(scores))].member_id
    ready = pop.events(kinds=[EventKind.READY])
    # 6 members, ready every 5 steps: at least 8 ready points each (exploits copy steps)
    assert len(ready) >= 6 * 8
    assert pop.events(kinds=[EventKind.EXPLOIT]), "truncation never exploited"
    for e in pop.events(kinds=[EventKind.EXPLOIT]):
        explore = [x for x in pop.events(member_id=e.member_id, kinds=[EventKind.EXPLORE])
                   if x.event_id == e.event_id + 1]
        assert explore, "every exploit is followed by an explore"
        assert explore[0].data["old"] == e.data["new"]
        assert set(explore[0].data["ops"].values()) <= {"×0.8", "×1.2", "resample"}


def test_truncation_exploits_only_the_bottom_fraction_of_each_round(make_pop):
    """An exploit does not lift the member into the ranking of the rest of its round, so
    exactly ceil(fraction × size) members exploit per round, and never a chain of them."""
    pop = make_pop(size=8, exploit=popbt.Truncation(0.25), ready=popbt.Every(steps=5))
    pop.train(Quadratic, steps=40)
    per_round: dict[int, int] = {}
    for e in pop.events(kinds=[popbt.EventKind.EXPLOIT]):
        per_round[e.step] = per_round.get(e.step, 0) + 1
    assert per_round == {step: 2 for step in range(5, 40, 5)}


def test_training_improves_the_score(make_pop):
    pop = make_pop()
    pop.train(Quadratic, steps=5)
    early = max(m.score for m in pop.members)
    pop.train(Quadratic, steps=60)
    assert pop.best.score > early


def test_in_process_training_is_deterministic(tmp_path: Path):
    def run(folder: str) -> tuple[list, list]:
        pop = popbt.create_population(
            name="d", storage=f"sqlite:///{tmp_path / folder}.db", space=SPACE, size=5,
            metric="score", seed=7, ready=popbt.Every(steps=3), exploit=popbt.Truncation(0.4),
            explore=popbt.Perturb())
        pop.train(Quadratic, steps=30)
        events = [(e.member_id, e.step, e.kind, e.data) for e in pop.events()]
        return events, [(s.member_id, s.step, s.score) for s in pop.scores()]

    assert run("a") == run("b")


def test_restored_member_continues_like_the_original(make_pop):
    """Exploit restores everything (weights, RNG state, counter): a member loaded from its
    checkpoint and trained on gives the same numbers as continuing the live object."""
    pop = make_pop(exploit=popbt.NoExploit(), explore=None)
    pop.train(Quadratic, steps=10)
    member = pop.member(2)
    restored = pop.load(2)
    assert restored.evaluate()["score"] == member.score
    assert restored.steps == 10
    again = pop.load(2)
    restored.train(member.hparams, 7)
    again.train(member.hparams, 7)
    assert restored.evaluate() == again.evaluate()


def test_schedule_and_lineage_follow_exploits(make_pop):
    pop = make_pop(size=8)
    pop.train(Quadratic, steps=50)
    for m in pop.members:
        segments = pop.lineage(m.member_id)
        assert segments[0].start_step == 0
        assert segments[0].events[0].kind is EventKind.CREATED
        assert segments[-1].member_id == m.member_id
        assert segments[-1].end_step == m.step
        for earlier, later in zip(segments, segments[1:], strict=False):
            exploit = later.events[0]
            assert exploit.kind is EventKind.EXPLOIT
            assert exploit.data["donor"] == earlier.member_id
            assert earlier.end_step == exploit.data["donor_step"] == later.start_step
        schedule = pop.schedule(m.member_id)
        assert schedule[0][0] == 0
        assert schedule[-1][1] == m.hparams
        steps = [s for s, _ in schedule]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)
    exploited = {e.member_id for e in pop.events(kinds=[EventKind.EXPLOIT])}
    assert any(len(pop.lineage(mid)) > 1 for mid in exploited)


def test_initial_hyperparameters(make_pop):
    pop = make_pop(initial=[{"lr": 0.5, "noise": 0.0}, {"lr": 0.01}])
    members = pop.members
    assert members[0].hparams == {"lr": 0.5, "noise": 0.0}
    assert members[1].hparams["lr"] == 0.01 and 0.0 <= members[1].hparams["noise"] <= 0.1
    created = pop.events(kinds=[EventKind.CREATED])
    assert [e.data["hparams"] for e in created] == [m.hparams for m in members]


def test_initial_rejects_bad_values(make_pop):
    with pytest.raises(popbt.ConfigError, match="5.0"):
        make_pop(initial=[{"lr": 5.0}])
    with pytest.raises(popbt.ConfigError, match="momentum"):
        make_pop(initial=[{"momentum": 0.9}])
    with pytest.raises(popbt.ConfigError, match="7 entries"):
        make_pop(initial=[{}] * 7)


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"size": 1}, "size=1"),
    ({"mode": "maximum"}, "'maximum'"),
    ({"metric": ""}, "metric=''"),
    ({"exploit": popbt.Perturb()}, "exploit="),
    ({"ready": 5}, "ready=5"),
    ({"name": ""}, "name=''"),
    ({"keep_checkpoints": 0}, "keep_checkpoints=0"),
])
def test_bad_settings_name_the_value(make_pop, overrides, fragment):
    with pytest.raises(popbt.ConfigError) as info:
        make_pop(**overrides)
    assert fragment in str(info.value)


def test_truncation_fraction_must_be_in_range():
    for bad in (0.0, 0.6, -1):
        with pytest.raises(popbt.ConfigError, match=repr(bad)):
            popbt.Truncation(fraction=bad)


def test_storage_that_cannot_be_opened(tmp_path: Path):
    for url, fragment in ((f"sqlite:///{tmp_path}/missing/dir/x.db", "cannot open"),
                          ("nosuchdb://host/x", "cannot open"),
                          ("not a url", "cannot parse"),
                          ("sqlite://", "in-memory")):
        with pytest.raises(popbt.StorageError, match=fragment):
            popbt.create_population(name="x", storage=url, space=SPACE, size=2, metric="s",
                                    ready=popbt.Every(steps=1))


def test_password_never_appears_in_errors():
    with pytest.raises(popbt.StorageError) as info:
        popbt.load_population(name="x", storage="nosuchdb://user:hunter2@host/db")
    assert "hunter2" not in str(info.value)


def test_existing_population_needs_load_if_exists(make_pop):
    make_pop()
    with pytest.raises(popbt.ConfigError, match="already exists"):
        make_pop()
    resumed = make_pop(load_if_exists=True)
    assert resumed.settings.size == 6
    with pytest.raises(popbt.ConfigError, match="size: stored 6, given 7"):
        make_pop(size=7, load_if_exists=True)


def test_load_population_lists_what_exists(make_pop, db_url):
    make_pop(name="alpha")
    with pytest.raises(popbt.ConfigError, match="alpha"):
        popbt.load_population(name="beta", storage=db_url)
    pop = popbt.load_population(name="alpha", storage=db_url)
    assert pop.settings.metric == "score"


def test_resume_continues_to_more_steps(make_pop, db_url):
    pop = make_pop()
    pop.train(Quadratic, steps=20)
    ready_before = len(pop.events(kinds=[EventKind.READY]))
    again = popbt.load_population(name="test", storage=db_url)
    again.train(Quadratic, steps=40)
    assert [m.step for m in again.members] == [40] * 6
    assert len(again.events(kinds=[EventKind.READY])) > ready_before
    # the decisions due at step 20 were made when training resumed
    assert any(e.step == 20 for e in again.events(kinds=[EventKind.EXPLOIT, EventKind.EXPLORE]))


def test_live_trainables_are_cached_between_turns(make_pop):
    CountsSetups.setups = 0
    pop = make_pop(exploit=popbt.NoExploit(), explore=None)
    pop.train(CountsSetups, steps=50)
    assert CountsSetups.setups == 6  # one per member, not one per interval


def test_metric_the_trainable_never_returns(make_pop):
    pop = make_pop()
    with pytest.raises(popbt.TrainingError, match=r"metric 'score'.*\['accuracy'\]"):
        pop.train(WrongMetric, steps=10)
    assert "metric 'score'" in pop.row.error


def test_state_that_cannot_be_stored_safely(make_pop):
    with pytest.raises(popbt.TrainingError, match="object"):
        make_pop().train(Unstorable, steps=10)


def test_failing_members_are_recorded_and_reseeded(make_pop):
    pop = make_pop(initial=[{"lr": 0.9}, {"lr": 0.8}, {"lr": 0.01}, {"lr": 0.02},
                            {"lr": 0.05}, {"lr": 0.1}], explore=None)
    pop.train(Flaky, steps=20)
    failures = pop.events(kinds=[EventKind.FAILURE])
    assert {e.member_id for e in failures} == {0, 1}
    assert "diverged" in failures[0].data["error"]
    reseeds = pop.events(kinds=[EventKind.RESEED])
    assert {e.member_id for e in reseeds} == {0, 1}
    assert all(e.data["donor"] not in (None, e.member_id) for e in reseeds)
    members = pop.members
    assert all(m.step == 20 and m.state is MemberState.DONE for m in members)
    assert members[0].hparams["lr"] <= 0.3


def test_every_member_failing_stops_the_run(make_pop):
    pop = make_pop()
    with pytest.raises(popbt.TrainingError, match="every member failed.*broken training code"):
        pop.train(AlwaysFails, steps=10)
    assert all(m.state is MemberState.FAILED for m in pop.members)


def test_nan_scores_rank_worst_and_are_never_donors(make_pop):
    pop = make_pop(initial=[{"lr": 0.01}, {"lr": 0.02}, {"lr": 0.2}, {"lr": 0.3},
                            {"lr": 0.4}, {"lr": 0.5}], explore=None)
    pop.train(NanForSmallLr, steps=30)
    for e in pop.events(kinds=[EventKind.EXPLOIT]):
        assert e.data["score"] is not None and math.isfinite(e.data["score"])
    nan_members = {s.member_id for s in pop.scores() if math.isnan(s.score)}
    assert nan_members >= {0, 1}
    assert {e.member_id for e in pop.events(kinds=[EventKind.EXPLOIT])} & nan_members
    assert math.isfinite(pop.best.score)


def test_load_needs_a_trainable_and_a_checkpoint(make_pop):
    pop = make_pop()
    with pytest.raises(popbt.ConfigError, match="trainable="):
        pop.load(0)
    with pytest.raises(popbt.ConfigError, match="no checkpoint"):
        pop.load(0, trainable=Quadratic)
    with pytest.raises(popbt.ConfigError, match="members are 0..5"):
        pop.member(6)


def test_train_arguments_are_checked(make_pop):
    pop = make_pop()
    with pytest.raises(popbt.ConfigError, match="steps=0"):
        pop.train(Quadratic, steps=0)
    with pytest.raises(popbt.ConfigError, match="workers=0"):
        pop.train(Quadratic, steps=5, workers=0)
    with pytest.raises(popbt.ConfigError, match="Trainable"):
        pop.train(object, steps=5)  # type: ignore[arg-type]


def test_checkpoints_are_collected_but_pointed_ones_kept(make_pop, tmp_path: Path):
    pop = make_pop(keep_checkpoints=2)
    pop.train(Quadratic, steps=60)
    root = tmp_path / "popbt_checkpoints" / "test"
    files = list(root.rglob("*.npz"))
    assert not list(root.rglob(".tmp-*"))
    # at most `keep` per writer plus those other members point at
    assert len(files) <= 6 * 2 + 6
    for m in pop.members:
        row = pop.storage.checkpoint(pop.row, m.checkpoint_id)
        assert (root.parent / row.path).is_file()


def halve_lr(hparams, space, rng):
    """A custom explore function: halve the learning rate (clipped by the space)."""
    return {"lr": max(hparams["lr"] * 0.5, 1e-3)}


def broken_explore(hparams, space, rng):
    raise KeyError("no such hyperparameter")


def test_custom_explore_function(make_pop, db_url):
    pop = make_pop(explore=halve_lr)
    pop.train(Quadratic, steps=30)
    explores = pop.events(kinds=[EventKind.EXPLORE])
    assert explores
    for e in explores:
        assert e.data["new"]["lr"] == pytest.approx(max(e.data["old"]["lr"] * 0.5, 1e-3))
        assert e.data["new"]["noise"] == e.data["old"]["noise"]
        assert set(e.data["ops"].values()) <= {"custom"}
    # stored by reference: a later process finds the same function
    assert popbt.load_population(name="test", storage=db_url).settings.explore.fn is halve_lr


def test_explore_function_that_raises_stops_the_run(make_pop):
    pop = make_pop(explore=broken_explore)
    with pytest.raises(popbt.TrainingError, match="broken_explore.*KeyError"):
        pop.train(Quadratic, steps=30)
    assert "broken_explore" in pop.row.error


TRAIN_FILE = '''
import popbt

class Counter(popbt.Trainable):
    def setup(self, hparams, seed):
        self.total = 0.0
    def train(self, hparams, steps):
        self.total += hparams["lr"] * steps
    def evaluate(self):
        return self.total
    def state_dict(self):
        return {"total": self.total}
    def load_state_dict(self, state):
        self.total = state["total"]

if __name__ == "__main__":
    pop = popbt.create_population(name="p", storage="sqlite:///p.db", size=2, metric="score",
                                  space={"lr": popbt.Uniform(0.1, 1.0)},
                                  ready=popbt.Every(steps=2))
    pop.train(Counter, steps=5, progress=False)
'''
LOAD = ("import popbt; pop = popbt.load_population(name='p', storage='sqlite:///p.db'); "
        "m = pop.load(1); print(type(m).__name__, m.total == pop.member(1).score)")


def test_load_in_a_new_process_finds_the_class_the_population_was_trained_with(tmp_path):
    import subprocess
    import sys

    (tmp_path / "train.py").write_text(TRAIN_FILE)
    subprocess.run([sys.executable, "train.py"], cwd=tmp_path, check=True, timeout=120)
    pop = popbt.load_population(name="p", storage=f"sqlite:///{tmp_path / 'p.db'}")
    assert pop.row.trainable == f"{tmp_path / 'train.py'}:Counter"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "p.db").write_bytes((tmp_path / "p.db").read_bytes())
    done = subprocess.run([sys.executable, "-c", LOAD], cwd=elsewhere, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Counter", "True"]
    (tmp_path / "train.py").rename(tmp_path / "moved.py")
    done = subprocess.run([sys.executable, "-c", LOAD], cwd=elsewhere, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert "was trained with" in done.stderr and "pass trainable=" in done.stderr


def test_a_class_no_other_process_can_import_is_not_recorded(make_pop):
    class Local(Quadratic):
        pass

    pop = make_pop()
    pop.train(Local, steps=4)
    assert pop.row.trainable is None
    assert isinstance(pop.load(0), Local)  # this object trained it, so it knows the class
    again = popbt.load_population(name=pop.name, storage=pop.storage)
    with pytest.raises(popbt.ConfigError, match="records no trainable class"):
        again.load(0)
