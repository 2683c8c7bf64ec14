"""The PyTorch helper: optimizer settings from hyperparameters, complete state round trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from popbt.checkpoints import CheckpointStore
from popbt.torch import TorchTrainable, apply_hparams


class Regression(TorchTrainable):
    def build(self, hparams: dict[str, Any], seed: int):
        model = torch.nn.Linear(3, 1)
        return model, torch.optim.SGD(model.parameters(), lr=hparams["lr"],
                                      momentum=hparams["momentum"])

    def train_step(self, hparams: dict[str, Any]) -> None:
        x = torch.randn(16, 3, generator=self.generator)
        loss = (self.model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def evaluate(self) -> float:
        return -float(self.model.weight.sub(1).pow(2).sum())


HP = {"lr": 0.05, "momentum": 0.9}


def _params(t: TorchTrainable) -> list[torch.Tensor]:
    return [p.detach().clone() for p in t.model.parameters()]


def test_apply_hparams_sets_optimizer_settings():
    model = torch.nn.Linear(2, 2)
    adam = torch.optim.Adam(model.parameters(), lr=0.1)
    applied = apply_hparams(adam, {"lr": 0.01, "weight_decay": 1e-4, "beta1": 0.8,
                                   "batch_size": 32})
    assert sorted(applied) == ["beta1", "lr", "weight_decay"]
    group = adam.param_groups[0]
    assert group["lr"] == 0.01 and group["weight_decay"] == 1e-4
    assert group["betas"] == (0.8, 0.999)


def test_hyperparameters_change_between_train_calls():
    t = Regression()
    t.setup(HP, seed=1)
    t.train(HP, 1)
    t.train({"lr": 0.001, "momentum": 0.5}, 1)
    assert t.optimizer.param_groups[0]["lr"] == 0.001
    assert t.optimizer.param_groups[0]["momentum"] == 0.5
    assert t.step == 2


def test_members_with_different_seeds_start_differently_and_the_same_seed_identically():
    a, b, c = Regression(), Regression(), Regression()
    a.setup(HP, seed=1)
    b.setup(HP, seed=1)
    c.setup(HP, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(_params(a), _params(b), strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(_params(a), _params(c), strict=True))


def test_a_restored_copy_continues_exactly_like_the_original(tmp_path: Path):
    original = Regression()
    original.setup(HP, seed=3)
    original.train(HP, 25)
    store = CheckpointStore(tmp_path)
    rel, checksum, _ = store.save("pop/m00000", 25, original.state_dict())
    assert rel.endswith(".pt")
    copy = Regression()
    copy.setup(HP, seed=99)  # a different member receiving the exploit
    copy.load_state_dict(store.load(rel, checksum))
    assert copy.step == 25
    momentum = original.optimizer.state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(copy.optimizer.state_dict()["state"][0]["momentum_buffer"], momentum)
    original.train(HP, 10)
    copy.train(HP, 10)
    assert all(torch.equal(x, y) for x, y in zip(_params(original), _params(copy), strict=True))


class TwoOptimizers(TorchTrainable):
    """A model whose halves are trained by two named optimizers."""

    def build(self, hparams: dict[str, Any], seed: int):
        model = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 1), "b": torch.nn.Linear(3, 1)})
        return model, {"a": torch.optim.SGD(model["a"].parameters(), lr=0.1, momentum=0.9),
                       "b": torch.optim.Adam(model["b"].parameters(), lr=0.1)}

    def train_step(self, hparams: dict[str, Any]) -> None:
        x = torch.randn(8, 3, generator=self.generator)
        for name in ("a", "b"):
            loss = (self.model[name](x) - x.sum(1, keepdim=True)).pow(2).mean()
            self.optimizers[name].zero_grad()
            loss.backward()
            self.optimizers[name].step()

    def evaluate(self) -> float:
        return 0.0


def test_named_optimizers_take_their_own_and_shared_hyperparameters():
    t = TwoOptimizers()
    hp = {"a_lr": 0.01, "b_lr": 0.002, "weight_decay": 1e-3, "b_beta1": 0.5}
    t.setup(hp, seed=0)
    t.train(hp, 1)
    a, b = t.optimizers["a"].param_groups[0], t.optimizers["b"].param_groups[0]
    assert (a["lr"], b["lr"]) == (0.01, 0.002)
    assert a["weight_decay"] == b["weight_decay"] == 1e-3
    assert b["betas"] == (0.5, 0.999) and a["momentum"] == 0.9
    assert apply_hparams(t.optimizers["a"], {"lr": 0.3, "a_lr": 0.2}, prefix="a") == ["lr", "a_lr"]
    assert a["lr"] == 0.2  # the named setting wins over the shared one


def test_named_optimizers_round_trip_through_a_checkpoint(tmp_path: Path):
    hp = {"a_lr": 0.01, "b_lr": 0.002}
    original = TwoOptimizers()
    original.setup(hp, seed=0)
    original.train(hp, 5)
    store = CheckpointStore(tmp_path)
    rel, checksum, _ = store.save("pop/m00000", 5, original.state_dict())
    copy = TwoOptimizers()
    copy.setup(hp, seed=7)
    copy.load_state_dict(store.load(rel, checksum))
    exp_avg = original.optimizers["b"].state_dict()["state"][0]["exp_avg"]
    assert torch.equal(copy.optimizers["b"].state_dict()["state"][0]["exp_avg"], exp_avg)
    original.train(hp, 5)
    copy.train(hp, 5)
    assert all(torch.equal(x, y) for x, y in zip(_params(original), _params(copy), strict=True))


def test_build_returning_something_else_than_optimizers_is_refused():
    class NoOptimizer(Regression):
        def build(self, hparams: dict[str, Any], seed: int):
            return torch.nn.Linear(1, 1), {}

    with pytest.raises(TypeError, match="NoOptimizer.build must return"):
        NoOptimizer().setup(HP, seed=0)
