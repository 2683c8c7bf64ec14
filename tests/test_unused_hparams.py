"""A hyperparameter of the space that the trainable never reads while it trains is reported
once per run: a warning, or a ConfigError under strict=True."""

from __future__ import annotations

import copy
import json
import pickle
import warnings
from typing import Any

import pytest
import torch

import popbt
from hparam_trainables import IgnoresNoise, NoiseInSetup
from popbt.executors import FATAL_EXIT, Work, run_worker
from popbt.hparams import Hyperparameters
from popbt.storage.base import PopulationRow
from popbt.torch import TorchTrainable, apply_hparams
from popbt.worker import Worker
from trainables import Quadratic

TORCH_SPACE = popbt.Space({"learning_rate": popbt.LogUniform(1e-3, 0.1),
                           "momentum": popbt.Uniform(0.1, 0.9)})


class LearningRateNet(TorchTrainable):
    """Builds SGD with `learning_rate`, a name TorchTrainable never applies to it."""

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        model = torch.nn.Linear(3, 1)
        return model, torch.optim.SGD(model.parameters(), lr=hparams["learning_rate"],
                                      momentum=0.5)

    def train_step(self, hparams: dict[str, Any]) -> None:
        x = torch.randn(8, 3, generator=self.generator)
        loss = (self.model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def evaluate(self) -> dict[str, float]:
        return {"score": -float(self.model.weight.detach().sub(1).pow(2).sum())}


def _unused(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught
            if issubclass(w.category, popbt.UnusedHyperparameterWarning)]


def _train(pop: popbt.Population, trainable: type[popbt.Trainable],
           **kwargs: Any) -> list[str]:
    """Train; the messages of the unused-hyperparameter warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pop.train(trainable, progress=False, **kwargs)
    return _unused(caught)


def test_the_hyperparameters_given_are_a_dict_that_notes_what_is_read():
    hp = Hyperparameters({"lr": 0.1, "momentum": 0.9, "decay": 0.0})
    assert isinstance(hp, dict) and hp["lr"] == 0.1 and hp.get("momentum") == 0.9
    assert hp.read == {"lr", "momentum"}
    assert "decay" in hp and hp == {"lr": 0.1, "momentum": 0.9, "decay": 0.0}
    assert hp.read == {"lr", "momentum"}  # looking a name up is not reading it
    for whole in (dict, lambda h: {**h}, lambda h: (lambda **kw: kw)(**h), json.dumps,
                  lambda h: pickle.loads(pickle.dumps(h)), copy.deepcopy, list):
        fresh = Hyperparameters({"lr": 0.1, "decay": 0.0})
        out = whole(fresh)
        assert fresh.read == {"lr", "decay"}, whole
        assert type(out) is not Hyperparameters
    shared = Hyperparameters({"lr": 0.1, "decay": 0.0})
    assert shared.copy()["decay"] == 0.0 and shared.read == {"decay"}


def test_apply_hparams_notes_only_the_settings_it_applies():
    model = torch.nn.Linear(2, 1)
    adam = torch.optim.Adam(model.parameters())
    hp = Hyperparameters({"generator_lr": 0.01, "beta1": 0.5, "learning_rate": 0.1,
                          "discriminator_lr": 0.2})
    assert sorted(apply_hparams(adam, hp, prefix="generator")) == ["beta1", "generator_lr"]
    assert hp.read == {"generator_lr", "beta1"}
    assert adam.param_groups[0]["lr"] == 0.01 and adam.param_groups[0]["betas"][0] == 0.5


def test_a_learning_rate_torch_never_applies_is_reported_once(make_pop):
    pop = make_pop(space=TORCH_SPACE, size=4)
    [message] = _train(pop, LearningRateNet, steps=20)
    assert "LearningRateNet never reads hyperparameter 'learning_rate'" in message
    assert "(it reads 'momentum')" in message
    assert "read only in setup()" in message and "TorchTrainable" in message
    assert [m.step for m in pop.members] == [20] * 4  # a warning: the run goes on


def test_strict_stops_the_run_with_a_config_error(make_pop):
    pop = make_pop(space=TORCH_SPACE, size=4)
    with pytest.raises(popbt.ConfigError, match="never reads hyperparameter 'learning_rate'"):
        pop.train(LearningRateNet, steps=20, strict=True, progress=False)
    assert "learning_rate" in pop.row.error  # every other worker stops too
    assert _train(pop, LearningRateNet, steps=20)  # without strict it resumes, and warns
    assert [m.step for m in pop.members] == [20] * 4 and pop.row.error is None


def test_a_trainable_that_reads_everything_gives_no_warning(make_pop):
    assert _train(make_pop(size=4), Quadratic, steps=20) == []


def test_a_name_read_only_in_setup_is_reported(make_pop):
    [message] = _train(make_pop(size=2), NoiseInSetup, steps=10)
    assert "never reads hyperparameter 'noise'" in message
    assert "'noise' is read only in setup()" in message


def test_worker_processes_report_it_once_per_run(make_pop):
    pop = make_pop(size=4)
    [message] = _train(pop, IgnoresNoise, steps=20, workers=2)
    assert "IgnoresNoise never reads hyperparameter 'noise'" in message
    assert [m.step for m in pop.members] == [20] * 4


def test_worker_processes_under_strict_stop_with_a_config_error(make_pop):
    pop = make_pop(size=4)
    with pytest.raises(popbt.ConfigError, match="never reads hyperparameter 'noise'"):
        pop.train(IgnoresNoise, steps=200, workers=2, strict=True, progress=False)
    assert pop.storage.holders(pop.row) == []  # the processes stopped, members given back


def test_a_worker_on_its_own_warns_in_its_process(make_pop):
    pop = make_pop(size=2)
    row: PopulationRow = pop.row
    pop.storage.set_target(row, 10, now=0.0)
    with pytest.warns(popbt.UnusedHyperparameterWarning, match="'noise'") as caught:
        Worker(pop.storage, row, pop.settings, IgnoresNoise, name="w").run()
    assert len(_unused(list(caught))) == 1


def test_a_worker_that_cannot_tell_its_run_records_strict_as_the_fatal_error(make_pop):
    pop = make_pop(size=2)
    pop.storage.set_target(pop.row, 10, now=0.0)
    work = Work(storage_url=pop.storage.shared_url, population=pop.name, strict=True,
                trainable=IgnoresNoise, checkpoint_root=pop.row.checkpoint_root)
    assert run_worker(work) == FATAL_EXIT  # as a Ray task ends: the run raises the error
    assert "IgnoresNoise never reads hyperparameter 'noise'" in pop.row.error


def test_the_message_ends_with_the_trainable_classes_own_hint():
    from popbt.hparams import find_unread

    class Adapter(Quadratic):
        unread_hint = "set {them} in configure(), where this base class reads settings"

    plain = find_unread(Quadratic, ["lr", "noise"], read=["lr"])
    assert plain is not None and plain.message.endswith(
        "read it in train(), or remove it from the space")
    adapted = find_unread(Adapter, ["lr", "noise", "extra"], read=["lr"])
    assert adapted is not None and adapted.message.endswith(
        "set them in configure(), where this base class reads settings, or remove them from "
        "the space")
    torch_finding = find_unread(TorchTrainable, ["learning_rate"], read=[])
    assert torch_finding is not None and "rename it, or read it in train_step()" in \
        torch_finding.message
