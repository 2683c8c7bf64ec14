"""PyTorch without boilerplate (extra `torch`): a Trainable around a module and an optimizer.

Subclass `TorchTrainable`, return the model and optimizer from `build`, do one training step
in `train_step` and score in `evaluate`. The base class then gives you:
- `state_dict` / `load_state_dict` of the model, the optimizer, the step counter and the
  random state (a `torch.Generator` and a NumPy generator owned by the member), so an exploit
  copies everything and a restored member continues exactly as the original would;
- hyperparameters named like optimizer settings applied to every param group at the start of
  each `train` call: any key the optimizer has in its defaults (`lr`, `momentum`,
  `weight_decay`, `eps`, `dampening`, `alpha`, ...), and `beta1` / `beta2` for `betas`.
Models trained by several optimizers (a GAN's generator and discriminator, say) return a dict
of named optimizers from `build`; a hyperparameter `NAME_SETTING` (`generator_lr`) then sets
one optimizer's setting, and a plain `SETTING` sets it on all of them.

Devices: the class attribute `device` says where a member trains (see `resolve_device`): by
default the GPU its worker process was given (`popbt.Processes(gpus=...)`), else the CPU.
`self.device` is set before `build`, the model is moved there after it, and
`self.to_device(batch)` moves tensors. Checkpoints of tensors are written with `torch.save`
and read with `weights_only=True` onto the CPU, so a checkpoint written on a GPU loads on a
machine without one; restoring copies the weights onto the model's device, and the
optimizer moves its state to its parameters' device.
"""

from __future__ import annotations

import abc
import copy
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

import numpy as np

from popbt._devices import ASSIGNED_VAR, VISIBLE_VAR
from popbt.errors import ConfigError
from popbt.hparams import mark_read, plain
from popbt.trainable import Trainable

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("popbt.torch needs PyTorch: pip install 'popbt[torch]'") from exc

T = TypeVar("T")
_VALID = "'auto', 'cpu', 'cuda', 'cuda:N', 'mps', None (the worker's GPU, else the CPU)"


def _no_cuda() -> str:
    """Why torch sees no CUDA device here, for messages."""
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is built without CUDA"
    visible = os.environ.get(VISIBLE_VAR)
    return "no CUDA device is visible" + ("" if visible is None
                                          else f" ({VISIBLE_VAR}={visible!r})")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device a `TorchTrainable` with `device` trains on, in this process.

    - None: the GPU this worker process was given by `popbt.Processes(gpus=...)` (it sees
      it as "cuda"), else the CPU;
    - "auto": CUDA where torch sees a device (the first visible one), else the CPU;
    - "cpu", "cuda", "cuda:N", "mps", or a `torch.device`: that device, which must exist.
      Other device types torch knows ("xpu", ...) are used as they are.

    Raises:
        ConfigError: a CUDA or MPS device that does not exist here (a GPU given to this
            worker process included), or a value torch cannot read as a device.
    """
    assigned = os.environ.get(ASSIGNED_VAR)
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda") if device == "auto" or assigned else torch.device("cpu")
        if assigned:
            raise ConfigError(f"device={device!r}: this worker process was given GPU "
                              f"{assigned} (popbt.Processes(gpus=...)), but {_no_cuda()}; "
                              f"install a CUDA build of torch, or train without gpus")
        return torch.device("cpu")
    try:
        found = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device={device!r}: expected one of {_VALID}, or a "
                          f"torch.device") from None
    if found.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device={device!r}: {_no_cuda()}; use 'cpu', or 'auto' for "
                              f"CUDA where there is a device and the CPU elsewhere")
        if found.index is not None and found.index >= count:
            raise ConfigError(f"device={device!r}: torch sees {count} CUDA devices here "
                              f"(cuda:0..cuda:{count - 1}); use one of them, or 'cuda'")
    elif found.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={device!r}: MPS is not available here; use 'cpu' or "
                          f"'auto'")
    return found


def move_model(model: torch.nn.Module, optimizers: Iterable[torch.optim.Optimizer],
               device: torch.device | str) -> None:
    """Move `model` to `device`, the `optimizers` built for it still holding its parameters:
    where the move makes new parameter objects (a device torch cannot swap tensors in place
    for, such as "meta" or XLA; CPU and CUDA keep them), they replace the old ones in the
    optimizers' parameter groups and state."""
    before = dict(model.named_parameters(remove_duplicate=False))
    model.to(device)
    after = dict(model.named_parameters(remove_duplicate=False))
    new = {id(old): after[name] for name, old in before.items() if after[name] is not old}
    if not new:
        return
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["params"] = [new.get(id(p), p) for p in group["params"]]
        optimizer.state = defaultdict(dict, {new.get(id(p), p): value
                                             for p, value in optimizer.state.items()})


