"""The genetic population: generations recorded as PBT rounds, genomes in the rows that decode
to the weights evaluated, a resumed or killed run that goes on exactly as an unbroken one,
compacted chains, and clear errors."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import popbt
from popbt.checkpoints import CheckpointStore
from popbt.ga import Decoder, Episodes, GeneticPopulation, Genome, Policy
from popbt.garbage import collect
from popbt.report.data import population_data
from trainables import Quadratic

HERE = Path(__file__).resolve().parent


def net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def make(url: str, **overrides) -> GeneticPopulation:
    kwargs = {"model_fn": net, "evaluate": Episodes("CartPole", max_steps=60), "size": 12,
              "parents": 4, "sigma": 0.1, "seed": 3, "name": "ga", "storage": url}
    kwargs.update(overrides)
    return GeneticPopulation(**kwargs)


def stored(ga: GeneticPopulation) -> list[Genome]:
    rows = ga.population.storage.genomes(ga.population.row)
    return [Genome.from_bytes(rows[i]) for i in sorted(rows)]


def scores(ga: GeneticPopulation) -> list[tuple[int, int, float]]:
    return sorted((s.member_id, s.step, s.score) for s in ga.population.scores())


def test_generations_are_rounds_whose_genomes_decode_to_the_weights(db_url):
    ga = make(db_url)
    best = ga.run(generations=4)
    pop = ga.population
    assert best is not None and best.step == 4 and ga.generation == 4
    assert len(pop.events(kinds=[popbt.EventKind.READY])) == 12 * 4
    assert pop.events(kinds=[popbt.EventKind.EXPLOIT])  # children of other members
    decoder = Decoder(net)
    genomes = stored(ga)
    assert genomes == ga.genomes
    for i, genome in enumerate(genomes):
        assert torch.equal(decoder.decode(genome), ga.weights(i))
        assert len(genome) <= 3  # at most one mutation per decision (3 of them)
    candidates = [m for m in pop.members if "elite_return" in m.metrics]
    assert len(candidates) == 10  # the paper's: the 10 best scores, 30 more episodes each
    ranked = sorted(pop.members, key=lambda m: (-m.score, m.member_id))
    assert {m.member_id for m in candidates} == {m.member_id for m in ranked[:10]}
    elite = max(candidates, key=lambda m: (m.metrics["elite_return"], -m.member_id))
    assert best.member_id == elite.member_id == popbt.load_population(
        name="ga", storage=db_url).best.member_id
    assert pop.lineage(best.member_id)  # the lineage reads as a PBT run's


def test_without_elite_episodes_the_elite_is_the_best_score(db_url):
    ga = make(db_url, elite_episodes=0, evaluate=Episodes("CartPole", max_steps=200))
    best = ga.run(generations=3)
    members = ga.population.members
    assert best is not None and not any("elite_return" in m.metrics for m in members)
    top = max(members, key=lambda m: (m.score, -m.member_id))
    assert best.member_id == top.member_id


def test_the_elite_keeps_its_genome_and_the_others_are_mutated(db_url):
    ga = make(db_url)
    ga.run(generations=2)
    before = list(ga.genomes)
    best = ga.best
    assert best is not None
    ga.run(generations=3)  # the decisions of generation 2, then generation 3
    after = ga.genomes
    assert after[best.member_id] == before[best.member_id]
    children = [g for i, g in enumerate(after) if i != best.member_id]
    assert all(g.mutations and g.mutations[-1][1] == 0.1 for g in children)
    assert all(g.mutations[:-1] in [b.mutations for b in before] for g in children)


def test_a_run_continued_in_a_new_object_equals_one_unbroken_run(tmp_path):
    whole = make(f"sqlite:///{tmp_path / 'a.db'}")
    whole.run(generations=6)
    first = make(f"sqlite:///{tmp_path / 'b.db'}")
    first.run(generations=3)
    again = make(f"sqlite:///{tmp_path / 'b.db'}", load_if_exists=True)
    assert again.generation == 3 and torch.equal(again.flat, first.flat)
    again.run(generations=6)
    assert again.genomes == whole.genomes and torch.equal(again.flat, whole.flat)
    assert scores(again) == scores(whole)


SLOW_RUN = """
import sys, time
sys.path[:0] = [{here!r}, {tests!r}]
from test_genetic_population import make
from popbt.ga import Episodes

