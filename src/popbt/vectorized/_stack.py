"""A population of one architecture as one flat tensor: vmapped loss gradients and outputs.

Every member's parameters are one row of a [P, N] tensor (row i is member i's); a `Layout`
names the slices. The optimizer then updates, and an exploit copies, one tensor instead of
one per parameter. The module itself is kept once, on the meta device, and called with
`torch.func.functional_call` on views of a row.

Random layers (dropout) draw for every member on its own (`vmap(randomness="different")`):
member i's mask is row i of one draw for the whole population. Buffers (BatchNorm's running
statistics) are per-member state, stacked [P, ...]: training updates each member's row from
its own batch, in place; evaluation reads them. The module is in training mode for gradients
and in evaluation mode for outputs, as a training loop would put it.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from popbt.errors import ConfigError
from popbt.vectorized import _bmm

Tensors = dict[str, torch.Tensor]
LossFn = Callable[..., torch.Tensor]


def per_example_cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The default loss: cross-entropy of each example (shape [B])."""
    return nn.functional.cross_entropy(outputs, targets, reduction="none")


class Layout:
    """Where each named parameter lies in a flat row: (name, shape, offset, size)."""

    def __init__(self, model: nn.Module) -> None:
        self.entries: list[tuple[str, torch.Size, int, int]] = []
        offset = 0
        for name, p in model.named_parameters():
            self.entries.append((name, p.shape, offset, p.numel()))
            offset += p.numel()
        self.size = offset

    @property
    def names(self) -> list[str]:
        """The parameters' names, in row order."""
        return [name for name, *_ in self.entries]

    def views(self, flat: torch.Tensor) -> Tensors:
        """{name: view} of a row [N] (shapes as in the module) or of rows [P, N] ([P, ...])."""
        lead = flat.shape[:-1]
        return {name: flat[..., off:off + n].view(*lead, *shape)
                for name, shape, off, n in self.entries}

    def flatten(self, params: Tensors) -> torch.Tensor:
        """The inverse of `views` for stacked tensors {name: [P, ...]}: [P, N]."""
        return torch.cat([params[name].reshape(params[name].shape[0], -1)
                          for name in self.names], dim=1)


def build_members(model_fn: Callable[[], nn.Module], seeds: Sequence[int],
                  device: torch.device) -> tuple[nn.Module, Layout, torch.Tensor, Tensors]:
    """The meta-device template, its layout, the flat parameters [P, N] and the stacked
    buffers {name: [P, ...]} of one `model_fn()` per seed (each built under
    `torch.manual_seed(seed)`, as `popbt.torch.TorchTrainable` does).

    Raises:
        ConfigError: `model_fn` returns something else than a module.
    """
    models = []
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = model_fn()
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model_fn returned {model!r}, not a torch.nn.Module")
        models.append(model)
    params, buffers = stack_module_state(models)
    layout = Layout(models[0])
    template = copy.deepcopy(models[0]).to("meta")
    flat = layout.flatten({k: v.detach() for k, v in params.items()})
    return template, layout, flat.to(device), {k: v.to(device) for k, v in buffers.items()}


def takes_hparams(loss_fn: LossFn) -> bool:
    """Whether `loss_fn` accepts a third argument (the member's hyperparameters)."""
    try:
        params = inspect.signature(loss_fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind is p.VAR_POSITIONAL for p in params)


