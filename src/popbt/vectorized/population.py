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
- An evaluation is one value per metric and member (a 0-d tensor of `metrics_fn`); per-
  evaluation samples (`evaluate` returning a list under the metric) are the worker loop's,
  so here `TTest` and `margin_se` read each member's recent scores (`Peer.history`).
- Each round (scores, READY / EXPLOIT / EXPLORE events, member records, and a snapshot of the
  stacked state every `snapshot_every` ready rounds and at the end) is one storage
  transaction, in the same tables as the worker loop, so `popbt status`, `best`, `schedule`
  and lineages read the same whoever trained.
- A killed run resumes from its last snapshot: the record of rounds after it is removed
  first, so nothing is counted twice and the record matches the weights.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from popbt._watch import Watch
from popbt.callbacks import Callback, RunEnd, check_callbacks
from popbt.checkpoints import CheckpointStore
from popbt.decider import Decider
from popbt.errors import ConfigError
from popbt.population import (
    DEFAULT_EXPLOIT,
    DEFAULT_EXPLORE,
    DEFAULT_STORAGE,
    Population,
    open_population,
)
from popbt.records import EventKind, Member, MemberState
from popbt.settings import Settings
from popbt.space import Choice, IntUniform, Space
from popbt.stopping import StopRule, stop_rules
from popbt.storage import Storage
from popbt.strategies import Every, Exploit, Explore, as_explore
from popbt.vectorized import _optim
from popbt.vectorized._decide import decide_round
from popbt.vectorized._stack import (
    LossFn,
    Stack,
    build_members,
    evaluate,
    per_example_cross_entropy,
    takes_hparams,
)

Data = Mapping[str, Sequence[torch.Tensor]]
BATCH_SIZE = "batch_size"


def _device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device={device!r}: {exc}; use 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r}: CUDA is not available on this machine; "
                          f"use device='cpu'")
    return dev


def _numeric_space(space: Space) -> None:
    for name, domain in space.items():
        if isinstance(domain, Choice) and not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in domain.values):
            raise ConfigError(f"hyperparameter {name!r} has choices {list(domain.values)!r}: a "
                              f"vectorized population needs numbers (one tensor per setting)")


def _max_batch(space: Space) -> int:
    domain = space[BATCH_SIZE]
    if isinstance(domain, Choice):
        return int(max(domain.values))
    if isinstance(domain, IntUniform):
        return int(domain.hi)
    raise ConfigError(f"batch_size must be a Choice of integers or an IntUniform, not {domain!r}")


