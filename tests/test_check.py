"""`popbt.check_trainable` and `popbt check`: state a checkpoint leaves out, hyperparameters
that change nothing or are never read, found before a run."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import popbt
from hparam_trainables import IgnoresNoise
from popbt.cli import check as cli_check
from popbt.cli._userfile import find_trainable, load_file, module_setting
from popbt.demos.toy_trainable import SPACE as TOY_SPACE
from popbt.demos.toy_trainable import ToyTrainable
from popbt.torch import TorchTrainable
from trainables import SPACE, AlwaysFails, Quadratic, Unstorable, WrongMetric

ROOT = Path(__file__).resolve().parent.parent
# every example that trains a Trainable (the *_ga.py examples evolve genetic populations)
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.stem.endswith("_ga"))
# examples whose hyperparameters act only once training has gone on a while (the retrieval
# agent's success bar needs past returns, its pruning a full database): their files say so
CHECK_STEPS = {"retrieval_cartpole.py": 10}
MOMENTUM_SPACE = popbt.Space({"lr": popbt.LogUniform(1e-3, 0.1),
                              "momentum": popbt.Uniform(0.1, 0.9)})


class HeavyBall(popbt.Trainable):
    """Gradient descent with momentum on a quadratic; `velocity` is the momentum buffer."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.w = np.linspace(-1.0, 1.0, 5)
        self.velocity = np.zeros(5)

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        for _ in range(steps):
            self.velocity = hparams["momentum"] * self.velocity + 2 * self.w
            self.w = self.w - hparams["lr"] * self.velocity

    def evaluate(self) -> dict[str, float]:
        return {"score": -float(np.square(self.w).sum())}

    def state_dict(self) -> dict[str, Any]:
        return {"w": self.w, "velocity": self.velocity}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.w, self.velocity = np.array(state["w"]), np.array(state["velocity"])


class DropsVelocity(HeavyBall):
    """Saves the weights but not the momentum buffer."""

    def state_dict(self) -> dict[str, Any]:
        return {"w": self.w}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.w = np.array(state["w"])


class InertMomentum(HeavyBall):
    """Reads `momentum`, and multiplies it by zero."""

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        super().train({"lr": hparams["lr"], "momentum": 0.0 * hparams["momentum"]}, steps)


