"""One vectorized step equals P separate steps of P ordinary modules and torch.optim optimizers
with the same hyperparameters and batches, before and after an exploit's row copy."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn

from popbt.vectorized import _optim
from popbt.vectorized._stack import Stack, build_members, per_example_cross_entropy

P = 4
SEEDS = [11, 12, 13, 14]
HPARAMS: dict[str, list[dict[str, float]]] = {
    "sgd": [{"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3, "dampening": 0.0},
            {"lr": 0.05, "momentum": 0.0, "weight_decay": 0.0, "dampening": 0.5},
            {"lr": 0.2, "momentum": 0.5, "weight_decay": 1e-2, "dampening": 0.1},
            {"lr": 0.01, "momentum": 0.99, "weight_decay": 0.0, "dampening": 0.0}],
    "adam": [{"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
             {"lr": 3e-3, "beta1": 0.5, "beta2": 0.99, "eps": 1e-6, "weight_decay": 1e-3},
             {"lr": 1e-3, "beta1": 0.0, "beta2": 0.9, "eps": 1e-8, "weight_decay": 0.0},
             {"lr": 5e-2, "beta1": 0.95, "beta2": 0.9999, "eps": 1e-7, "weight_decay": 1e-2}],
}
HPARAMS["adamw"] = HPARAMS["adam"]


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))


class TwoLayers(nn.Module):
    """The same network as a custom module: trained through vmap, not batched matmuls."""

    def __init__(self) -> None:
        super().__init__()
        self.inner, self.outer = nn.Linear(5, 16), nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outer(torch.tanh(self.inner(x)))


MODELS = {"bmm": mlp, "vmap": TwoLayers}


def torch_optimizer(kind: str, model: nn.Module, hp: dict[str, float]) -> torch.optim.Optimizer:
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=hp["lr"], momentum=hp["momentum"],
                               weight_decay=hp["weight_decay"], dampening=hp["dampening"])
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(model.parameters(), lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
               eps=hp["eps"], weight_decay=hp["weight_decay"])


class Reference:
    """P ordinary modules, each with its own torch.optim optimizer."""

    def __init__(self, kind: str, path: str = "bmm") -> None:
        self.models = []
        for seed in SEEDS:
            torch.manual_seed(seed)
            self.models.append(MODELS[path]())
        self.opts = [torch_optimizer(kind, m, hp)
                     for m, hp in zip(self.models, HPARAMS[kind], strict=True)]

    def step(self, x: torch.Tensor, y: torch.Tensor, sizes: list[int]) -> None:
        for i, (model, opt) in enumerate(zip(self.models, self.opts, strict=True)):
            loss = nn.functional.cross_entropy(model(x[i, :sizes[i]]), y[i, :sizes[i]])
            opt.zero_grad()
            loss.backward()
            opt.step()

    def copy(self, donor: int, receiver: int) -> None:
        self.models[receiver].load_state_dict(self.models[donor].state_dict())
        # deep-copied: load_state_dict would otherwise share the donor's buffer tensors
        self.opts[receiver].load_state_dict(copy.deepcopy(self.opts[donor].state_dict()))


class Vectorized:
    def __init__(self, kind: str, path: str = "bmm") -> None:
        self.kind = kind
        template, self.layout, self.flat, _ = build_members(MODELS[path], SEEDS,
                                                            torch.device("cpu"))
        self.stack = Stack(template, self.layout, per_example_cross_entropy)
        assert (self.stack.plan is not None) == (path == "bmm")
        self.state = _optim.init_state(kind, self.flat)
        self.settings = {k: torch.tensor([hp[k] for hp in HPARAMS[kind]])
                         for k in HPARAMS[kind][0]}

    def step(self, x: torch.Tensor, y: torch.Tensor, sizes: list[int]) -> None:
        mask = (torch.arange(x.shape[1])[None, :] < torch.tensor(sizes)[:, None]).float()
        grads = self.stack.gradients(self.flat, x, y, mask, {}, shared_batch=False)
        _optim.update(self.kind, self.flat, grads, self.state, self.settings)

    def copy(self, donor: int, receiver: int) -> None:
        index = torch.arange(P)
        index[receiver] = donor
        self.flat = self.flat.index_select(0, index)
        self.state = {k: v.index_select(0, index) for k, v in self.state.items()}
        # an exploit takes the donor's hyperparameters too (load_state_dict does the same)
        self.settings = {k: v.index_select(0, index) for k, v in self.settings.items()}


def assert_same(ref: Reference, vec: Vectorized) -> None:
    params = vec.layout.views(vec.flat)
    for i, model in enumerate(ref.models):
        for name, p in model.named_parameters():
            torch.testing.assert_close(params[name][i], p.detach(), rtol=1e-5, atol=1e-6)


def batches(n: int, size: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    return [(torch.randn(P, size, 5, generator=gen), torch.randint(0, 3, (P, size), generator=gen))
            for _ in range(n)]


@pytest.mark.parametrize("path", sorted(MODELS))
@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw"])
def test_vectorized_steps_equal_separate_steps(kind: str, path: str):
    ref, vec = Reference(kind, path), Vectorized(kind, path)
    assert_same(ref, vec)  # the same initial weights, member by member
    for x, y in batches(5):
        ref.step(x, y, [8] * P)
        vec.step(x, y, [8] * P)
        assert_same(ref, vec)


@pytest.mark.parametrize("path", sorted(MODELS))
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_after_an_exploit_the_copy_continues_like_the_donor(kind: str, path: str):
    ref, vec = Reference(kind, path), Vectorized(kind, path)
    data = batches(6)
    for x, y in data[:3]:
        ref.step(x, y, [8] * P)
        vec.step(x, y, [8] * P)
    ref.copy(donor=2, receiver=0)
    vec.copy(donor=2, receiver=0)
    assert_same(ref, vec)
    for x, y in data[3:]:
        ref.step(x, y, [8] * P)
        vec.step(x, y, [8] * P)
        assert_same(ref, vec)


def test_optimizer_state_moves_with_the_weights():
    vec = Vectorized("adam")
    for x, y in batches(3):
        vec.step(x, y, [8] * P)
    before = {k: v.clone() for k, v in vec.state.items()}
    vec.copy(donor=3, receiver=1)
    assert sorted(vec.state) == ["exp_avg", "exp_avg_sq", "step"]
    for name, value in vec.state.items():
        assert torch.equal(value[1], before[name][3]), name  # the donor's moments and step
        assert torch.equal(value[3], before[name][3])
        assert torch.equal(value[0], before[name][0])
    assert vec.state["step"].tolist() == [3.0] * P


@pytest.mark.parametrize("path", sorted(MODELS))
def test_a_smaller_batch_size_is_a_mask_over_the_largest_batch(path: str):
    ref, vec = Reference("sgd", path), Vectorized("sgd", path)
    sizes = [8, 2, 5, 1]
    for x, y in batches(3):
        ref.step(x, y, sizes)
        vec.step(x, y, sizes)
        assert_same(ref, vec)


@pytest.mark.parametrize("path", sorted(MODELS))
def test_a_shared_batch_equals_each_member_seeing_it(path: str):
    ref, vec = Reference("adam", path), Vectorized("adam", path)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 5, generator=gen), torch.randint(0, 3, (8,), generator=gen)
    mask = torch.ones(P, 8)
    grads = vec.stack.gradients(vec.flat, x, y, mask, {}, shared_batch=True)
    _optim.update("adam", vec.flat, grads, vec.state, vec.settings)
    ref.step(x.expand(P, 8, 5), y.expand(P, 8), [8] * P)
    assert_same(ref, vec)


@pytest.mark.parametrize("path", sorted(MODELS))
def test_the_loss_gets_each_members_hyperparameters(path: str):
    def loss(outputs: torch.Tensor, targets: torch.Tensor, hp: dict[str, Any]) -> torch.Tensor:
        return hp["scale"] * per_example_cross_entropy(outputs, targets)

    template, layout, flat, _ = build_members(MODELS[path], SEEDS, torch.device("cpu"))
    stack = Stack(template, layout, loss)
    x, y = batches(1)[0]
    scale = torch.tensor([0.0, 1.0, 2.0, 1.0])
    g = stack.gradients(flat, x, y, torch.ones(P, 8), {"scale": scale}, False)
    plain = Stack(template, layout, per_example_cross_entropy).gradients(
        flat, x, y, torch.ones(P, 8), {}, False)
    assert torch.all(g[0] == 0) and g.shape == flat.shape
    torch.testing.assert_close(g[2], 2 * plain[2])
    torch.testing.assert_close(g[1], plain[1])


def test_both_paths_give_the_same_outputs_and_gradients():
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(P, 8, 5, generator=gen), torch.randint(0, 3, (P, 8), generator=gen)
    mask = (torch.arange(8)[None, :] < torch.tensor([8, 3, 1, 6])[:, None]).float()
    fast, slow = Vectorized("sgd", "bmm"), Vectorized("sgd", "bmm")
    slow.stack.plan = None  # force vmap over functional_call on the same module
    torch.testing.assert_close(fast.stack.outputs(fast.flat, x[0]),
                               slow.stack.outputs(slow.flat, x[0]))
    torch.testing.assert_close(fast.stack.gradients(fast.flat, x, y, mask, {}, False),
                               slow.stack.gradients(slow.flat, x, y, mask, {}, False))
