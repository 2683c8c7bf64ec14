"""Applying a member's hyperparameters to a `transformers.Trainer`, its optimizer, scheduler
and model (see `popbt.huggingface` for the names applied)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from popbt.errors import ConfigError

try:
    import torch
    import transformers
    from transformers.trainer_pt_utils import LabelSmoother
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("popbt.huggingface needs Hugging Face Transformers: "
                      "pip install 'popbt[huggingface]'") from exc

ARGUMENTS = ("learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon",
             "max_grad_norm", "label_smoothing_factor", "warmup_steps", "warmup_ratio")


def dropouts(model: torch.nn.Module) -> dict[str, float]:
    """The dropout-type float values of `model.config`, by name."""
    config: Any = getattr(model, "config", None)
    values = config.to_dict() if hasattr(config, "to_dict") else {}
    return {name: float(value) for name, value in values.items()
            if "dropout" in name and isinstance(value, float)}


def set_dropouts(model: torch.nn.Module, values: Mapping[str, float]) -> None:
    """Set dropout values on `model.config` and on its modules, as a model built from the new
    config (on the meta device, no memory) has them.

    Raises:
        ConfigError: the new values change the model's structure.
    """
    config = model.config  # type: ignore[union-attr]  # checked by dropouts
    for name, value in values.items():
        setattr(config, name, float(value))
    with torch.device("meta"):
        reference = type(model)(config)
    ours = dict(model.named_modules())
    for name, module in reference.named_modules():
        own = ours.get(name)
        if type(own) is not type(module):
            raise ConfigError(f"{type(model).__name__} built with {dict(values)} has another "
                              f"structure (module {name!r}); these dropout values cannot "
                              f"change during training: remove them from the space")
        for attr, value in vars(module).items():
            if isinstance(value, float) and ("dropout" in attr or (
                    attr == "p" and isinstance(module, torch.nn.modules.dropout._DropoutNd))):
                setattr(own, attr, value)


def apply_before(trainer: transformers.Trainer, model: torch.nn.Module,
                 values: Mapping[str, Any], *, own_scheduler: bool) -> list[str]:
    """Set, before an interval, what the Trainer reads from its arguments and its model:
    the `ARGUMENTS` it has (`max_grad_norm`, read at every step; the optimizer's settings,
    and the scheduler's when it builds the scheduler itself: `own_scheduler`), the label
    smoother, the dropout values of the model's config. Returns the names applied but the
    optimizer's, which `apply_optimizer` applies once the Trainer has restored it.

    Raises:
        ConfigError: new dropout values that change the model's structure.
    """
    args = trainer.args
    for name in ARGUMENTS:
        if name in values and hasattr(args, name):
            setattr(args, name, values[name])
    applied = [n for n in ("max_grad_norm", "learning_rate") if n in values]
    if own_scheduler:
        applied += [n for n in ("warmup_steps", "warmup_ratio")
                    if n in values and hasattr(args, n)]
    if "label_smoothing_factor" in values:
        epsilon = float(values["label_smoothing_factor"])
        trainer.label_smoother = LabelSmoother(epsilon=epsilon) if epsilon else None
        applied.append("label_smoothing_factor")
    current = dropouts(model)
    changed = {k: values[k] for k in current if k in values and values[k] != current[k]}
    if changed:
        set_dropouts(model, changed)
    return applied + [k for k in current if k in values]


def apply_optimizer(trainer: transformers.Trainer, model: torch.nn.Module,
                    values: Mapping[str, Any]) -> list[str]:
    """Set the learning rate (the scheduler's base rates and each group's current rate),
    weight decay (on the groups that decay), betas and epsilon on the Trainer's optimizer;
    return the names applied."""
    optimizer, scheduler = trainer.optimizer, trainer.lr_scheduler
    assert optimizer is not None  # the Trainer builds it before training begins
    decaying = set(trainer.get_decay_parameter_names(model))
    decay_ids = {id(p) for n, p in model.named_parameters() if n in decaying}
    applied: set[str] = set()
    for i, group in enumerate(optimizer.param_groups):
        if "learning_rate" in values:
            set_lr(i, group, float(values["learning_rate"]), scheduler)
        if "weight_decay" in values and "weight_decay" in group:
            applied.add("weight_decay")
            if any(id(p) in decay_ids for p in group["params"]):
                group["weight_decay"] = float(values["weight_decay"])
        if "betas" in group:
            betas = list(group["betas"])
            for which, name in enumerate(("adam_beta1", "adam_beta2")):
                if name in values:
                    betas[which] = float(values[name])
                    applied.add(name)
            group["betas"] = tuple(betas)
        if "adam_epsilon" in values and "eps" in group:
            group["eps"] = float(values["adam_epsilon"])
            applied.add("adam_epsilon")
    if scheduler is not None and hasattr(scheduler, "_last_lr"):
        scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
    return sorted(applied)


def set_lr(i: int, group: dict[str, Any], lr: float, scheduler: Any) -> None:
    """Group `i`'s base rate becomes `lr`; its current rate is the schedule's at the current
    step (a `LambdaLR`, as the Trainer's schedules are), else the current rate scaled by the
    change of base rate, else `lr` (a scheduler without base rates)."""
    base_lrs = getattr(scheduler, "base_lrs", None)
    if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        group["lr"] = lr * scheduler.lr_lambdas[i](scheduler.last_epoch)
    elif base_lrs is not None and base_lrs[i]:
        group["lr"] = group["lr"] * lr / base_lrs[i]
    else:
        group["lr"] = lr
    if base_lrs is not None:
        base_lrs[i] = lr
    group["initial_lr"] = lr
