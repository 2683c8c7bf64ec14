"""Optimizers over stacked parameters: one update for the whole population, with a value of
every setting per member.

Each update follows the formula of its `torch.optim` namesake (SGD with momentum and L2
weight decay; Adam with L2 weight decay; AdamW with decoupled decay), so a member's update
equals what that optimizer would do to the member alone. Settings are tensors of shape [P];
state tensors have the shape of the stacked parameters, so an exploit copies a member's
optimizer state by copying the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

Tensors = dict[str, torch.Tensor]

OPTIMIZERS = ("sgd", "adam", "adamw")
DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"lr": 0.01, "momentum": 0.0, "weight_decay": 0.0, "dampening": 0.0},
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
}


def _per_member(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A [P] tensor shaped to broadcast against a stacked [P, ...] tensor."""
    return value.reshape(-1, *([1] * (like.dim() - 1))).to(like.dtype)


def init_state(kind: str, params: Tensors) -> Tensors:
    """Fresh optimizer state for stacked `params` (names prefixed by the buffer they hold)."""
    size = next(iter(params.values())).shape[0]
    device = next(iter(params.values())).device
    state: Tensors = {"step": torch.zeros(size, dtype=torch.float64, device=device)}
    buffers = ("momentum",) if kind == "sgd" else ("exp_avg", "exp_avg_sq")
    for name, p in params.items():
        for buffer in buffers:
            state[f"{buffer}.{name}"] = torch.zeros_like(p)
    return state


@torch.no_grad()
def update(kind: str, params: Tensors, grads: Tensors, state: Tensors,
           settings: Mapping[str, torch.Tensor]) -> None:
    """Apply one step in place: `settings` maps every name of `DEFAULTS[kind]` to a [P]
    tensor."""
    state["step"] += 1
    for name, p in params.items():
        g = grads[name]
        lr = _per_member(settings["lr"], p)
        wd = _per_member(settings["weight_decay"], p)
        if kind == "sgd":
            g = g + wd * p
            buf = state[f"momentum.{name}"]
            momentum = _per_member(settings["momentum"], p)
            dampening = _per_member(settings["dampening"], p)
            # torch.optim.SGD starts the buffer at the first gradient, undamped, and uses the
            # gradient itself when momentum is 0
            fresh = _per_member(((state["step"] == 1) | (settings["momentum"] == 0))
                                .to(p.dtype), p)
            buf.copy_(fresh * g + (1 - fresh) * (momentum * buf + (1 - dampening) * g))
            p.sub_(lr * buf)
            continue
        if kind == "adamw":
            p.mul_(1 - lr * wd)
        else:
            g = g + wd * p
        beta1, beta2 = _per_member(settings["beta1"], p), _per_member(settings["beta2"], p)
        exp_avg, exp_avg_sq = state[f"exp_avg.{name}"], state[f"exp_avg_sq.{name}"]
        exp_avg.lerp_(g, 1 - beta1)
        exp_avg_sq.mul_(beta2).add_((1 - beta2) * g * g)
        step = _per_member(state["step"], p)
        bias1 = 1 - beta1.double() ** step
        bias2_sqrt = (1 - beta2.double() ** step).sqrt()
        denom = exp_avg_sq.sqrt() / bias2_sqrt.to(p.dtype) + _per_member(settings["eps"], p)
        p.sub_((lr / bias1.to(p.dtype)) * exp_avg / denom)