def to_device(value: T, device: torch.device | str) -> T:
    """`value` with every tensor in it moved to `device`: a tensor, or (named) tuples, lists
    and dicts of them, copied; other values are returned as they are."""
    moved: Any
    if isinstance(value, torch.Tensor):
        moved = value.to(device)
    elif isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        moved = type(value)(*(to_device(v, device) for v in value))
    elif isinstance(value, list | tuple):
        moved = type(value)(to_device(v, device) for v in value)
    elif isinstance(value, dict):
        moved = copy.copy(value)  # keeps the dict's type (OrderedDict, defaultdict, ...)
        for key, item in value.items():
            moved[key] = to_device(item, device)
    else:
        return value
    return cast(T, moved)


def apply_hparams(optimizer: torch.optim.Optimizer, hparams: Mapping[str, Any],
                  prefix: str | None = None) -> list[str]:
    """Set the optimizer settings named in `hparams` on every param group; return the names
    of the hyperparameters applied.

    `beta1` and `beta2` replace the matching element of `betas`. With a `prefix`, a key
    `PREFIX_SETTING` sets that setting too, and wins over a plain `SETTING`. Of a
    `popbt.hparams.Hyperparameters`, only the names applied are noted as read.
    """
    values = plain(hparams)
    keys = [(name, name) for name in values]
    if prefix is not None:
        keys += [(name, name[len(prefix) + 1:]) for name in values
                 if name.startswith(prefix + "_")]
    applied = []
    for name, setting in keys:
        value = values[name]
        if setting in ("beta1", "beta2") and "betas" in optimizer.defaults:
            which = 0 if setting == "beta1" else 1
            for group in optimizer.param_groups:
                betas = list(group["betas"])
                betas[which] = float(value)
                group["betas"] = tuple(betas)
            applied.append(name)
        elif setting in optimizer.defaults and setting != "params":
            for group in optimizer.param_groups:
                group[setting] = value
            applied.append(name)
    mark_read(hparams, applied)
    return applied


