"""What a `LightningTrainable` needs around its Trainers: the member's own random state, a
checkpoint held in memory, Lightning kept quiet, logged metrics as floats."""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import threading
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from popbt.errors import ConfigError

_RESUMING = "You're resuming from a checkpoint that ended before the epoch ended"


class InMemory(CheckpointIO):
    """Lightning's checkpoints as a dict held here: no file is written or read."""

    def __init__(self, checkpoint: dict[str, Any] | None) -> None:
        self.checkpoint = checkpoint

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any = None) -> None:
        self.checkpoint = checkpoint

    def load_checkpoint(self, path: Any, map_location: Any = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        assert self.checkpoint is not None
        return dict(self.checkpoint)  # Lightning adds keys while it migrates a checkpoint

    def remove_checkpoint(self, path: Any) -> None:
        self.checkpoint = None


def _get_rng(device: torch.device) -> dict[str, Any]:
    """The global generators' states: Python's, NumPy's, torch's (and `device`'s if CUDA)."""
    version, internal, gauss = random.getstate()
    _, key, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss], "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(np.asarray(key, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)}}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng(state: Mapping[str, Any], device: torch.device) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = state["numpy"]
    np.random.set_state(("MT19937", numpy["key"].numpy().astype(np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["cached"]))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


class OwnRandom:
    """A member's own state of the global generators (Python's, NumPy's, torch's and the
    CUDA device's it trains on), which Lightning code draws from for initialisation, dropout
    and shuffling; it starts from `seed`. `state` is plain data for a checkpoint."""

    def __init__(self, device: torch.device, seed: int) -> None:
        self.device = device
        outside = _get_rng(device)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        self.state = _get_rng(device)
        _set_rng(outside, device)

    @contextlib.contextmanager
    def active(self, *, keep: bool) -> Iterator[None]:
        """Inside, the global generators hold the member's state, which they leave in
        `state` when `keep` (and the block raised nothing); afterwards they are as before."""
        outside = _get_rng(self.device)
        _set_rng(self.state, self.device)
        try:
            yield
            if keep:
                self.state = _get_rng(self.device)
        finally:
            _set_rng(outside, self.device)


class Interruption(pl.Callback):
    """Keeps a Ctrl-C or SIGTERM (`KeyboardInterrupt`) that reaches a Trainer, which Lightning
    catches: some versions then return from `fit` or `validate` as if done."""

    def __init__(self) -> None:
        self.caught: KeyboardInterrupt | None = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt):
            self.caught = exception

    def reraise(self) -> None:
        """Raise the interruption caught, if any."""
        if self.caught is not None:
            raise self.caught


@contextlib.contextmanager
def quiet_lightning(owner: str) -> Iterator[None]:
    """Inside, Lightning's informational log lines are off, and so is its warning about
    resuming inside an epoch (every interval that ends inside one resumes there: see
    `popbt.lightning`); a Ctrl-C or SIGTERM that Lightning turns into `SystemExit(1)` is
    raised as the interruption it was, and the SIGINT handler Lightning replaces is put back.
    Lightning's `MisconfigurationException` (the same for every member) is raised as
    `ConfigError`, which stops the run, naming `owner`.
    """
    if not any(action == "ignore" and message is not None and message.pattern == _RESUMING
               for action, message, *_ in warnings.filters):  # added once, not per interval
        warnings.filterwarnings("ignore", message=_RESUMING)
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    except MisconfigurationException as exc:
        raise ConfigError(f"{owner}: Lightning refused its configuration: {exc}") from exc
    except SystemExit as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise exc.__context__ from None
        raise
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        if handler is not None and signal.getsignal(signal.SIGINT) is not handler:
            signal.signal(signal.SIGINT, handler)


def numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The single numbers among Lightning's logged metrics, as floats."""
    return {name: float(value) for name, value in metrics.items()
            if not isinstance(value, torch.Tensor) or value.numel() == 1}
