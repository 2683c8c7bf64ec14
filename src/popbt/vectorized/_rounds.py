"""What every vectorized population shares: the members as rows of one parameter tensor and
of every optimizer-state tensor, trained round by round; each round evaluated, decided and
recorded in one storage transaction; snapshots and resume. See `popbt.vectorized.population`
for the contract; a subclass says how steps are trained and members evaluated.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from popbt._evaluation import evaluation_of
from popbt._watch import Watch, run_watched
from popbt.callbacks import Callback
from popbt.checkpoints import CheckpointStore
from popbt.decider import Decider
from popbt.errors import ConfigError
from popbt.fitness import ParetoFitness
from popbt.pareto import hypervolume
from popbt.population import Population, open_population
from popbt.records import EventKind, Member, MemberState
from popbt.settings import Settings
from popbt.simplex import Simplex
from popbt.space import Choice, Space
from popbt.stopping import StopRule
from popbt.storage import Storage
from popbt.vectorized import _optim
from popbt.vectorized._decide import decide_round
from popbt.vectorized._stack import build_members

Events = list[tuple[int, int, EventKind, dict]]


def as_device(device: str | torch.device) -> torch.device:
    """`device` as a torch.device this machine has, else `ConfigError` naming it."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device={device!r}: {exc}; use 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r}: CUDA is not available on this machine; "
                          f"use device='cpu'")
    return dev


def numeric_space(space: Space) -> None:
    """Refuse a Choice of non-numbers: every hyperparameter becomes one tensor of values."""
    for name, domain in space.items():
        if isinstance(domain, Choice) and not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in domain.values):
            raise ConfigError(f"hyperparameter {name!r} has choices {list(domain.values)!r}: a "
                              f"vectorized population needs numbers (one tensor per setting)")