class TorchTrainable(Trainable):
    """A Trainable holding `self.model` and `self.optimizer`.

    Attributes available in `build`, `train_step` and `evaluate`: `self.device` (the
    `torch.device` the member trains on), `self.generator` (a CPU `torch.Generator` seeded
    per member: pass it to sampling calls, and move what it samples with `self.to_device`),
    `self.rng` (a NumPy generator, also per member) and `self.step` (steps trained so far).

    Set the class attribute `device` to choose where members train: None (the default; the
    GPU the worker process was given by `popbt.Processes(gpus=...)`, else the CPU), "auto"
    (CUDA where there is a device, else the CPU), "cpu", "cuda", "cuda:N", "mps" (see
    `resolve_device`; one that does not exist stops the run with `ConfigError`). The model
    is moved to `self.device` after `build`; data built in `build` and batches are yours to
    move, with `self.to_device(...)`.

    Examples:
        >>> class Regression(TorchTrainable):
        ...     def build(self, hparams, seed):
        ...         model = torch.nn.Linear(3, 1)
        ...         return model, torch.optim.SGD(model.parameters(), lr=hparams["lr"])
        ...     def train_step(self, hparams):
        ...         x = torch.randn(16, 3, generator=self.generator)
        ...         loss = (self.model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        ...         self.optimizer.zero_grad()
        ...         loss.backward()
        ...         self.optimizer.step()
        ...     def evaluate(self):
        ...         return -float(self.model.weight.sub(1).pow(2).sum())
    """

    device: str | torch.device | None = None  # a `torch.device` once `setup` has run
    unread_hint = ("a TorchTrainable applies to its optimizer only hyperparameters named like "
                   "the optimizer's settings (lr, momentum, weight_decay, eps, beta1, beta2, "
                   "..., or NAME_SETTING for one of several optimizers): rename {them}, or "
                   "read {them} in train_step()")
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    optimizers: dict[str, torch.optim.Optimizer]

    @abc.abstractmethod
    def build(self, hparams: dict[str, Any], seed: int) -> tuple[
            torch.nn.Module, torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer]]:
        """Create the model and its optimizer (and load data); called once per live object.

        Return one optimizer (then `self.optimizer`), or a dict of named optimizers (then
        `self.optimizers`; the names prefix their hyperparameters, see the module's help).
        """

    @abc.abstractmethod
    def train_step(self, hparams: dict[str, Any]) -> None:
        """One training step under `hparams` (already applied to the optimizer)."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        """Resolve `device` into `self.device`, seed the member's generators, `build`, and
        move the model to `self.device`.

        Raises:
            ConfigError: `device` names a device that does not exist here (see
                `resolve_device`).
            TypeError: `build` returned something other than (model, optimizer or dict of
                optimizers).
        """
        self.device = resolve_device(self.device)
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.step = 0
        with torch.random.fork_rng():
            torch.manual_seed(seed)  # parameter initialisation is seeded per member too
            self.model, optimizer = self.build(hparams, seed)
        if isinstance(optimizer, torch.optim.Optimizer):
            self.optimizer = optimizer
            self.optimizers = {}
        elif (isinstance(optimizer, Mapping) and optimizer
              and all(isinstance(o, torch.optim.Optimizer) for o in optimizer.values())):
            self.optimizers = dict(optimizer)
        else:
            raise TypeError(f"{type(self).__name__}.build must return (model, optimizer) with "
                            f"an optimizer or a non-empty dict of optimizers, not {optimizer!r}")
        move_model(self.model, self.optimizers.values() if self.optimizers
                   else [self.optimizer], self.device)

    def to_device(self, value: T) -> T:
        """`value` with every tensor in it (a tensor, or tuples, lists and dicts of them)
        moved to `self.device`: `x, y = self.to_device(batch)`."""
        device = self.device
        if not isinstance(device, torch.device):
            raise RuntimeError(f"{type(self).__name__}.to_device is available once setup has "
                               f"resolved self.device (in build and after)")
        return to_device(value, device)

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        if self.optimizers:
            for name, optimizer in self.optimizers.items():
                apply_hparams(optimizer, hparams, prefix=name)
        else:
            apply_hparams(self.optimizer, hparams)
        self.model.train()
        for _ in range(steps):
            self.train_step(hparams)
            self.step += 1

    def state_dict(self) -> dict[str, Any]:
        optimizer = ({name: o.state_dict() for name, o in self.optimizers.items()}
                     if self.optimizers else self.optimizer.state_dict())
        return {"model": self.model.state_dict(), "optimizer": optimizer,
                "step": self.step, "torch_rng": self.generator.get_state(),
                "numpy_rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.optimizers:
            for name, optimizer in self.optimizers.items():
                optimizer.load_state_dict(state["optimizer"][name])
        else:
            self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.generator.set_state(state["torch_rng"])
        self.rng.bit_generator.state = state["numpy_rng"]
