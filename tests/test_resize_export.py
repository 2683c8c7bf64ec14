"""Resuming with only the file, the name and the steps; growing and shrinking a population
mid-life; exporting a member; warm starts. Real SQLite files, and the `popbt` command run
as a real subprocess."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import popbt
from popbt import EventKind, MemberState
from popbt.export import load_state
from popbt.schedules import read_schedule

QUAD_FILE = '''
import numpy as np

import popbt


class Quad(popbt.Trainable):
    def setup(self, hparams, seed):
        self.rng = np.random.default_rng(seed)
        self.x = np.full(3, 5.0)

    def train(self, hparams, steps):
        for _ in range(steps):
            self.x = self.x - hparams["lr"] * 2 * self.x \\
                + hparams["noise"] * self.rng.normal(size=3)

    def evaluate(self):
        return {"score": float(-np.square(self.x).sum())}

    def state_dict(self):
        return {"x": self.x, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        self.x = np.asarray(state["x"])
        self.rng.bit_generator.state = state["rng"]


space = popbt.Space({"lr": popbt.LogUniform(1e-3, 0.5), "noise": popbt.Uniform(0.0, 0.1)})
'''

TORCH_FILE = '''
import torch
from torch import nn

import popbt
from popbt.torch import TorchTrainable

X = torch.linspace(-1.0, 1.0, 64).reshape(16, 4)
Y = X @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])


def network():
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def score(model):
    with torch.no_grad():
        return float(-nn.functional.mse_loss(model(X), Y))


class Regression(TorchTrainable):
    def build(self, hparams, seed):
        model = network()
        return model, torch.optim.SGD(model.parameters(), lr=hparams["lr"])

    def train_step(self, hparams):
        loss = nn.functional.mse_loss(self.model(X), Y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def evaluate(self):
        self.model.eval()
        return {"score": score(self.model)}


space = popbt.Space({"lr": popbt.LogUniform(1e-3, 0.1)})
metric = "score"
ready = popbt.Every(steps=5)
'''


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "popbt", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300)


def ok(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = cli(*args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done


def one_error(done: subprocess.CompletedProcess[str]) -> str:
    """The one `popbt: error:` line of a command that failed with bad input."""
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("popbt: error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def module_of(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def quad(tmp_path: Path) -> Path:
    """A folder holding quad.py (no metric or ready interval in it), and popbt.db with the
    population "q": 4 members trained 10 steps with options given on the command line."""
    (tmp_path / "quad.py").write_text(QUAD_FILE)
    ok("run", "quad.py", "--name", "q", "--population", "4", "--steps", "10", "--metric",
       "score", "--ready-every", "5", "--seed", "3", "--exploit", "tournament", "--quiet",
       cwd=tmp_path)
    return tmp_path


def load(folder: Path, name: str = "q") -> popbt.Population:
    return popbt.load_population(name=name, storage=f"sqlite:///{folder / 'popbt.db'}")


def test_resuming_needs_only_the_file_the_name_and_the_steps(quad: Path):
    done = ok("run", "quad.py", "--name", "q", "--steps", "20", "--quiet", "--json", cwd=quad)
    status = json.loads(done.stdout)
    assert status["steps"] == [20] * 4 and status["size"] == 4
    settings = status["settings"]
    assert (settings["seed"], settings["metric"], settings["ready"]["steps"]) == (3, "score", 5)
    assert settings["exploit"]["type"] == "Tournament"


def test_an_option_given_with_another_value_is_refused_naming_both(quad: Path):
    line = one_error(cli("run", "quad.py", "--name", "q", "--steps", "20", "--seed", "4",
                         "--ready-every", "10", "--exploit", "truncation", "--quiet",
                         cwd=quad))
    assert "--seed 4 (stored: 3)" in line
    assert "--ready-every 10 (stored: Every(steps=5" in line
    assert "Truncation(fraction=0.2) (stored: Tournament())" in line
    assert load(quad).row.target_steps == 10  # nothing changed
    # the stored values themselves, given again, are accepted
    ok("run", "quad.py", "--name", "q", "--steps", "15", "--seed", "3", "--metric", "score",
       "--population", "4", "--quiet", cwd=quad)


def test_grow_then_shrink_mid_life_then_train_on(quad: Path):
    grown = ok("run", "quad.py", "--name", "q", "--steps", "20", "--population", "6",
               "--quiet", cwd=quad)
    assert "population q: 4 → 6 members (2 new, sampled from the space)" in grown.stderr
    pop = load(quad)
    assert [m.member_id for m in pop.members] == [0, 1, 2, 3, 4, 5]
    assert {m.step for m in pop.members} == {20}  # the new members trained too
    for new in (4, 5):  # trained from step 0 (and may have exploited since)
        assert pop.events(member_id=new, kinds=[EventKind.READY])[0].step == 5

    shrunk = ok("resize", "--name", "q", "--population", "3", cwd=quad)
    assert "population q: 6 → 3 members (retired the worst: " in shrunk.stderr
    pop = load(quad)
    retired = {m.member_id: m for m in pop.retired}
    assert len(retired) == 3 and len(pop.members) == 3 and pop.status()["size"] == 3
    worst = sorted(m.score for m in retired.values())
    assert max(worst) <= min(m.score for m in pop.members if m.score is not None)

    ok("run", "quad.py", "--name", "q", "--steps", "40", "--quiet", cwd=quad)
    pop = load(quad)
    assert {m.step for m in pop.members} == {40}
    assert {m.member_id: m for m in pop.retired} == retired  # untouched
    assert all(m.state is MemberState.RETIRED for m in retired.values())
    cut = max(e.event_id for e in pop.events(kinds=[EventKind.RETIRED]))
    later = [e for e in pop.events() if e.event_id > cut]
    assert later and not {e.member_id for e in later} & set(retired)
    exploits = [e for e in later if e.kind is EventKind.EXPLOIT]
    assert exploits and not {e.data["donor"] for e in exploits} & set(retired)
    status = json.loads(ok("status", "--name", "q", "--json", cwd=quad).stdout)
    assert status["size"] == 3 and status["states"] == {"done": 3, "retired": 3}
    assert len(status["members"]) == 3


def test_growing_by_cloning_the_best(tmp_path: Path):
    from trainables import SPACE, Quadratic

    pop = popbt.create_population(name="c", storage=f"sqlite:///{tmp_path / 'p.db'}",
                                  space=SPACE, size=3, metric="score", seed=1,
                                  ready=popbt.Every(steps=5))
    pop.train(Quadratic, steps=10, progress=False)
    best = pop.best
    assert best is not None
    done = pop.resize(5, clone_best=True)
    assert done.added == (3, 4) and done.donor == best.member_id
    for m in pop.members[3:]:
        assert (m.checkpoint_id, m.step) == (best.checkpoint_id, best.step)
        assert m.hparams != best.hparams  # explored, so that clones do not train alike
    assert pop.lineage(3)[0].member_id == best.member_id
    pop.train(Quadratic, steps=20, progress=False)
    assert [m.step for m in pop.members] == [20] * 5
    with pytest.raises(popbt.ConfigError, match="size=1"):
        pop.resize(1)


def test_export_of_a_torch_trainable_loads_into_a_plain_module(tmp_path: Path):
    import torch
    (tmp_path / "reg.py").write_text(TORCH_FILE)
    ok("run", "reg.py", "--population", "2", "--steps", "10", "--quiet", cwd=tmp_path)
    best = json.loads(ok("best", "--json", cwd=tmp_path).stdout)
    done = ok("export", "--name", "reg", "-o", "model.pt", cwd=tmp_path)
    assert "model.pt: its model's state_dict" in done.stderr
    reg = module_of(tmp_path / "reg.py")
    model = reg.network()
    model.load_state_dict(torch.load(tmp_path / "model.pt"))
    assert reg.score(model) == pytest.approx(best["score"], rel=1e-6)
    record = json.loads((tmp_path / "model.pt.json").read_text())
    assert (record["member_id"], record["score"], record["contents"]) == (
        best["member_id"], best["score"], "state_dict")
    assert record["checkpoint"] == best["checkpoint"]
    assert Path(best["checkpoint"]).is_file()


def test_export_of_a_numpy_trainable(quad: Path):
    best = json.loads(ok("best", "--name", "q", "--json", cwd=quad).stdout)
    assert Path(best["checkpoint"]).is_absolute() and Path(best["checkpoint"]).is_file()
    ok("export", "--name", "q", "-o", "best.npz", cwd=quad)
    state = load_state(quad / "best.npz")
    assert float(-np.square(state["x"]).sum()) == best["score"]
    schedule = json.loads(ok("schedule", str(best["member_id"]), "--name", "q", "--json",
                             cwd=quad).stdout)
    assert read_schedule(str(quad / "best.npz.schedule.json")) == [
        (e["step"], e["hparams"]) for e in schedule]
    record = json.loads((quad / "best.npz.json").read_text())
    assert record["hparams"] == best["hparams"] and record["step"] == 10
    ok("export", "--name", "q", "--member", "2", "-o", "two.npz", cwd=quad)
    assert json.loads((quad / "two.npz.json").read_text())["member_id"] == 2
    assert load(quad).export(quad / "api.npz", member=2) == quad / "api.npz"
    assert np.array_equal(load_state(quad / "api.npz")["x"], load_state(quad / "two.npz")["x"])


@pytest.mark.parametrize(("args", "fragment"), [
    (["--member", "7", "-o", "best.npz"], "member 7 does not exist; members are 0..3"),
    (["--member", "x", "-o", "best.npz"], "expected a member id"),
    (["-o", "no/such/folder/best.npz"], "cannot write 'no/such/folder/best.npz'"),
])
def test_export_errors_are_one_line(quad: Path, args: list[str], fragment: str):
    assert fragment in one_error(cli("export", "--name", "q", *args, cwd=quad))
    assert not (quad / "best.npz").exists()


def test_export_before_any_checkpoint_is_one_line(tmp_path: Path):
    (tmp_path / "quad.py").write_text(QUAD_FILE)
    popbt.create_population(name="fresh", storage=f"sqlite:///{tmp_path / 'popbt.db'}",
                            space=module_of(tmp_path / "quad.py").space, size=2,
                            metric="score", ready=popbt.Every(steps=5))
    line = one_error(cli("export", "--member", "0", "-o", "x.npz", cwd=tmp_path))
    assert "member 0 of population 'fresh' has no checkpoint yet" in line
    assert "has no scored member yet" in one_error(cli("export", "-o", "x.npz", cwd=tmp_path))


def test_warm_start_copies_the_best_weights(quad: Path):
    quad_module = module_of(quad / "quad.py")
    source = load(quad)
    ranked = sorted(source.members, key=lambda m: (-m.score, m.member_id))
    new_root = quad / "warm_checkpoints"
    warm = popbt.create_population(
        name="warm", storage=f"sqlite:///{quad / 'warm.db'}", space=quad_module.space,
        size=6, metric="score", ready=popbt.Every(steps=5), checkpoints=new_root,
        initial=[{}, {"noise": 0.05}], warm_start=("q", f"sqlite:///{quad / 'popbt.db'}"))
    members = warm.members
    for i, m in enumerate(members):
        src = ranked[i % 4]
        assert m.step == 0 and m.score is None
        assert m.hparams == (src.hparams | {"noise": 0.05} if i == 1 else src.hparams)
        event = warm.events(member_id=i, kinds=[EventKind.WARM_START])[0]
        assert event.data == {"population": "q", "member_id": src.member_id, "step": 10,
                              "score": src.score}
    shutil.rmtree(quad / "popbt_checkpoints")  # the source's files: the copies do not need them
    first = [warm.load(i, trainable=quad_module.Quad).evaluate()["score"] for i in range(6)]
    assert first == [ranked[i % 4].score for i in range(6)]
    assert first[0] == source.best.score  # type: ignore[union-attr]
    warm.train(quad_module.Quad, steps=10, progress=False)
    assert {m.step for m in warm.members} == {10}
    assert warm.schedule(1)[0] == (0, ranked[1].hparams | {"noise": 0.05})
    again = popbt.create_population(  # resuming it ignores the warm start
        name="warm", storage=f"sqlite:///{quad / 'warm.db'}", space=quad_module.space,
        size=6, metric="score", ready=popbt.Every(steps=5), checkpoints=new_root,
        warm_start=warm, load_if_exists=True)
    assert again.row.id == warm.row.id


def test_warm_start_refusals(quad: Path):
    quad_module = module_of(quad / "quad.py")
    storage = f"sqlite:///{quad / 'popbt.db'}"
    common = {"storage": storage, "metric": "score", "ready": popbt.Every(steps=5), "size": 2}
    narrow = popbt.Space({"lr": popbt.LogUniform(1e-6, 1e-5), "noise": popbt.Uniform(0, 0.1)})
    with pytest.raises(popbt.ConfigError, match="warm start from member .* is outside"):
        popbt.create_population(name="narrow", space=narrow, warm_start=load(quad), **common)
    assert not list((quad / "popbt_checkpoints").glob("narrow*"))  # no file left behind
    untrained = popbt.create_population(name="untrained", space=quad_module.space, **common)
    with pytest.raises(popbt.ConfigError, match="no member with a score and a checkpoint"):
        popbt.create_population(name="w2", space=quad_module.space, warm_start=untrained,
                                **common)
    with pytest.raises(popbt.ConfigError, match="was not warm-started"):
        popbt.create_population(name="untrained", space=quad_module.space,
                                warm_start=load(quad), load_if_exists=True, **common)
