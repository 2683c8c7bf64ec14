"""The member's hyperparameters on a Trainer's optimizers and LR schedulers, applied once
Lightning has restored them (see `popbt.lightning`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import torch

from popbt.errors import ConfigError
from popbt.torch import apply_hparams


def _moved(value: float, old: float, new: float) -> float:
    """A learning rate derived from the base learning rate `old`, once the base is `new`: the
    base itself becomes `new` exactly, others scale by new / old."""
    if value == old:
        return new
    return value * (new / old) if old else value


def _rescale(scheduler: Any, index: int, old: float, new: float) -> None:
    """Move `scheduler`'s base learning rate of param group `index` from `old` to `new`, with
    the learning rates it derives from it (CyclicLR's `max_lrs`, the last ones it set), and
    its chained schedulers' (SequentialLR, ChainedScheduler)."""
    for name in ("base_lrs", "max_lrs", "_last_lr"):
        values = getattr(scheduler, name, None)
        if isinstance(values, list) and index < len(values):
            values[index] = _moved(values[index], old, new)
    for child in getattr(scheduler, "_schedulers", ()):
        _rescale(child, index, old, new)


def apply_to_optimizer(optimizer: torch.optim.Optimizer, schedulers: Sequence[Any],
                       hparams: Mapping[str, Any], prefix: str | None) -> list[str]:
    """`popbt.torch.apply_hparams` on `optimizer`, except that a new `lr` of a param group an
    LR scheduler was built on (one with `initial_lr`) becomes the base learning rate of its
    `schedulers`, the current learning rate scaled alike; the names applied."""
    before = [(group["lr"], group.get("initial_lr")) for group in optimizer.param_groups]
    applied = apply_hparams(optimizer, hparams, prefix)
    if not any(name == "lr" or prefix and name == f"{prefix}_lr" for name in applied):
        return applied
    for index, (group, (lr, base)) in enumerate(zip(optimizer.param_groups, before,
                                                    strict=True)):
        new = group["lr"]
        if base is None:
            continue  # no scheduler: the new value is the learning rate
        if new == base:
            group["lr"] = lr  # the schedule goes on as it was
            continue
        group["lr"], group["initial_lr"] = _moved(lr, base, new), new
        for key in ("max_lr", "min_lr"):  # OneCycleLR's
            if key in group:
                group[key] = _moved(group[key], base, new)
        for scheduler in schedulers:
            _rescale(scheduler, index, base, new)
    return applied


def _call_hook(obj: Any, hparams: Mapping[str, Any]) -> None:
    """`obj.on_hparams(hparams)`, where `obj` has such a method."""
    hook = getattr(obj, "on_hparams", None)
    if callable(hook):
        hook(hparams)


class ApplyHparams(pl.Callback):
    """Gives the member's hyperparameters to the module's and the data module's `on_hparams`
    in `on_fit_start` (after Lightning has restored the module and the data module from a
    checkpoint, before it asks for the training data), and applies them to every optimizer
    in `on_train_start` (after it has restored the optimizers and LR schedulers)."""

    def __init__(self, hparams: Mapping[str, Any], names: Sequence[str], owner: str) -> None:
        self.hparams, self.names, self.owner = hparams, tuple(names), owner

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _call_hook(pl_module, self.hparams)
        _call_hook(getattr(trainer, "datamodule", None), self.hparams)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        optimizers = list(trainer.optimizers)
        if self.names and len(self.names) != len(optimizers):
            raise ConfigError(f"{self.owner}.optimizer_names={self.names!r} names "
                              f"{len(self.names)} optimizers, but configure_optimizers returned "
                              f"{len(optimizers)}; give one name per optimizer, in order")
        for index, optimizer in enumerate(optimizers):
            schedulers = [config.scheduler for config in trainer.lr_scheduler_configs
                          if getattr(config.scheduler, "optimizer", None) is optimizer]
            apply_to_optimizer(optimizer, schedulers, self.hparams,
                               self.names[index] if self.names else None)