def _masked_mean(losses: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if losses.dim() != 1:
        raise ConfigError(f"loss_fn returned a tensor of shape {tuple(losses.shape)}; "
                          f"return one loss per example (shape [batch])")
    return (losses * mask).sum() / mask.sum()


class Stack:
    """Computations over flat parameter rows of `template` (and its stacked buffers):
    batched matrix products for a Sequential MLP, `vmap` over `functional_call` for any other
    module."""

    def __init__(self, template: nn.Module, layout: Layout, loss_fn: LossFn) -> None:
        self.template = template
        self.layout = layout
        self.loss_fn = loss_fn
        self.with_hparams = takes_hparams(loss_fn)
        self.plan = _bmm.plan(template)

    def _fast(self, x: torch.Tensor, shared_batch: bool) -> bool:
        """Whether the batched-matmul path applies: an MLP fed [batch, features] examples."""
        return self.plan is not None and x.dim() == (2 if shared_batch else 3)

    def _loss(self, outputs: torch.Tensor, targets: torch.Tensor,
              hparams: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.with_hparams:
            return self.loss_fn(outputs, targets, hparams)
        return self.loss_fn(outputs, targets)

    def _call(self, params: Tensors, buffers: Tensors, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.template, (params, buffers), (x,))

    def _member_loss(self, params: Tensors, buffers: Tensors, x: torch.Tensor,
                     y: torch.Tensor, mask: torch.Tensor,
                     hparams: dict[str, torch.Tensor]) -> torch.Tensor:
        return _masked_mean(self._loss(self._call(params, buffers, x), y, hparams), mask)

    def gradients(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                  mask: torch.Tensor, hparams: dict[str, torch.Tensor],
                  shared_batch: bool, buffers: Tensors | None = None) -> torch.Tensor:
        """d(masked mean loss)/d(parameters) for every member, [P, N], in training mode.
        `x`, `y`: [P, B, ...] (or [B, ...] with `shared_batch`); `mask`: [P, B], 1 for the
        examples a member trains on; `buffers` ({name: [P, ...]}) are updated in place, as
        one forward pass of each member's module updates its own.

        Gradients are taken with respect to each parameter's view, not the flat tensor, so
        that no [P, N] zeros are made and summed per parameter."""
        batch_dim = None if shared_batch else 0
        params = self.layout.views(flat.detach())
        self.template.train()
        if not self._fast(x, shared_batch):
            grads = vmap(grad(self._member_loss), in_dims=(0, 0, batch_dim, batch_dim, 0, 0),
                         randomness="different")(params, buffers or {}, x, y, mask, hparams)
            return self.layout.flatten(grads)
        assert self.plan is not None
        leaves = {k: v.requires_grad_(True) for k, v in params.items()}
        with torch.enable_grad():
            outputs = _bmm.forward(self.plan, leaves, x)
            if self.with_hparams:
                member = vmap(lambda o, t, m, h: _masked_mean(self._loss(o, t, h), m),
                              in_dims=(0, batch_dim, 0, 0))(outputs, y, mask, hparams)
            else:  # one loss per example: the population's examples form one batch
                size, batch = mask.shape
                targets = y.expand(size, *y.shape) if shared_batch else y
                losses = self.loss_fn(outputs.reshape(size * batch, *outputs.shape[2:]),
                                      targets.reshape(size * batch, *targets.shape[2:]))
                if losses.shape != (size * batch,):
                    raise ConfigError(f"loss_fn returned a tensor of shape "
                                      f"{tuple(losses.shape)} for {size * batch} examples; "
                                      f"return one loss per example (shape [batch])")
                losses = losses.view(size, batch)
                member = (losses * mask).sum(1) / mask.sum(1)
            grads = torch.autograd.grad(member.sum(), list(leaves.values()))
        return self.layout.flatten(dict(zip(leaves, grads, strict=True)))

    def outputs(self, flat: torch.Tensor, x: torch.Tensor,
                buffers: Tensors | None = None) -> torch.Tensor:
        """Every member's outputs for the same inputs, in evaluation mode: [P, N, ...]."""
        self.template.eval()
        if self._fast(x, shared_batch=True):
            assert self.plan is not None
            return _bmm.forward(self.plan, self.layout.views(flat), x)
        return vmap(lambda params, bufs: self._call(params, bufs, x), randomness="different")(
            self.layout.views(flat), buffers or {})

    def losses(self, outputs: torch.Tensor, y: torch.Tensor,
               hparams: dict[str, torch.Tensor]) -> torch.Tensor:
        """Every member's mean loss on `outputs` [P, N, ...]: [P]."""
        return vmap(lambda o, h: self._loss(o, y, h).mean())(outputs, hparams)


def evaluate(stack: Stack, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
             hparams: dict[str, torch.Tensor],
             metrics_fn: Callable[[torch.Tensor, torch.Tensor], dict[str, Any]] | None,
             buffers: Tensors | None = None, chunk: int = 4096) -> list[dict[str, float]]:
    """Every member's metrics on (x, y) in evaluation mode: `loss`, `accuracy` for
    class-index targets, and whatever `metrics_fn(outputs, targets)` returns for one member
    (0-d tensors)."""
    with torch.no_grad():
        outputs = torch.cat([stack.outputs(flat, x[i:i + chunk], buffers)
                             for i in range(0, len(x), chunk)], dim=1)
        columns: dict[str, torch.Tensor] = {"loss": stack.losses(outputs, y, hparams)}
        if not torch.is_floating_point(y) and outputs.dim() == 3:
            columns["accuracy"] = (outputs.argmax(-1) == y).float().mean(-1)
        if metrics_fn is not None:
            extra = vmap(lambda o: metrics_fn(o, y))(outputs)
            if not isinstance(extra, dict):
                raise ConfigError(f"metrics_fn returned {type(extra).__name__}; return a dict "
                                  f"of scalar tensors")
            columns.update(extra)
    size = len(columns["loss"])
    for name, column in columns.items():
        if not isinstance(column, torch.Tensor) or tuple(column.shape) != (size,):
            shape = tuple(column.shape[1:]) if isinstance(column, torch.Tensor) else column
            raise ConfigError(f"metrics_fn's {name!r} is {shape!r} for one member; return a "
                              f"0-d tensor (a scalar) for each metric")
    values = {k: v.detach().to("cpu", torch.float64).tolist() for k, v in columns.items()}
    return [{k: float(v[i]) for k, v in values.items()} for i in range(size)]
