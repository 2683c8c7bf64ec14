"""A whole population trained in one process as one batched model (torch.func).

Contract:
- Every member trains the same steps at the same time; at a ready point all are evaluated,
  then decisions are made one member at a time in member order with the same strategy objects
  and generators as the worker loop, each seeing the exploits made before it in the round
  (as members taking turns do). An exploit copies the donor's row of the parameters *and* of
  every optimizer-state tensor (its Adam moments, momentum buffers and step count), with its
  hyperparameters; explore then changes the hyperparameters. As in the worker loop, the
  member keeps its own score until the next evaluation. Decisions due at the step target
  wait, as in the worker loop, until training is continued to more steps.
- An evaluation is one value per metric and member (a 0-d tensor of `metrics_fn`), so
  `TTest` and `margin_se` read each member's recent scores (`Peer.history`); a trainer whose
  evaluation gives samples under the metric (`VectorizedActorCritic`'s episode returns)
  records them as the worker loop does, and those strategies test them.
- Each round (scores, READY / EXPLOIT / EXPLORE events, member records, and a snapshot of the
  stacked state every `snapshot_every` ready rounds and at the end) is one storage
  transaction, in the same tables as the worker loop, so `popbt status`, `best`, `schedule`
  and lineages read the same whoever trained.
- A killed run resumes from its last snapshot: the record of rounds after it is removed
  first, so nothing is counted twice and the record matches the weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from popbt.callbacks import Callback
from popbt.errors import ConfigError
from popbt.population import DEFAULT_EXPLOIT, DEFAULT_EXPLORE, DEFAULT_STORAGE, metric_of
from popbt.records import Member
from popbt.settings import Settings
from popbt.space import Choice, IntUniform, Space
from popbt.stopping import StopRule
from popbt.storage import Storage
from popbt.strategies import Every, Exploit, Explore, as_explore
from popbt.vectorized import _optim
from popbt.vectorized._rounds import Rounds
from popbt.vectorized._stack import (
    LossFn,
    Stack,
    evaluate,
    per_example_cross_entropy,
    takes_hparams,
)

Data = Mapping[str, Sequence[torch.Tensor]]
BATCH_SIZE = "batch_size"


def _max_batch(space: Space) -> int:
    domain = space[BATCH_SIZE]
    if isinstance(domain, Choice):
        return int(max(domain.values))
    if isinstance(domain, IntUniform):
        return int(domain.hi)
    raise ConfigError(f"batch_size must be a Choice of integers or an IntUniform, not {domain!r}")


class VectorizedPopulation(Rounds):
    """A population of small models trained together with `vmap` over stacked parameters.

    `size`, `space`, `metric`, `mode`, `seed`, `ready`, `exploit`, `explore`, `initial`,
    `storage`, `name`, `checkpoints`, `keep_checkpoints`, `load_if_exists`, `max_lead`,
    `sync` and `objectives` are as for `popbt.create_population` (`metrics_fn` computes the
    objectives beyond loss and accuracy). Every member trains the same steps
    between two ready rounds, so no member is ever ahead (any `max_lead` holds); with `sync`
    a round's decisions are made against the records as they were before any of them,
    without it each member sees the exploits made before it in the round.

    Args:
        model_fn: builds one member's `nn.Module`; called once per member under that
            member's seed. Dropout draws a mask of each member's own; buffers (BatchNorm's
            running statistics) are per-member state that training updates, evaluation reads
            and an exploit copies with the weights.
        optimizer: "sgd", "adam" or "adamw". Hyperparameters named like its settings (`lr`,
            `momentum`, `weight_decay`, `dampening`, `beta1`, `beta2`, `eps`) set them per
            member; settings not in the space take `_optim.DEFAULTS`.
        loss_fn: `(outputs, targets)` or `(outputs, targets, hparams)` → one loss per example
            (shape [batch]); `hparams` maps every hyperparameter to the member's value as a
            0-d tensor (for a loss coefficient; a `Simplex`'s weights as a 1-d tensor in
            component order). Default: cross-entropy.
        metrics_fn: `(outputs, targets)` → dict of 0-d tensors, for one member; `loss` (and
            `accuracy` for class-index targets) are always computed on the validation split.
        batch_size: examples per step when the space has no `batch_size`; with one, each
            member trains on the first `batch_size` of a batch of the largest size (masking).
        shared_batch: every member sees the same batch (else each draws its own).
        snapshot_every: ready rounds between snapshots of the stacked state (1: every round).
        device: "cpu" or "cuda" (or a torch.device).

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> from popbt import Every, LogUniform, Space
        >>> x = torch.randn(600, 8)
        >>> y = (x[:, 0] > 0).long()  # a class that one input decides
        >>> vp = VectorizedPopulation(
        ...     model_fn=lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)),
        ...     size=8, space=Space({"lr": LogUniform(1e-4, 1e-1)}), optimizer="adam",
        ...     metric="accuracy", ready=Every(steps=20), name="sign-vec",
        ...     storage="sqlite:///popbt.db")
        >>> best = vp.train({"train": (x[:500], y[:500]), "val": (x[500:], y[500:])}, steps=200)
        >>> best.step, best.score > 0.9
        (200, True)

    Raises:
        ConfigError: on any invalid setting, naming it.
    """

    metric_hint = "; pass metrics_fn= to compute it"

    def __init__(self, *, model_fn: Callable[[], nn.Module], size: int, space: Space,
                 ready: Every, name: str, metric: str | None = None, optimizer: str = "adam",
                 loss_fn: LossFn | None = None,
                 metrics_fn: Callable[[torch.Tensor, torch.Tensor], dict[str, Any]] | None = None,
                 mode: str = "max", exploit: Exploit = DEFAULT_EXPLOIT,
                 explore: Explore | Callable[..., Any] | None = DEFAULT_EXPLORE,
                 initial: Sequence[Mapping[str, Any]] = (), seed: int = 0,
                 batch_size: int = 64, shared_batch: bool = False, snapshot_every: int = 1,
                 device: str | torch.device = "cpu",
                 storage: str | Storage = DEFAULT_STORAGE,
                 checkpoints: str | Path | None = None, keep_checkpoints: int = 3,
                 load_if_exists: bool = False, max_lead: int | None = None,
                 sync: bool = False, objectives: Sequence[Any] = ()) -> None:
        metric, mode = metric_of(metric, mode, objectives)
        settings = Settings(space=space, size=size, metric=metric, mode=mode, seed=seed,
                            ready=ready, exploit=exploit, explore=as_explore(explore),
                            keep_checkpoints=keep_checkpoints, max_lead=max_lead, sync=sync,
                            objectives=tuple(objectives))
        self.loss_fn = loss_fn or per_example_cross_entropy
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r}: must be an integer >= 1")
        self.metrics_fn = metrics_fn
        self.batch = _max_batch(space) if BATCH_SIZE in space else batch_size
        self.shared_batch = bool(shared_batch)
        super().__init__(settings=settings, model_fn=model_fn, name=name, optimizer=optimizer,
                         snapshot_every=snapshot_every, device=device, storage=storage,
                         initial=initial, checkpoints=checkpoints,
                         load_if_exists=load_if_exists)
        if self.buffers and BATCH_SIZE in space:
            raise ConfigError(f"the model has buffers {sorted(self.buffers)}, whose batch "
                              f"statistics would include the examples a smaller batch_size "
                              f"masks out: batch_size cannot be a hyperparameter of it")
        self._stack = Stack(self._template, self._layout, self.loss_fn)
        self._batch_rng = torch.Generator().manual_seed(
            int(np.random.SeedSequence([seed, 3]).generate_state(1)[0]))
        self._splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._resume()

    def _check_space(self, space: Space, optimizer: str) -> None:
        unused = [k for k in space if k not in _optim.DEFAULTS[optimizer] and k != BATCH_SIZE]
        if unused and not takes_hparams(self.loss_fn):
            raise ConfigError(f"hyperparameters {unused} are not settings of {optimizer!r} "
                              f"({sorted(_optim.DEFAULTS[optimizer])}) nor batch_size, and "
                              f"loss_fn takes no hparams argument to use them")

    def _extra_state(self) -> dict[str, Any]:
        return {"batch_rng": self._batch_rng.get_state()}

    def _load_extra(self, state: dict[str, Any]) -> None:
        self._batch_rng.set_state(state["batch_rng"])

    # -- training ----------------------------------------------------------------------------

    def _mask(self, hp: dict[str, torch.Tensor]) -> torch.Tensor:
        """[P, batch]: 1 for the examples each member trains on (its first `batch_size`)."""
        if BATCH_SIZE in hp:
            return (torch.arange(self.batch, device=self.device)[None, :]
                    < hp[BATCH_SIZE][:, None]).float()
        return torch.ones(len(self._records), self.batch, device=self.device)

    def _batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        size = len(self._records)
        shape = (self.batch,) if self.shared_batch else (size, self.batch)
        idx = torch.randint(0, len(y), shape, generator=self._batch_rng).to(x.device)
        return x[idx], y[idx]

    def _check_data(self, data: Data) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        out = {}
        for split in ("train", "val"):
            if not isinstance(data, Mapping) or split not in data:
                raise ConfigError(f"data must map 'train' and 'val' to (inputs, targets); "
                                  f"got {type(data).__name__} without {split!r}")
            pair = data[split]
            if len(pair) != 2 or not all(isinstance(t, torch.Tensor) for t in pair) \
                    or len(pair[0]) != len(pair[1]) or len(pair[0]) == 0:
                raise ConfigError(f"data[{split!r}] must be (inputs, targets): two non-empty "
                                  f"tensors of the same length")
            out[split] = (pair[0].to(self.device), pair[1].to(self.device))
        return out

    def train(self, data: Data, *, steps: int,
              stop: StopRule | Sequence[StopRule] | None = None,
              callbacks: Sequence[Callback] = ()) -> Member | None:
        """Train every member to `steps` steps (continuing from where it is), or until a rule
        of `stop` fires; return the best.

        `data`: {"train": (inputs, targets), "val": (inputs, targets)}; the score is
        `metric` on "val". `stop` and `callbacks` are as for `Population.train`: the rules
        are weighed and the callbacks called after every round; a rule that fires (or a
        callback that raises) ends the run at that round, its reason recorded, the members
        left idle, and training again continues from there.

        Raises:
            ConfigError: bad data, steps, stop rules or callbacks, or a metric that is never
                computed.
            CallbackError: a callback raised (the run stopped first, losing nothing).
        """
        self._splits = self._check_data(data)
        return self._run(steps, stop, callbacks)

    def _train_steps(self, steps: int, hp: dict[str, torch.Tensor]) -> None:
        x, y = self._splits["train"]
        opt_settings = self._optimizer_settings(hp)
        mask = self._mask(hp)
        for _ in range(steps):
            bx, by = self._batch(x, y)
            grads = self._stack.gradients(self.flat, bx, by, mask, hp, self.shared_batch,
                                          self.buffers)
            _optim.update(self.optimizer, self.flat, grads, self.opt_state, opt_settings)

    def _evaluate(self, hp: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
        x, y = self._splits["val"]
        return evaluate(self._stack, self.flat, x, y, hp, self.metrics_fn, self.buffers)