slow = Episodes("CartPole", max_steps=60)
def evaluate(policy, seed):
    time.sleep(0.3)
    return slow(policy, seed)
make({url!r}, evaluate=evaluate, load_if_exists=True).run(generations=8)
"""


def test_a_process_killed_mid_generation_loses_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    script = SLOW_RUN.format(here=str(HERE), tests=str(HERE.parent), url=url)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # wait for two committed generations
            time.sleep(0.1)
            if not (tmp_path / "k.db").exists():
                continue
            with sqlite3.connect(tmp_path / "k.db") as conn:
                try:
                    (steps,) = conn.execute("SELECT MIN(step) FROM popbt_members").fetchone()
                except sqlite3.OperationalError:
                    continue
            if steps and steps >= 2:
                break
        time.sleep(0.15)  # into the evaluation of the next generation
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    resumed = make(url, load_if_exists=True)
    assert 2 <= resumed.generation < 8
    resumed.run(generations=8)
    whole = make(f"sqlite:///{tmp_path / 'w.db'}")
    whole.run(generations=8)
    assert resumed.genomes == whole.genomes and torch.equal(resumed.flat, whole.flat)
    assert scores(resumed) == scores(whole)  # every generation once, as an unbroken run's


def test_a_chain_longer_than_max_chain_is_rebased_on_a_checkpoint(tmp_path, db_url):
    ga = make(db_url, max_chain=2, checkpoints=tmp_path / "ckpt")
    ga.run(generations=7)
    genomes = stored(ga)
    based = [g for g in genomes if g.base is not None]
    assert based and all(len(g) <= 2 for g in genomes)
    store = CheckpointStore(ga.population.row.checkpoint_root)
    decoder = Decoder(net, load_base=store.load)
    for i, genome in enumerate(genomes):
        assert torch.equal(decoder.decode(genome), ga.weights(i))
    on_disk = {f.rel for f in store.files("ga")}
    assert on_disk == {g.base.path for g in based}  # weights no genome uses are deleted
    kept = collect(ga.population.storage, ga.population.row, now=time.time() + 10 ** 6,
                   min_age_s=0)
    assert kept.removed == () and {f.rel for f in store.files("ga")} == on_disk
    again = make(db_url, max_chain=2, checkpoints=tmp_path / "ckpt", load_if_exists=True)
    assert torch.equal(again.flat, ga.flat)


def test_an_explored_sigma_is_each_members_own_and_in_its_chain(db_url):
    ga = make(db_url, sigma=popbt.LogUniform(0.01, 0.5))
    ga.run(generations=4)
    assert ga.population.events(kinds=[popbt.EventKind.EXPLORE])
    for member, genome in zip(ga.population.members, ga.genomes, strict=True):
        if genome.mutations and member.member_id != ga.best.member_id:
            assert genome.mutations[-1][1] == member.hparams["sigma"]


def test_status_shows_generations_and_genome_sizes(db_url, tmp_path):
    ga = make(db_url)
    ga.run(generations=2)
    text = subprocess.run([sys.executable, "-m", "popbt", "status", "--name", "ga",
                           "--storage", db_url], capture_output=True, text=True, check=True,
                          cwd=tmp_path).stdout
    assert "target 2 generations (2 done)" in text and "gen" in text and "genome B" in text
    data = json.loads(subprocess.run(
        [sys.executable, "-m", "popbt", "status", "--name", "ga", "--storage", db_url,
         "--json"], capture_output=True, text=True, check=True, cwd=tmp_path).stdout)
    assert data["trainer"] == "ga"
    assert [m["genome_bytes"] for m in data["members"]] == [len(g.to_bytes())
                                                            for g in ga.genomes]
    sizes = ga.storage_per_member()
    assert sizes["genome_max"] < sizes["checkpoint"]


def test_the_population_is_refused_to_other_trainers(db_url):
    make(db_url).run(generations=1)
    with pytest.raises(popbt.ConfigError, match="popbt.ga.GeneticPopulation"):
        popbt.load_population(name="ga", storage=db_url).train(Quadratic, steps=2)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"elites": 0}, "keeps at least one elite"),
    ({"sigma": -0.1}, r"sigma=-0.1: the mutation strength must be a number > 0"),
    ({"explore": popbt.Perturb()}, "with a fixed sigma=0.1"),
    ({"max_chain": 0}, r"max_chain=0: must be an integer >= 1"),
    ({"size": 1}, "at least 2 members"),
    ({"elite_candidates": 0}, "at least elites=1 of them"),
    ({"elite_episodes": -1}, r"elite_episodes=-1: must be an integer >= 0"),
    ({"evaluate": "CartPole"}, "expected a function"),
])
def test_bad_settings_are_refused(db_url, overrides, message):
    with pytest.raises(popbt.ConfigError, match=message):
        make(db_url, **overrides)


@pytest.mark.parametrize(("evaluate", "message"), [
    (lambda policy, seed: {"reward": torch.zeros(policy.size)}, "without the metric 'return'"),
    (lambda policy, seed: {"return": torch.zeros(3)}, r"'return' of shape \(3,\)"),
    (lambda policy, seed: {"return": torch.zeros(policy.size),
                           "extra": torch.zeros(policy.size, 2)}, "'extra' of shape"),
])
def test_an_evaluation_of_the_wrong_shape_is_refused(db_url, evaluate, message):
    with pytest.raises(popbt.ConfigError, match=message):
        make(db_url, evaluate=evaluate).run(generations=1)


def test_bad_generations_are_refused(db_url):
    with pytest.raises(popbt.ConfigError, match="generations=0"):
        make(db_url).run(generations=0)


def test_best_and_report_read_the_generations(db_url, tmp_path):
    ga = make(db_url)
    best = ga.run(generations=3)
    assert best is not None
    shown = subprocess.run([sys.executable, "-m", "popbt", "best", "--name", "ga", "--storage",
                            db_url, "--json"], capture_output=True, text=True, check=True,
                           cwd=tmp_path).stdout
    assert json.loads(shown)["member_id"] == best.member_id  # the elite
    done = subprocess.run([sys.executable, "-m", "popbt", "report", "--name", "ga",
                           "--storage", db_url, "-o", str(tmp_path / "r.html")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "elite_return" in (tmp_path / "r.html").read_text()
    data = population_data(ga.population)
    exploits = ga.population.events(kinds=[popbt.EventKind.EXPLOIT])
    assert data["best"] == best.member_id and data["max_step"] == 3
    assert sorted(data["exploits"]["event"]) == sorted(e.event_id for e in exploits)
    assert all(len(series["steps"]) == 3 for series in data["series"])


def test_a_population_resumed_with_another_network_is_refused(db_url):
    make(db_url).run(generations=2)

    def wider() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 9), nn.Tanh(), nn.Linear(9, 2))

    with pytest.raises(popbt.ConfigError, match="evolved with another model_fn"):
        make(db_url, model_fn=wider, load_if_exists=True)


def test_member_model_is_an_ordinary_module_with_the_members_weights(db_url):
    ga = make(db_url)
    best = ga.run(generations=2)
    assert best is not None
    model = ga.member_model(best.member_id)
    x = torch.randn(5, 4)
    policy_out = Policy.of(net, ga.weights(best.member_id)[None])(x[None])[0]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    assert torch.equal(flat, ga.weights(best.member_id))
    assert torch.allclose(model(x).detach(), policy_out, rtol=1e-5, atol=1e-6)
    with pytest.raises(popbt.ConfigError, match="member 12 does not exist; members are 0..11"):
        ga.weights(12)


def test_a_stop_rule_ends_the_run_at_a_generation_and_it_goes_on_later(db_url):
    ga = make(db_url, evaluate=Episodes("CartPole", max_steps=60))
    seen: list[int] = []

    class Generations(popbt.Callback):
        def on_event(self, pop, event):
            if event.kind is popbt.EventKind.READY:
                seen.append(event.step)

    best = ga.run(generations=20, stop=popbt.TargetScore(60), callbacks=[Generations()])
    assert best is not None and best.score == 60 and ga.generation < 20
    assert sorted(set(seen)) == list(range(1, ga.generation + 1))
    assert {m.state for m in ga.population.members} == {popbt.MemberState.IDLE}
    assert ga.population.row.stopped is not None
    stopped_at = ga.generation
    ga.run(generations=stopped_at + 1)  # training again goes on from there
    assert ga.generation == stopped_at + 1
