"""The fast path for the commonest small model: `nn.Sequential` of `nn.Linear` layers,
elementwise activations and dropout, run for the whole population as batched matrix products
(dropout then draws one mask for the whole [P, batch, features] tensor, so each member its
own, as it does under `vmap(randomness="different")`).

`torch.func.vmap` over `functional_call` works for any module but pays for its generality;
for such MLPs one `baddbmm` per layer over [P, batch, features] does the same arithmetic, and
autograd through it gives every member's gradient at once.
"""

from __future__ import annotations

import torch
from torch import nn

ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
               nn.Softplus, nn.Mish, nn.Hardtanh, nn.Identity, nn.Dropout)

Plan = list[tuple[str, str | None] | nn.Module]


def plan(template: nn.Module, prefix: str = "") -> Plan | None:
    """The layers of `template` as (weight name, bias name) pairs and activation (or dropout)
    modules, or None when it is not a Sequential of Linear layers, elementwise activations
    and dropout (or a single Linear). `prefix` is the module's name within its parent (the
    parameters' names begin with it)."""
    if type(template) is nn.Linear:
        return [(f"{prefix}weight", f"{prefix}bias" if template.bias is not None else None)]
    if type(template) is not nn.Sequential:
        return None
    steps: Plan = []
    for name, child in template.named_children():
        if type(child) is nn.Linear:
            steps.append((f"{prefix}{name}.weight",
                          f"{prefix}{name}.bias" if child.bias is not None else None))
        elif type(child) in ELEMENTWISE:
            steps.append(child)
        else:
            return None
    return steps


def forward(steps: Plan, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Every member's outputs [P, B, out] for inputs [P, B, in], or [B, in] shared by all;
    `params` holds the stacked tensors ([P, out, in] weights, [P, out] biases)."""
    h = x
    for step in steps:
        if isinstance(step, nn.Module):
            if isinstance(step, nn.Dropout) and step.training and h.dim() == 2:
                size = next(v for v in params.values()).shape[0]
                h = h.expand(size, *h.shape)  # a mask of each member's own
            h = step(h)
            continue
        weight = params[step[0]].transpose(1, 2)
        bias = params[step[1]] if step[1] is not None else None
        if h.dim() == 2:  # the shared batch meets the first layer
            h = torch.matmul(h, weight)
            h = h if bias is None else h + bias[:, None, :]
        elif bias is None:
            h = torch.bmm(h, weight)
        else:
            h = torch.baddbmm(bias[:, None, :], h, weight)
    return h
