"""Dropout and BatchNorm on the vectorized path, each equal to P separate modules: a dropout
mask of each member's own (row i of one draw), running statistics as per-member state that
training updates, evaluation reads, an exploit copies and a snapshot keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import popbt
from popbt.vectorized import VectorizedActorCritic, VectorizedPopulation, _optim
from popbt.vectorized._stack import Stack, build_members, per_example_cross_entropy
from popbt.vectorized.envs import CartPole

P, B, H, DROP = 4, 8, 16, 0.5
SEEDS = [21, 22, 23, 24]


def dropout_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(5, H), nn.Tanh(), nn.Dropout(DROP), nn.Linear(H, 3))


class DropoutNet(nn.Module):
    """The same network as a custom module: run through vmap, not batched matmuls."""

    def __init__(self) -> None:
        super().__init__()
        self.inner, self.drop, self.outer = nn.Linear(5, H), nn.Dropout(DROP), nn.Linear(H, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outer(self.drop(torch.tanh(self.inner(x))))


def batchnorm_net() -> nn.Module:
    return nn.Sequential(nn.Linear(5, H), nn.BatchNorm1d(H), nn.ReLU(), nn.Linear(H, 3))


def separate(model_fn: Any) -> list[nn.Module]:
    models = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        models.append(model_fn())
    return models


def data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(P, B, 5, generator=gen), torch.randint(0, 3, (P, B), generator=gen)


def with_mask(model: nn.Module, mask: torch.Tensor) -> None:
    """Make the model's dropout apply `mask` (kept with probability 1 - DROP), rescaled."""
    drop = next(m for m in model.modules() if isinstance(m, nn.Dropout))
    drop.register_forward_hook(lambda _m, inputs, _out: inputs[0] * mask / (1 - DROP))


@pytest.mark.parametrize("model_fn", [dropout_mlp, DropoutNet], ids=["bmm", "vmap"])
def test_dropout_gives_each_member_its_own_mask_as_separate_modules(model_fn: Any):
    template, layout, flat, buffers = build_members(model_fn, SEEDS, torch.device("cpu"))
    stack = Stack(template, layout, per_example_cross_entropy)
    assert (stack.plan is not None) == (model_fn is dropout_mlp)
    x, y = data()
    torch.manual_seed(5)
    grads = stack.gradients(flat, x, y, torch.ones(P, B), {}, False, buffers)
    torch.manual_seed(5)  # the same draw, for the whole population at once
    masks = torch.empty(P, B, H).bernoulli_(1 - DROP)
    assert all(not torch.equal(masks[0], masks[i]) for i in range(1, P))
    for i, model in enumerate(separate(model_fn)):
        with_mask(model, masks[i])
        loss = nn.functional.cross_entropy(model(x[i]), y[i])
        expected = torch.cat([g.reshape(-1) for g in torch.autograd.grad(
            loss, list(model.parameters()))])
        torch.testing.assert_close(grads[i], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model_fn", [dropout_mlp, DropoutNet], ids=["bmm", "vmap"])
def test_members_with_the_same_weights_and_batch_still_drop_differently(model_fn: Any):
    template, layout, flat, _ = build_members(model_fn, [3] * P, torch.device("cpu"))
    stack = Stack(template, layout, per_example_cross_entropy)
    x, y = data()
    grads = stack.gradients(flat, x[0], y[0], torch.ones(P, B), {}, True)
    assert all(not torch.allclose(grads[0], grads[i]) for i in range(1, P))


@pytest.mark.parametrize("model_fn", [dropout_mlp, DropoutNet, batchnorm_net],
                         ids=["bmm", "vmap", "batchnorm"])
def test_evaluation_is_each_modules_eval_mode(model_fn: Any):
    template, layout, flat, buffers = build_members(model_fn, SEEDS, torch.device("cpu"))
    stack = Stack(template, layout, per_example_cross_entropy)
    if buffers:  # statistics that differ by member
        buffers = {k: v + torch.rand(v.shape) if v.is_floating_point() else v
                   for k, v in buffers.items()}
    x, _ = data()
    outputs = stack.outputs(flat, x[0], buffers)
    for i, model in enumerate(separate(model_fn)):
        model.load_state_dict({k: v[i] for k, v in buffers.items()}, strict=False)
        model.eval()
        with torch.no_grad():
            torch.testing.assert_close(outputs[i], model(x[0]), rtol=1e-5, atol=1e-6)


def test_batchnorm_statistics_are_each_members_and_an_exploit_copies_them():
    template, layout, flat, buffers = build_members(batchnorm_net, SEEDS, torch.device("cpu"))
    stack = Stack(template, layout, per_example_cross_entropy)
    assert stack.plan is None and sorted(buffers) == [
        "1.num_batches_tracked", "1.running_mean", "1.running_var"]
    lrs = [0.1, 0.05, 0.2, 0.01]
    state = _optim.init_state("sgd", flat)
    settings = {**{k: torch.full((P,), v) for k, v in _optim.DEFAULTS["sgd"].items()},
                "lr": torch.tensor(lrs)}
    models = separate(batchnorm_net)
    opts = [torch.optim.SGD(m.parameters(), lr=lr) for m, lr in zip(models, lrs, strict=True)]

    def step(seed: int) -> None:
        x, y = data(seed)
        grads = stack.gradients(flat, x, y, torch.ones(P, B), {}, False, buffers)
        _optim.update("sgd", flat, grads, state, settings)
        for i, (model, opt) in enumerate(zip(models, opts, strict=True)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i]), y[i]).backward()
            opt.step()

    def assert_same() -> None:
        params = layout.views(flat)
        for i, model in enumerate(models):
            for name, value in model.state_dict().items():
                mine = params[name][i] if name in params else buffers[name][i]
                torch.testing.assert_close(mine, value, rtol=1e-5, atol=1e-6)

    for seed in range(3):
        step(seed)
        assert_same()
    assert buffers["1.num_batches_tracked"].tolist() == [3] * P
    index = torch.tensor([2, 1, 2, 3])  # member 0 takes member 2's weights and statistics
    flat = flat.index_select(0, index)
    buffers = {k: v.index_select(0, index) for k, v in buffers.items()}
    settings = {k: v.index_select(0, index) for k, v in settings.items()}
    models[0].load_state_dict(models[2].state_dict())
    opts[0] = torch.optim.SGD(models[0].parameters(), lr=lrs[2])
    assert_same()
    for seed in range(3, 5):
        step(seed)
        assert_same()