class Rounds:
    """The shared machinery (see the module docstring). A subclass sets what `_check_space`
    reads, calls this `__init__`, builds its own state, then calls `_resume()`; it implements
    `_check_space`, `_train_steps` and `_evaluate`, and, when it holds per-member state of
    its own, `_gather`, `_extra_state` and `_load_extra`."""

    metric_hint = ""  # what the message for a metric never computed adds

    def __init__(self, *, settings: Settings, model_fn: Callable[[], nn.Module], name: str,
                 optimizer: str, snapshot_every: int, device: str | torch.device,
                 storage: str | Storage, initial: Sequence[Mapping[str, Any]],
                 checkpoints: str | Path | None, load_if_exists: bool) -> None:
        if optimizer not in _optim.OPTIMIZERS:
            raise ConfigError(f"optimizer={optimizer!r}: choose one of {_optim.OPTIMIZERS}")
        numeric_space(settings.space)
        if settings.exploit.uses_elite:
            raise ConfigError(f"exploit={settings.exploit!r} copies past checkpoints, which the "
                              f"vectorized trainer does not keep (its members are rows of one "
                              f"state); use popbt.Truncation, or create_population for "
                              f"backtracking")
        if isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int) \
                or snapshot_every < 1:
            raise ConfigError(f"snapshot_every={snapshot_every!r}: must be an integer >= 1")
        self._check_space(settings.space, optimizer)
        self.optimizer = optimizer
        self.snapshot_every = snapshot_every
        self.device = as_device(device)
        self.model_fn = model_fn
        self.population: Population = open_population(
            settings, name=name, storage=storage, initial=initial, checkpoints=checkpoints,
            load_if_exists=load_if_exists, trainer="vectorized")
        self.settings = self.population.settings
        self._decider = Decider(self.settings)
        self._checkpoints = CheckpointStore(self.population.row.checkpoint_root)
        self._template, self._layout, self.flat, self.buffers = build_members(
            model_fn, [self.settings.member_seed(i) for i in range(settings.size)], self.device)
        self.opt_state = _optim.init_state(optimizer, self.flat)
        # what random layers (dropout) draw from: a stream of the run's own, kept in snapshots
        with torch.random.fork_rng(devices=self._cuda_devices()):
            torch.manual_seed(self.settings.member_seed(settings.size + 2))
            self._random_state = self._rng_state()
        self._records = [self._fresh_record(m) for m in self.population.members]
        self._history: dict[int, list[float]] = {}
        self._samples: dict[int, list[float]] = {}  # each member's latest samples' fitness
        self._pending: int | None = None  # a ready step whose decisions wait for more steps
        self._snapshot_step = -1  # the step of the newest snapshot this object wrote

    # -- what a subclass says --------------------------------------------------------------

    def _check_space(self, space: Space, optimizer: str) -> None:
        """Refuse a hyperparameter that would change nothing (`ConfigError` naming it)."""

    def _train_steps(self, steps: int, hp: dict[str, torch.Tensor]) -> None:
        """Train every member `steps` steps with the hyperparameters `hp` ([P] tensors)."""
        raise NotImplementedError

    def _evaluate(self, hp: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
        """Every member's metrics, in member order: numbers, or under the metric a list of
        samples (episode returns, say) whose mean is the score, as `evaluate` may return."""
        raise NotImplementedError

    def _gather(self, index: torch.Tensor) -> None:
        """Make row i of every per-member state a copy of row `index[i]` (an exploit)."""
        self.flat = self.flat.index_select(0, index)
        self.opt_state = {k: v.index_select(0, index) for k, v in self.opt_state.items()}
        self.buffers = {k: v.index_select(0, index) for k, v in self.buffers.items()}

    def _extra_state(self) -> dict[str, Any]:
        """What a snapshot holds beyond the parameters, optimizer state and records."""
        return {}

    def _load_extra(self, state: dict[str, Any]) -> None:
        """Restore what `_extra_state` saved."""

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

    def _cuda_devices(self) -> list[int]:
        return [self.device.index or 0] if self.device.type == "cuda" else []

    def _rng_state(self) -> list[torch.Tensor]:
        """The global generators' states: the CPU's, then this device's if it is a GPU."""
        cuda = [torch.cuda.get_rng_state(i) for i in self._cuda_devices()]
        return [torch.get_rng_state(), *cuda]

    @contextlib.contextmanager
    def _randomness(self) -> Iterator[None]:
        """Random layers draw from the run's stream inside; the caller's is left as it was."""
        with torch.random.fork_rng(devices=self._cuda_devices()):
            torch.set_rng_state(self._random_state[0])
            for i, state in zip(self._cuda_devices(), self._random_state[1:], strict=True):
                torch.cuda.set_rng_state(state, i)
            yield
            self._random_state = self._rng_state()

    def _state(self) -> dict[str, Any]:
        return {"params": self.flat.cpu(), "layout": self._layout.names,
                "buffers": {k: v.cpu() for k, v in self.buffers.items()},
                "random": self._random_state,
                "optimizer": {k: v.cpu() for k, v in self.opt_state.items()},
                "step": self.step, "records": json.dumps(self._records),
                "history": json.dumps({str(k): v for k, v in self._history.items()}),
                "samples": json.dumps({str(k): v for k, v in self._samples.items()}),
                "pending": -1 if self._pending is None else self._pending,
                **self._extra_state()}

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
        buffers = state.get("buffers", {})
        if sorted(buffers) != sorted(self.buffers):
            raise ConfigError(f"population {row.name!r} was trained with another model: its "
                              f"snapshot holds the buffers {sorted(buffers)}")
        self.flat = state["params"].to(self.device)
        self.buffers = {k: v.to(self.device) for k, v in buffers.items()}
        if len(state.get("random", ())) == len(self._random_state):  # the same device kind
            self._random_state = state["random"]
        self.opt_state = {k: v.to(self.device) for k, v in state["optimizer"].items()}
        self._load_extra(state)
        self._records = json.loads(state["records"])
        for rec in self._records:  # snapshots written before fitness was recorded with them
            if "fitness" not in rec:
                rec["fitness"] = (None if rec["score"] is None
                                  else self.settings.fitness.of(rec["metrics"]))
        self._history = {int(k): v for k, v in json.loads(state["history"]).items()}
        self._samples = {int(k): v for k, v in json.loads(state.get("samples", "{}")).items()}
        self._pending = None if state["pending"] < 0 else int(state["pending"])
        if any(m.step != snap.step for m in self.population.members):
            storage.rewind(row, step=snap.step, members=self._records, snapshot_id=snap.id)

    def _hparam_tensors(self) -> dict[str, torch.Tensor]:
        """Every hyperparameter as a [P] tensor of the members' values ([P, components] for
        a `Simplex`, its weights in component order)."""
        out = {}
        for name, domain in self.settings.space.items():
            values = [r["hparams"][name] for r in self._records]
            if isinstance(domain, Simplex):
                values = [[float(v[c]) for c in domain.components] for v in values]
            out[name] = torch.tensor(values, dtype=torch.float32, device=self.device)
        return out

    def _per_member(self, hp: dict[str, torch.Tensor],
                    defaults: Mapping[str, float]) -> dict[str, torch.Tensor]:
        """Every setting of `defaults` as a [P] tensor: the members' values where `hp` has
        the setting, else its default."""
        size = len(self._records)
        return {k: hp[k] if k in hp else torch.full((size,), v, device=self.device)
                for k, v in defaults.items()}

    def _optimizer_settings(self, hp: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self._per_member(hp, _optim.DEFAULTS[self.optimizer])

    # -- training ----------------------------------------------------------------------------

    def _run(self, steps: int, stop: StopRule | Sequence[StopRule] | None,
             callbacks: Sequence[Callback]) -> Member | None:
        """Train every member to `steps` (see the subclasses' `train`); return the best."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"steps={steps!r}: must be an integer >= 1")
        run_watched(self.population, target=steps, stop=stop, callbacks=callbacks,
                    body=lambda watch: self._rounds(steps, watch), reached=lambda: self.step,
                    on_stop=self._idle)
        return None if self.settings.objectives else self.population.best

    def _idle(self) -> None:
        """Record every member idle (a run stopped short of its target), with a snapshot
        unless the newest already holds this step."""
        for rec in self._records:
            rec["state"] = MemberState.IDLE.value
        self._write(events=[], scores=[], snapshot=self._snapshot_step != self.step)

    def _rounds(self, steps: int, watch: Watch) -> None:
        """Train round after round to `steps`, until `watch` says the run is stopped."""
        if self._pending is not None and self.step < steps:
            events: Events = []
            self._decide(self._pending, events)
            self._pending = None
            self._write(events=events, scores=[], snapshot=True)
        while self.step < steps and watch.stopped is None:
            record = self._records[0]
            chunk = min(self.settings.ready.steps_to_ready(
                step=record["step"], last_ready_step=record["last_ready_step"]),
                steps - self.step)
            hp = self._hparam_tensors()
            with self._randomness():
                self._train_steps(chunk, hp)
            self._round(self._evaluate(hp), self.step + chunk, steps)
            watch.poll()

    def _round(self, results: list[dict[str, Any]], step: int, target: int) -> None:
        """Decide and record the round that ends at `step`, evaluated as `results`."""
        settings = self.settings
        if settings.metric not in results[0]:
            raise ConfigError(f"metric {settings.metric!r} is not among the values computed: "
                              f"{sorted(results[0])}{self.metric_hint}")
        ready = settings.ready.is_ready(step=step,
                                        last_ready_step=self._records[0]["last_ready_step"])
        scores, events = [], []
        volume = self._volume(results) if ready else {}
        for rec, result in zip(self._records, results, strict=True):
            score, metrics, samples = evaluation_of(result, settings.metric)
            fitness = settings.fitness.of(metrics)
            rec.update(step=step, score=score, fitness=fitness, metrics=metrics)
            scores.append((rec["member_id"], step, fitness, metrics))
            sample_fitness = [settings.fitness.of({**metrics, settings.metric: x})
                              for x in samples]
            self._samples[rec["member_id"]] = sample_fitness
            if ready:
                rec.update(last_ready_step=step, ready_count=rec["ready_count"] + 1)
                data: dict[str, Any] = {"score": score, "metrics": dict(metrics), **volume}
                if samples:  # as the worker loop records them
                    data.update(samples=list(samples), sample_fitness=sample_fitness)
                events.append((rec["member_id"], step, EventKind.READY, data))
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

    def _volume(self, results: list[dict[str, Any]]) -> dict[str, float]:
        """{"hypervolume": ...} of the round's front, for a multi-objective population whose
        objectives all state a reference (as the worker loop records it); else {}."""
        fitness = self.settings.fitness
        if not isinstance(fitness, ParetoFitness) or fitness.reference is None:
            return {}
        points = [v for v in (fitness.vector(evaluation_of(r, self.settings.metric)[1])
                              for r in results) if all(math.isfinite(x) for x in v)]
        return {"hypervolume": hypervolume(np.array(points), fitness.reference)
                if points else 0.0}

    def _write(self, *, events: Events, scores: list[tuple[int, int, float, dict]],
               snapshot: bool) -> None:
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

    def _decide(self, step: int, events: Events) -> None:
        """Every member's ready decision (see `decide_round`), then one row gather applies
        the exploits."""
        source = decide_round(self._decider, self._records, self._history, step=step,
                              events=events, stored=self.population.events,
                              together=self.settings.sync, samples=self._samples)
        if (source != np.arange(len(source))).any():
            self._gather(torch.as_tensor(source, device=self.device))

    # -- reading -----------------------------------------------------------------------------

    def member_model(self, member_id: int) -> nn.Module:
        """Member `member_id` as an ordinary module holding a copy of its current weights."""
        size = len(self._records)
        if isinstance(member_id, bool) or not isinstance(member_id, int) \
                or not 0 <= member_id < size:
            raise ConfigError(f"member {member_id!r} does not exist; members are 0..{size - 1}")
        model = self.model_fn()
        state = {**self._layout.views(self.flat[member_id]),
                 **{k: v[member_id] for k, v in self.buffers.items()}}
        model.load_state_dict({k: v.detach().cpu().clone() for k, v in state.items()})
        return model

    @property
    def best(self) -> Member | None:
        """The member with the best score, as stored."""
        return self.population.best