class ForgetsOptimizer(TorchTrainable):
    """SGD with momentum whose checkpoint leaves out the optimizer's state."""

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        model = torch.nn.Linear(3, 1)
        return model, torch.optim.SGD(model.parameters(), lr=hparams["lr"], momentum=0.9)

    def train_step(self, hparams: dict[str, Any]) -> None:
        x = torch.randn(8, 3, generator=self.generator)
        loss = (self.model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def evaluate(self) -> dict[str, float]:
        return {"score": -float(self.model.weight.detach().sub(1).pow(2).sum())}

    def state_dict(self) -> dict[str, Any]:
        return {key: value for key, value in super().state_dict().items() if key != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.step = int(state["step"])
        self.generator.set_state(state["torch_rng"])
        self.rng.bit_generator.state = state["numpy_rng"]


class LearningRateNet(ForgetsOptimizer):
    """Builds SGD with `learning_rate`, which TorchTrainable never applies; saves it all."""

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        model = torch.nn.Linear(3, 1)
        return model, torch.optim.SGD(model.parameters(), lr=hparams["learning_rate"])

    state_dict = TorchTrainable.state_dict
    load_state_dict = TorchTrainable.load_state_dict


def _readme_example() -> tuple[type[popbt.Trainable], popbt.Space]:
    """The README's `MyTrainable` and `space`, from its "Use it" example imported as a
    module (so that it does not train)."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"## Use it.*?```python\n(.*?)```", text, re.S)
    assert match, "the README's 'Use it' example is gone"
    namespace: dict[str, Any] = {"__name__": "quickstart"}
    exec(match.group(1), namespace)
    return namespace["MyTrainable"], namespace["space"]


def _kinds(result: popbt.CheckResult) -> list[str]:
    return [f.kind for f in result.findings]


@pytest.mark.parametrize("trainable, space", [
    (Quadratic, SPACE), (ToyTrainable, TOY_SPACE), (HeavyBall, MOMENTUM_SPACE),
    _readme_example()],
    ids=["Quadratic", "toy", "HeavyBall", "README"])
def test_a_correct_trainable_passes(trainable: type[popbt.Trainable], space: popbt.Space):
    result = popbt.check_trainable(trainable, space)
    assert result.ok, str(result)
    assert "no problem found" in str(result)


def test_a_momentum_buffer_left_out_of_the_state_is_named():
    result = popbt.check_trainable(DropsVelocity, MOMENTUM_SPACE)
    assert _kinds(result) == ["state"]
    message = result.findings[0].message
    assert message.startswith("state_dict() leaves out state that changes training")
    assert "attribute velocity differs from the original's" in message
    assert re.search(r"'score' \S+ and \S+ \(difference [0-9.e-]+\)", message)


def test_an_optimizer_state_left_out_is_named():
    result = popbt.check_trainable(ForgetsOptimizer, popbt.Space({"lr": popbt.Uniform(0.01,
                                                                                   0.1)}))
    assert _kinds(result) == ["state"]
    assert "attribute optimizer differs" in result.findings[0].message


def test_a_hyperparameter_that_changes_nothing_is_named():
    result = popbt.check_trainable(InertMomentum, MOMENTUM_SPACE)
    assert _kinds(result) == ["inert"]
    assert result.findings[0].message.startswith("hyperparameter 'momentum' changes nothing")


def test_a_learning_rate_torch_never_applies_is_unread_and_inert():
    result = popbt.check_trainable(LearningRateNet, popbt.Space({
        "learning_rate": popbt.LogUniform(1e-3, 0.1), "momentum": popbt.Uniform(0.1, 0.9)}))
    assert _kinds(result) == ["unread", "inert"]
    assert "never reads hyperparameter 'learning_rate'" in result.findings[0].message
    assert "'learning_rate' changes nothing" in result.findings[1].message
    assert str(result).splitlines()[0].startswith("LearningRateNet: unread: ")


def test_a_name_never_read_is_reported():
    result = popbt.check_trainable(IgnoresNoise, SPACE)
    assert _kinds(result) == ["unread", "inert"]
    assert "(it reads 'lr')" in result.findings[0].message


@pytest.mark.parametrize("trainable, kind, text", [
    (AlwaysFails, "error", "AlwaysFails.train raised ZeroDivisionError"),
    (WrongMetric, "result", "metric 'score' is not among"),
    (Unstorable, "storage", "state_dict() cannot be stored")])
def test_a_broken_trainable_is_a_finding(trainable: type[popbt.Trainable], kind: str,
                                         text: str):
    result = popbt.check_trainable(trainable, SPACE, metric="score")
    assert _kinds(result) == [kind] and text in result.findings[0].message


def test_the_check_is_deterministic_and_leaves_global_generators_alone():
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    first = popbt.check_trainable(DropsVelocity, MOMENTUM_SPACE, steps=2, seed=3)
    assert np.array_equal(np.random.get_state()[1], before)
    assert str(popbt.check_trainable(DropsVelocity, MOMENTUM_SPACE, steps=2, seed=3)) == \
        str(first)


def test_bad_arguments_are_refused():
    with pytest.raises(popbt.ConfigError, match="steps=0"):
        popbt.check_trainable(Quadratic, SPACE, steps=0)
    with pytest.raises(popbt.ConfigError, match="expected a popbt.Space"):
        popbt.check_trainable(Quadratic, [popbt.Uniform(0, 1)])  # type: ignore[arg-type]
    with pytest.raises(popbt.ConfigError, match="'lr': 0.1 is not a domain"):
        popbt.check_trainable(Quadratic, {"lr": 0.1})  # type: ignore[dict-item]


def test_a_dict_of_domains_is_a_space():
    assert popbt.check_trainable(Quadratic, dict(SPACE), steps=2).ok


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_passes(path: Path):
    module = load_file(str(path))
    trainable = find_trainable(module, str(path), None)
    result = popbt.check_trainable(trainable, module_setting(module, "space"),
                                   steps=CHECK_STEPS.get(path.name, 2),
                                   metric=module_setting(module, "metric"),
                                   league=module_setting(module, "league"))
    assert result.ok, str(result)


def _cli(file: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    args = argparse.Namespace(file=str(file), trainable=None, steps=2, seed=0, metric=None)
    status = cli_check.cmd_check(args)
    return status, capsys.readouterr().out.splitlines()


def test_popbt_check_passes_a_correct_file(capsys: pytest.CaptureFixture[str]):
    status, lines = _cli(ROOT / "examples" / "toy.py", capsys)
    assert status == 0 and len(lines) == 1 and "ToyTrainable: no problem found" in lines[0]


def test_popbt_check_prints_each_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    file = tmp_path / "run.py"
    file.write_text("import popbt\nfrom hparam_trainables import IgnoresNoise\n"
                    "from trainables import SPACE as space\nmetric = 'score'\n")
    status, lines = _cli(file, capsys)
    assert status == 1
    assert [line.split(": ")[:2] for line in lines] == [["IgnoresNoise", "unread"],
                                                        ["IgnoresNoise", "inert"]]