def digits() -> dict[str, Any]:
    from popbt.demos.digits import load_data
    d = load_data()
    return {"train": d["train"], "val": d["val"]}


def regularised() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(32, 10))


def make(url: str, **overrides: Any) -> VectorizedPopulation:
    kwargs: dict[str, Any] = {
        "model_fn": regularised, "size": 4, "optimizer": "adam", "metric": "accuracy",
        "space": popbt.Space({"lr": popbt.LogUniform(1e-3, 3e-2)}),
        "ready": popbt.Every(steps=20), "exploit": popbt.Truncation(0.25), "name": "bn",
        "storage": url, "seed": 0}
    kwargs.update(overrides)
    return VectorizedPopulation(**kwargs)


def test_a_population_with_dropout_and_batchnorm_trains_resumes_and_exports(tmp_path: Path):
    whole = make(f"sqlite:///{tmp_path / 'a.db'}")
    torch.manual_seed(0)
    best = whole.train(digits(), steps=100)
    assert best is not None and best.score > 0.8
    assert whole.population.events(kinds=[popbt.EventKind.EXPLOIT])
    # the run's randomness is its own: the caller's generator does not change the result
    url = f"sqlite:///{tmp_path / 'b.db'}"
    torch.manual_seed(1)
    make(url).train(digits(), steps=60)
    resumed = make(url, load_if_exists=True)
    resumed.train(digits(), steps=100)
    assert torch.equal(whole.flat, resumed.flat)
    assert all(torch.equal(v, resumed.buffers[k]) for k, v in whole.buffers.items())
    # a member's module holds its own running statistics and scores what was recorded
    model = whole.member_model(best.member_id)
    assert torch.equal(model[1].running_mean, whole.buffers["1.running_mean"][best.member_id])
    model.eval()
    x, y = digits()["val"]
    with torch.no_grad():
        assert float((model(x).argmax(1) == y).float().mean()) == pytest.approx(best.score)


def test_a_snapshot_of_another_models_buffers_is_refused(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    make(url, model_fn=lambda: nn.Sequential(nn.Linear(64, 32), nn.LayerNorm(32), nn.ReLU(),
                                             nn.Linear(32, 10))).train(digits(), steps=20)
    with pytest.raises(popbt.ConfigError, match="another model"):
        make(url, load_if_exists=True)


def test_an_agent_with_buffers_is_refused(db_url: str):
    class Normed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.BatchNorm1d(4)
            self.policy, self.value = nn.Linear(4, 2), nn.Linear(4, 1)

        def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.policy(obs), self.value(obs)[..., 0]

    with pytest.raises(popbt.ConfigError, match=r"buffers \['norm.num_batches_tracked'"):
        VectorizedActorCritic(model_fn=Normed, env=CartPole, size=2, name="normed",
                              space=popbt.Space({"lr": popbt.LogUniform(1e-4, 1e-3)}),
                              ready=popbt.Every(steps=5), storage=db_url)


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="no CUDA device on this machine: dropout's and BatchNorm's GPU "
                           "path of VectorizedPopulation was not run")
def test_dropout_and_batchnorm_train_and_resume_on_cuda(tmp_path: Path):
    whole = make(f"sqlite:///{tmp_path / 'a.db'}", device="cuda")
    whole.train(digits(), steps=60)
    assert whole.flat.is_cuda and all(v.is_cuda for v in whole.buffers.values())
    url = f"sqlite:///{tmp_path / 'b.db'}"
    make(url, device="cuda").train(digits(), steps=40)
    resumed = make(url, device="cuda", load_if_exists=True)
    resumed.train(digits(), steps=60)
    assert torch.equal(whole.flat, resumed.flat)