class VectorizedPopulation:
    """A population of small models trained together with `vmap` over stacked parameters.

    `size`, `space`, `metric`, `mode`, `seed`, `ready`, `exploit`, `explore`, `initial`,
    `storage`, `name`, `checkpoints`, `keep_checkpoints`, `load_if_exists`, `max_lead` and
    `sync` are as for `popbt.create_population`. Every member trains the same steps
    between two ready rounds, so no member is ever ahead (any `max_lead` holds); with `sync`
    a round's decisions are made against the records as they were before any of them,
    without it each member sees the exploits made before it in the round.

    Args:
        model_fn: builds one member's `nn.Module` (without buffers); called once per member
            under that member's seed.
        optimizer: "sgd", "adam" or "adamw". Hyperparameters named like its settings (`lr`,
            `momentum`, `weight_decay`, `dampening`, `beta1`, `beta2`, `eps`) set them per
            member; settings not in the space take `_optim.DEFAULTS`.
        loss_fn: `(outputs, targets)` or `(outputs, targets, hparams)` → one loss per example
            (shape [batch]); `hparams` maps every hyperparameter to the member's value as a
            0-d tensor (for a loss coefficient). Default: cross-entropy.
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

    def __init__(self, *, model_fn: Callable[[], nn.Module], size: int, space: Space,
                 metric: str, ready: Every, name: str, optimizer: str = "adam",
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
                 sync: bool = False) -> None:
        if optimizer not in _optim.OPTIMIZERS:
            raise ConfigError(f"optimizer={optimizer!r}: choose one of {_optim.OPTIMIZERS}")
        settings = Settings(space=space, size=size, metric=metric, mode=mode, seed=seed,
                            ready=ready, exploit=exploit, explore=as_explore(explore),
                            keep_checkpoints=keep_checkpoints, max_lead=max_lead, sync=sync)
        _numeric_space(space)
        if settings.exploit.uses_elite:
            raise ConfigError(f"exploit={settings.exploit!r} copies past checkpoints, which the "
                              f"vectorized trainer does not keep (its members are rows of one "
                              f"state); use popbt.Truncation, or create_population for "
                              f"backtracking")
        self.loss_fn = loss_fn or per_example_cross_entropy
        unused = [k for k in space if k not in _optim.DEFAULTS[optimizer] and k != BATCH_SIZE]
        if unused and not takes_hparams(self.loss_fn):
            raise ConfigError(f"hyperparameters {unused} are not settings of {optimizer!r} "
                              f"({sorted(_optim.DEFAULTS[optimizer])}) nor batch_size, and "
                              f"loss_fn takes no hparams argument to use them")
        for flag, value, low in (("batch_size", batch_size, 1),
                                 ("snapshot_every", snapshot_every, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{flag}={value!r}: must be an integer >= {low}")
        self.optimizer = optimizer
        self.metrics_fn = metrics_fn
        self.batch = _max_batch(space) if BATCH_SIZE in space else batch_size
        self.shared_batch = bool(shared_batch)
        self.snapshot_every = snapshot_every
        self.device = _device(device)
        self.model_fn = model_fn
        self.population: Population = open_population(
            settings, name=name, storage=storage, initial=initial, checkpoints=checkpoints,
            load_if_exists=load_if_exists, trainer="vectorized")
        self.settings = self.population.settings
        self._decider = Decider(self.settings)
        self._checkpoints = CheckpointStore(self.population.row.checkpoint_root)
        template, self._layout, self.flat = build_members(
            model_fn, [self.settings.member_seed(i) for i in range(size)], self.device)
        self._stack = Stack(template, self._layout, self.loss_fn)
        self.opt_state = _optim.init_state(optimizer, self.flat)
        self._batch_rng = torch.Generator().manual_seed(
            int(np.random.SeedSequence([seed, 3]).generate_state(1)[0]))
        self._records = [self._fresh_record(m) for m in self.population.members]
        self._history: dict[int, list[float]] = {}
        self._pending: int | None = None  # a ready step whose decisions wait for more steps
        self._snapshot_step = -1  # the step of the newest snapshot this object wrote
        self._resume()

    # -- state -------------------------------------------------------------------------------

    @staticmethod
    def _fresh_record(member: Member) -> dict[str, Any]:
        return {"member_id": member.member_id, "step": 0, "score": None, "fitness": None,
                "metrics": {},
                "hparams": dict(member.hparams), "last_ready_step": 0, "ready_count": 0,
                "state": MemberState.IDLE.value}

    @property
    def params(self) -> dict[str, torch.Tensor]:
        """Every parameter of every member by name, as views [P, ...] of `flat`."""
        return self._layout.views(self.flat)

    @property
    def step(self) -> int:
        """Steps every member has trained."""
        return int(self._records[0]["step"])

    def _state(self) -> dict[str, Any]:
        return {"params": self.flat.cpu(), "layout": self._layout.names,
                "optimizer": {k: v.cpu() for k, v in self.opt_state.items()},
                "batch_rng": self._batch_rng.get_state(), "step": self.step,
                "records": json.dumps(self._records),
                "history": json.dumps({str(k): v for k, v in self._history.items()}),
                "pending": -1 if self._pending is None else self._pending}

    def _resume(self) -> None:
        """Continue from the newest snapshot, forgetting any record made after it."""
        storage, row = self.population.storage, self.population.row
        snap = storage.latest_snapshot(row)
        if snap is None:
            if any(m.step > 0 for m in self.population.members):
                raise ConfigError(f"population {row.name!r} has trained members but no "
                                  f"snapshot to resume from")
            return
        state = self._checkpoints.load(snap.path, snap.checksum)
        if state["layout"] != self._layout.names or state["params"].shape != self.flat.shape:
            raise ConfigError(f"population {row.name!r} was trained with another model: its "
                              f"snapshot holds {state['layout']}, "
                              f"{tuple(state['params'].shape)}")
        self.flat = state["params"].to(self.device)
        self.opt_state = {k: v.to(self.device) for k, v in state["optimizer"].items()}
        self._batch_rng.set_state(state["batch_rng"])
        self._records = json.loads(state["records"])
        for rec in self._records:  # snapshots written before fitness was recorded with them
            if "fitness" not in rec:
                rec["fitness"] = (None if rec["score"] is None
                                  else self.settings.fitness.of(rec["metrics"]))
        self._history = {int(k): v for k, v in json.loads(state["history"]).items()}
        self._pending = None if state["pending"] < 0 else int(state["pending"])
        if any(m.step != snap.step for m in self.population.members):
            storage.rewind(row, step=snap.step, members=self._records, snapshot_id=snap.id)

    # -- training ----------------------------------------------------------------------------

    def _hparam_tensors(self) -> dict[str, torch.Tensor]:
        names = list(self.settings.space)
        return {k: torch.tensor([float(r["hparams"][k]) for r in self._records],
                                dtype=torch.float32, device=self.device) for k in names}

    def _optimizer_settings(self, hp: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        size = len(self._records)
        return {k: hp[k] if k in hp else torch.full((size,), v, device=self.device)
                for k, v in _optim.DEFAULTS[self.optimizer].items()}

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
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"steps={steps!r}: must be an integer >= 1")
        rules, hooks = stop_rules(stop), check_callbacks(callbacks)
        splits = self._check_data(data)
        storage, row = self.population.storage, self.population.row
        storage.set_target(row, steps)
        watch = Watch(self.population, rules, hooks)
        watch.start()
        try:
            self._rounds(splits, steps, watch)
        except BaseException as exc:
            with contextlib.suppress(Exception):  # nothing replaces the error being raised
                watch.finish(RunEnd("interrupted") if isinstance(exc, KeyboardInterrupt)
                             else RunEnd("failed", str(exc)))
            raise
        stopped = watch.stopped is not None and self.step < steps
        if stopped:
            for rec in self._records:
                rec["state"] = MemberState.IDLE.value
            self._write(events=[], scores=[], snapshot=self._snapshot_step != self.step)
        watch.finish(RunEnd("stopped", watch.stopped) if stopped else RunEnd("finished"))
        if watch.failure is not None:
            raise watch.failure
        return self.population.best

    def _rounds(self, splits: dict[str, tuple[torch.Tensor, torch.Tensor]], steps: int,
                watch: Watch) -> None:
        """Train round after round to `steps`, until `watch` says the run is stopped."""
        x, y = splits["train"]
        if self._pending is not None and self.step < steps:
            events: list[tuple[int, int, EventKind, dict]] = []
            self._decide(self._pending, events)
            self._pending = None
            self._write(events=events, scores=[], snapshot=True)
        while self.step < steps and watch.stopped is None:
            record = self._records[0]
            chunk = min(self.settings.ready.steps_to_ready(
                step=record["step"], last_ready_step=record["last_ready_step"]),
                steps - self.step)
            hp = self._hparam_tensors()
            opt_settings = self._optimizer_settings(hp)
            mask = self._mask(hp)
            for _ in range(chunk):
                bx, by = self._batch(x, y)
                grads = self._stack.gradients(self.flat, bx, by, mask, hp, self.shared_batch)
                _optim.update(self.optimizer, self.flat, grads, self.opt_state, opt_settings)
            self._round(splits["val"], hp, self.step + chunk, steps)
            watch.poll()

    def _round(self, val: tuple[torch.Tensor, torch.Tensor], hp: dict[str, torch.Tensor],
               step: int, target: int) -> None:
        """Evaluate, decide and record the round that ends at `step`."""
        settings = self.settings
        results = evaluate(self._stack, self.flat, val[0], val[1], hp, self.metrics_fn)
        if settings.metric not in results[0]:
            raise ConfigError(f"metric {settings.metric!r} is not among the values computed: "
                              f"{sorted(results[0])}; pass metrics_fn= to compute it")
        ready = settings.ready.is_ready(step=step,
                                        last_ready_step=self._records[0]["last_ready_step"])
        scores, events = [], []
        for rec, metrics in zip(self._records, results, strict=True):
            score = metrics[settings.metric]
            fitness = settings.fitness.of(metrics)
            rec.update(step=step, score=score, fitness=fitness, metrics=metrics)
            scores.append((rec["member_id"], step, fitness, metrics))
            if ready:
                rec.update(last_ready_step=step, ready_count=rec["ready_count"] + 1)
                events.append((rec["member_id"], step, EventKind.READY,
                               {"score": score, "metrics": dict(metrics)}))
                history = self._history.setdefault(rec["member_id"], [])
                history.append(fitness)
                del history[:-max(1, self._decider.history_window)]
        done = step >= target
        if ready and settings.ready.may_exploit(step):
            if done:  # as in the worker loop: made if training goes on, not at the end
                self._pending = step
            else:
                self._decide(step, events)
        for rec in self._records:
            rec["state"] = (MemberState.DONE if done else MemberState.RUNNING).value
        rounds = self._records[0]["ready_count"]
        self._write(events=events, scores=scores,
                    snapshot=done or (ready and rounds % self.snapshot_every == 0))

    def _write(self, *, events: list[tuple[int, int, EventKind, dict]],
               scores: list[tuple[int, int, float, dict]], snapshot: bool) -> None:
        """Record the round (with a snapshot of the state after it) in one transaction."""
        saved = None
        if snapshot:
            path, checksum, size = self._checkpoints.save(
                f"{self.population.name}/population", self.step, self._state())
            saved = (self.step, path, checksum, size)
            self._snapshot_step = self.step
        obsolete = self.population.storage.write_round(
            self.population.row, scores=scores, events=events, members=self._records,
            snapshot=saved, keep=self.settings.keep_checkpoints, now=time.time())
        self._checkpoints.delete(obsolete)

    def _decide(self, step: int, events: list[tuple[int, int, EventKind, dict]]) -> None:
        """Every member's ready decision (see `decide_round`), then one row gather applies
        the exploits."""
        source = decide_round(self._decider, self._records, self._history, step=step,
                              events=events, stored=self.population.events,
                              together=self.settings.sync)
        if (source != np.arange(len(source))).any():
            index = torch.as_tensor(source, device=self.device)
            self.flat = self.flat.index_select(0, index)
            self.opt_state = {k: v.index_select(0, index) for k, v in self.opt_state.items()}

    # -- reading -----------------------------------------------------------------------------

    def member_model(self, member_id: int) -> nn.Module:
        """Member `member_id` as an ordinary module holding a copy of its current weights."""
        size = len(self._records)
        if isinstance(member_id, bool) or not isinstance(member_id, int) \
                or not 0 <= member_id < size:
            raise ConfigError(f"member {member_id!r} does not exist; members are 0..{size - 1}")
        model = self.model_fn()
        model.load_state_dict({k: v.detach().cpu().clone()
                               for k, v in self._layout.views(self.flat[member_id]).items()})
        return model

    @property
    def best(self) -> Member | None:
        """The member with the best score, as stored."""
        return self.population.best
