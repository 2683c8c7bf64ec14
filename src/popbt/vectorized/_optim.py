"""Optimizers over flat parameter rows: one update for the whole population, with a value of
every setting per member.

Each update follows the formula of its `torch.optim` namesake (SGD with momentum and L2
weight decay; Adam with L2 weight decay; AdamW with decoupled decay), so a member's update
equals what that optimizer would do to the member alone. Settings are tensors of shape [P];
state tensors are [P, N] like the parameters (and [P] for the step count), so an exploit
copies a member's optimizer state by copying the same rows.
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


def init_state(kind: str, flat: torch.Tensor) -> Tensors:
    """Fresh optimizer state for parameters `flat` [P, N]."""
    state = {"step": torch.zeros(flat.shape[0], dtype=torch.float64, device=flat.device)}
    for buffer in ("momentum",) if kind == "sgd" else ("exp_avg", "exp_avg_sq"):
        state[buffer] = torch.zeros_like(flat)
    return state


@torch.no_grad()
def update(kind: str, flat: torch.Tensor, g: torch.Tensor, state: Tensors,
           settings: Mapping[str, torch.Tensor]) -> None:
    """Apply one step to `flat` [P, N] in place, given the gradients `g` [P, N] (which it
    overwrites); `settings` maps every name of `DEFAULTS[kind]` to a [P] tensor."""
    state["step"] += 1
    column = {k: v.to(flat.dtype)[:, None] for k, v in settings.items()}
    lr, wd = column["lr"], column["weight_decay"]
    if kind == "sgd":
        g.addcmul_(wd, flat)
        buf = state["momentum"]
        buf.mul_(column["momentum"]).addcmul_(1 - column["dampening"], g)
        # torch.optim.SGD starts the buffer at the first gradient, undamped, and uses the
        # gradient itself when momentum is 0
        fresh = (state["step"] == 1) | (settings["momentum"] == 0)
        if bool(fresh.any()):
            buf[fresh] = g[fresh]
        flat.addcmul_(-lr, buf)
        return
    if kind == "adamw":
        flat.mul_(1 - lr * wd)
    else:
        g.addcmul_(wd, flat)
    beta1, beta2 = column["beta1"], column["beta2"]
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg.lerp_(g, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(g.mul_(g), 1 - beta2)
    step = state["step"][:, None]
    bias1 = (1 - settings["beta1"].double()[:, None] ** step).to(flat.dtype)
    bias2_sqrt = (1 - settings["beta2"].double()[:, None] ** step).sqrt().to(flat.dtype)
    denom = torch.sqrt(exp_avg_sq, out=g).div_(bias2_sqrt).add_(column["eps"])
    flat.addcmul_(-lr / bias1, torch.div(exp_avg, denom, out=denom))
