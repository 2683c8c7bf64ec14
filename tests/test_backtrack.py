"""`popbt.Backtrack`: the best checkpoint ever reported stays a donor after its member moved
on; members copying it go back to its step. Real worker processes, a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

import popbt
from backtrack_trainables import SPACE, Overshoot
from popbt.checkpoints import CheckpointStore
from popbt.records import EventKind, MemberState
from popbt.replay import replay_member

READY, TARGET = 2, 16


def _run(tmp_path: Path, exploit: popbt.Exploit, name: str) -> popbt.Population:
    pop = popbt.create_population(
        name=name, storage=f"sqlite:///{tmp_path / 'bt.db'}", space=SPACE, size=4,
        metric="score", seed=1, ready=popbt.Every(steps=READY), exploit=exploit,
        explore=popbt.Perturb(), keep_checkpoints=1)
    pop.train(Overshoot, steps=TARGET, workers=2, progress=False)
    return pop


def test_members_go_back_to_the_elite_which_is_kept(tmp_path: Path):
    pop = _run(tmp_path, popbt.Backtrack(fraction=0.25), "bt")
    assert pop.row.error is None
    assert all(m.step == TARGET and m.state is MemberState.DONE for m in pop.members)
    last_ready: dict[int, int] = {}
    backtracks = 0
    for e in pop.events():
        if e.kind is EventKind.READY:
            if e.member_id in last_ready:  # intervals go on from wherever it went
                assert e.step == last_ready[e.member_id] + READY, e
            last_ready[e.member_id] = e.step
        elif e.kind is EventKind.EXPLOIT:
            if e.data.get("backtrack"):
                backtracks += e.data["donor_step"] < last_ready[e.member_id]
            else:
                assert e.data["donor_step"] >= last_ready[e.member_id]
            last_ready[e.member_id] = e.data["donor_step"]
    assert backtracks >= 1
    # the best score ever reported is still on disk (keep_checkpoints=1 would have dropped
    # it) and loads
    best = max(pop.scores(), key=lambda s: s.score)
    assert best.score > max(m.score for m in pop.members)
    with pop.storage._read() as conn:
        row = conn.exec_driver_sql(
            "SELECT c.path, c.checksum, c.step FROM popbt_populations p JOIN "
            "popbt_checkpoints c ON c.id = p.elite_checkpoint_id WHERE p.id = ?",
            (pop.row.id,)).one()
    assert row[2] == best.step
    state = CheckpointStore(pop.row.checkpoint_root).load(row[0], row[1])
    assert -(float(state["theta"]) - 5.0) ** 2 == pytest.approx(best.score)


def test_lineages_through_the_elite_replay_exactly(tmp_path: Path):
    """A lineage through a backtrack takes the elite's member as it was when it reported the
    elite (not its later exploits): replaying each member's schedule from scratch gives its
    score exactly (the trainable is deterministic)."""
    pop = popbt.create_population(
        name="replayed", storage=f"sqlite:///{tmp_path / 'bt.db'}", space=SPACE, size=4,
        metric="score", seed=2, ready=popbt.Every(steps=READY),
        exploit=popbt.Backtrack(fraction=0.25), explore=popbt.Perturb(), keep_checkpoints=1)
    pop.train(Overshoot, steps=TARGET, workers=1, progress=False)
    chains = [pop.lineage(m.member_id) for m in pop.members]
    through = [c for c in chains if any(e.data.get("backtrack") for seg in c for e in seg.events
                                        if e.kind is EventKind.EXPLOIT)]
    assert through, "no lineage goes through a backtrack: the test cannot tell"
    for m, segments in zip(pop.members, chains, strict=True):
        assert segments[0].start_step == 0 and segments[-1].end_step == TARGET
        for before, after in zip(segments, segments[1:], strict=False):
            assert before.end_step == after.start_step
        for seg in segments:
            readies = [e.step for e in seg.events if e.kind is EventKind.READY]
            assert readies == sorted(set(readies)) and all(s <= seg.end_step for s in readies)
        assert replay_member(pop, m.member_id, Overshoot).score == pytest.approx(m.score)


def test_truncation_never_goes_back(tmp_path: Path):
    pop = _run(tmp_path, popbt.Truncation(fraction=0.25), "trunc")
    exploits = [e for e in pop.events() if e.kind is EventKind.EXPLOIT]
    assert exploits and not any(e.data.get("backtrack") for e in exploits)


def test_backtrack_is_stored_named_on_the_cli_and_refused_where_it_cannot_work(tmp_path):
    pop = _run(tmp_path, popbt.Backtrack(fraction=0.5), "stored")
    again = popbt.load_population(name="stored", storage=pop.storage)
    assert again.settings.exploit == popbt.Backtrack(fraction=0.5)
    from popbt.strategies import registry

    assert registry.make("exploit", "backtrack", {"fraction": 0.25}) == popbt.Backtrack(0.25)
    with pytest.raises(popbt.ConfigError, match="Backtrack.*vectorized trainer"):
        from popbt.vectorized import VectorizedPopulation

        VectorizedPopulation(model_fn=lambda: nn.Linear(2, 2), size=2,
                             space=popbt.Space({"lr": popbt.LogUniform(1e-3, 1e-1)}),
                             metric="accuracy", ready=popbt.Every(steps=2), name="v",
                             storage=f"sqlite:///{tmp_path / 'v.db'}",
                             exploit=popbt.Backtrack())
