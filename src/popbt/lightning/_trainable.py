"""`LightningTrainable`: see `popbt.lightning`."""

from __future__ import annotations

import abc
from typing import Any

import lightning.pytorch as pl
import torch

from popbt.errors import ConfigError
from popbt.lightning._hparams import ApplyHparams
from popbt.lightning._runtime import (
    InMemory,
    Interruption,
    OwnRandom,
    numbers,
    quiet_lightning,
)
from popbt.torch import resolve_device
from popbt.trainable import Trainable

_MEMORY = "popbt-memory"  # the "path" of the checkpoint a trainer reads from and writes to
_OWNED = ("max_steps", "max_epochs", "max_time", "accelerator", "devices", "num_nodes")
_DEFAULTS: dict[str, Any] = {"logger": False, "enable_checkpointing": False,
                             "enable_progress_bar": False, "enable_model_summary": False,
                             "num_sanity_val_steps": 0}


class LightningTrainable(Trainable):
    """A Trainable holding `self.module` (a `LightningModule`) trained by Lightning's `Trainer`.

    Implement `build` (and `data` when the data comes from a `LightningDataModule`); override
    `trainer_kwargs` for other Trainer arguments (callbacks, precision, gradient clipping,
    accumulation, ...). Attributes after `setup`: `self.module`, `self.datamodule` (None when
    the module holds its data), `self.device` (the resolved `torch.device`), `self.trainer`
    (the Trainer of the last interval, None before it) and `self.global_step`.

    Class attributes: `device` (None: the GPU of the worker process, else the CPU; "auto",
    "cpu", "cuda", "cuda:N", "mps"; see `popbt.torch.resolve_device`) and `optimizer_names`
    (the names of the optimizers `configure_optimizers` returns, in order, when there are
    several: `generator_lr` then sets the first's learning rate if the first is "generator").

    A step is an optimizer step (Lightning's global step: with gradient accumulation, one per
    accumulated batch; with manual optimization, one per `optimizer.step()` call).

    Errors: a `fit` that stops before its steps are done (early stopping,
    `trainer.should_stop`) raises `RuntimeError`, which fails the interval (stop a population
    with popbt's stop rules instead). What is wrong for every member alike stops the run with
    one `ConfigError`: `build` or `data` returning something else, bad `trainer_kwargs()` or
    `optimizer_names`, a module that logs nothing in validation, and Lightning's own
    `MisconfigurationException` (no `validation_step`, say).

    Example (a module that logs `accuracy` in `validation_step` and sets its dropout rate in
    `on_hparams`; `examples/lightning_digits.py` is the whole program):

        class Digits(LightningTrainable):
            def build(self, hparams, seed):
                return DigitsModule(lr=hparams["lr"], dropout=hparams["dropout"])

        pop.train(Digits, steps=1000, workers=2)
    """

    device: str | torch.device | None = None  # a `torch.device` once `setup` has run
    optimizer_names: tuple[str, ...] = ()
    unread_hint = ("a LightningTrainable sets on the optimizers only hyperparameters named "
                   "like their settings (lr, momentum, weight_decay, beta1, ...); read {them} "
                   "in the module's on_hparams(hparams)")
    module: pl.LightningModule
    datamodule: pl.LightningDataModule | None
    trainer: pl.Trainer | None

    @abc.abstractmethod
    def build(self, hparams: dict[str, Any], seed: int) -> pl.LightningModule:
        """Create the `LightningModule` (its weights are initialised from a generator seeded
        with `seed`); called once per live object, before any restore."""

    def data(self, hparams: dict[str, Any], seed: int) -> pl.LightningDataModule | None:
        """The `LightningDataModule` to train and validate on, or None (the default) when the
        module has its own `train_dataloader` and `val_dataloader`; called once per live
        object, after `build`. Load data once per process (a cache), not here."""
        return None

    def trainer_kwargs(self) -> dict[str, Any]:
        """Arguments for every `Trainer` this object makes (a new one per interval and per
        evaluation, so return new callback objects); they override popbt's defaults. popbt
        owns the length and the device: `max_steps`, `max_epochs`, `max_time`, `accelerator`,
        `devices` and `num_nodes` are refused (use the class attribute `device`)."""
        return {}

    @property
    def global_step(self) -> int:
        """Optimizer steps trained so far (the Trainer's global step)."""
        if self.trainer is not None:
            return int(self.trainer.global_step)
        return int(self._checkpoint["global_step"]) if self._checkpoint else 0

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        """Resolve `device`, then `build` the module and the data with Python's, NumPy's and
        torch's generators seeded with `seed` (the member's random state starts from there).

        Raises:
            ConfigError: `device` names a device that does not exist here, or `build` (or
                `data`) returned something else than a `LightningModule` (a
                `LightningDataModule` or None).
        """
        self.device = resolve_device(self.device)
        self.trainer = None
        self._checkpoint: dict[str, Any] | None = None
        self._random = OwnRandom(self.device, seed)
        with self._random.active(keep=True):
            module = self.build(hparams, seed)
            datamodule = self.data(hparams, seed)
        name = type(self).__name__
        if not isinstance(module, pl.LightningModule):
            raise ConfigError(f"{name}.build returned {module!r}: expected a "
                              f"lightning.pytorch.LightningModule (from the `lightning` "
                              f"package: a `pytorch_lightning` module is another class)")
        if datamodule is not None and not isinstance(datamodule, pl.LightningDataModule):
            raise ConfigError(f"{name}.data returned {datamodule!r}: expected a "
                              f"lightning.pytorch.LightningDataModule, or None for the data of "
                              f"the module's own train_dataloader and val_dataloader")
        self.module, self.datamodule = module, datamodule

    def _trainer(self, interruption: Interruption, *, fit: bool, **extra: Any) -> pl.Trainer:
        """A new Trainer with popbt's defaults, `trainer_kwargs()`, `extra`, and the callback
        `interruption`."""
        kwargs = self.trainer_kwargs()
        name = type(self).__name__
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise ConfigError(f"{name}.trainer_kwargs() returned {kwargs!r}: expected a dict "
                              f"of Trainer arguments")
        owned = [key for key in _OWNED if key in kwargs]
        if owned:
            raise ConfigError(f"{name}.trainer_kwargs() sets {', '.join(map(repr, owned))}: "
                              f"popbt sets the Trainer's length (steps per interval) and "
                              f"device (the class attribute `device`); remove "
                              f"{'them' if len(owned) > 1 else 'it'}")
        assert isinstance(self.device, torch.device)
        device = self.device
        placement: dict[str, Any] = {"accelerator": device.type, "devices": (
            1 if device.index is None else [device.index])}
        if fit and not {"val_check_interval", "check_val_every_n_epoch"} & kwargs.keys():
            kwargs["limit_val_batches"] = 0
        callbacks = kwargs.pop("callbacks", None) or []
        callbacks = [callbacks] if isinstance(callbacks, pl.Callback) else list(callbacks)
        callbacks += [*extra.pop("callbacks", []), interruption]
        return pl.Trainer(**{**_DEFAULTS, **kwargs, **placement, **extra},
                          callbacks=callbacks)

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        """Fit `steps` more optimizer steps from the last checkpoint, under `hparams`.

        Raises:
            RuntimeError: the fit stopped before `steps` steps.
            ConfigError: bad `trainer_kwargs()` or `optimizer_names`, or Lightning's
                `MisconfigurationException`.
        """
        if self.trainer is not None:
            self._checkpoint = self._dump(self.trainer)
        start = self.global_step
        apply = ApplyHparams(hparams, self.optimizer_names, type(self).__name__)
        interruption = Interruption()
        with self._random.active(keep=True), quiet_lightning(type(self).__name__):
            trainer = self._trainer(interruption, fit=True, max_steps=start + steps,
                                    max_epochs=-1, callbacks=[apply])
            trainer.strategy.checkpoint_io = InMemory(self._checkpoint)
            trainer.fit(self.module, datamodule=self.datamodule,
                        ckpt_path=_MEMORY if self._checkpoint else None)
        interruption.reraise()
        self.trainer, self._checkpoint = trainer, None
        if trainer.global_step != start + steps:
            why = ("trainer.should_stop was set (by early stopping, or the module)"
                   if trainer.should_stop else "the data ran out or a callback ended it")
            raise RuntimeError(f"{type(self).__name__}: Trainer.fit stopped at global step "
                               f"{trainer.global_step} instead of {start + steps}: {why}; PBT "
                               f"trains every member the steps it asks for (stop the "
                               f"population with popbt's stop rules instead)")
        self.log(**numbers(trainer.callback_metrics))

    def evaluate(self) -> dict[str, float]:
        """`Trainer.validate`: the metrics the module logs in validation, as floats.

        Raises:
            ConfigError: the module logged no number while validating, or Lightning's
                `MisconfigurationException`.
        """
        interruption = Interruption()
        with self._random.active(keep=False), quiet_lightning(type(self).__name__):
            trainer = self._trainer(interruption, fit=False)
            trainer.validate(self.module, datamodule=self.datamodule, verbose=False)
        interruption.reraise()
        metrics = numbers(trainer.callback_metrics)
        if not metrics:
            raise ConfigError(f"{type(self).__name__}.evaluate: the module logged no metric "
                              f"while validating; call self.log(NAME, value) in "
                              f"validation_step")
        return metrics

    def _dump(self, trainer: pl.Trainer) -> dict[str, Any]:
        """The checkpoint Lightning writes for `trainer`, as a dict."""
        io = InMemory(None)
        trainer.strategy.checkpoint_io = io
        with quiet_lightning(type(self).__name__):
            trainer.save_checkpoint(_MEMORY, weights_only=False)
        assert io.checkpoint is not None
        return io.checkpoint

    def state_dict(self) -> dict[str, Any]:
        """Lightning's checkpoint of the last interval (before the first, the module's
        weights) and the member's random state."""
        checkpoint = self._dump(self.trainer) if self.trainer is not None else self._checkpoint
        if checkpoint is None:
            return {"model": self.module.state_dict(), "rng": self._random.state}
        return {"lightning": checkpoint, "rng": self._random.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned: the module's weights now, the rest of
        Lightning's checkpoint when the next interval starts."""
        checkpoint = state.get("lightning")
        self.module.load_state_dict(checkpoint["state_dict"] if checkpoint else state["model"])
        self.trainer, self._checkpoint = None, checkpoint
        self._random.state = state["rng"]
