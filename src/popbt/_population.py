"""`Population`: a population in a storage, to train and to read back."""

from __future__ import annotations

import dataclasses
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from popbt._execution import Executor, executor_for
from popbt._front import front, front_hypervolume
from popbt._refs import object_ref, resolve_ref
from popbt._trainers import check_trainer
from popbt._training import describe, run_training
from popbt.callbacks import Callback, check_callbacks
from popbt.errors import ConfigError
from popbt.fitness import ParetoFitness
from popbt.lineage import Segment, lineage, schedule
from popbt.records import Event, EventKind, Member, MemberState, Score
from popbt.settings import Settings
from popbt.stopping import StopRule, stop_rules
from popbt.storage import Storage
from popbt.storage.base import PopulationRow, Resized
from popbt.strategies.genetic import elite_metric
from popbt.trainable import Trainable

if TYPE_CHECKING:
    from popbt.garbage import Collected


class Population:
    """A population in a storage: train it and read its members, lineages and schedules.

    Obtain one with `create_population` or `load_population`. Every read goes to the storage,
    so it reflects what any worker, anywhere, has reported.

    Examples:
        >>> from popbt import load_population
        >>> pop = load_population(name="toy", storage="sqlite:///popbt.db")
        >>> pop.best.step, sorted(pop.best.hparams)
        (40, ['h0', 'h1'])
    """

    def __init__(self, storage: Storage, row: PopulationRow, settings: Settings) -> None:
        self.storage = storage
        self._row = row
        self.settings = settings
        self._trainable: type[Trainable] | None = None

    @property
    def name(self) -> str:
        return self._row.name

    @property
    def row(self) -> PopulationRow:
        """The stored population row, read afresh (`settings.size` follows its size, which a
        resize anywhere may have changed)."""
        self._row = self.storage.refresh(self._row)
        if self._row.settings.size != self.settings.size:
            self.settings = dataclasses.replace(self.settings, size=self._row.settings.size)
        return self._row

    def train(self, trainable: type[Trainable], *, steps: int, workers: int | None = None,
              executor: Executor | str | None = None, lease_s: float = 30.0,
              progress: bool | None = None,
              ray_address: str | None = None,
              resources_per_worker: Mapping[str, float] | None = None,
              gpus: Sequence[int | str] | float | None = None,
              strict: bool = False, stop: StopRule | Sequence[StopRule] | None = None,
              callbacks: Sequence[Callback] = ()) -> Member | None:
        """Train every member to `steps` steps, or until a rule of `stop` fires, then return
        the best member (None for a population of several objectives: read `front`).

        `executor` places the workers: an executor object (`popbt.InProcess()`,
        `popbt.Processes(workers=4)`, `popbt.Ray(workers=8, address="auto")`, or one of your
        own, see `popbt.executors.Executor`), or one of these names, with `workers` workers
        (default 1; with an executor object, leave `workers` out or give the object's own):
        - "inprocess" (the default for one worker) trains in this process, deterministic for a
          given seed;
        - "processes" (the default for `workers>1`) starts that many local worker processes
          (the trainable must be importable: defined at module level in a file);
        - "ray" runs them as Ray tasks (`pip install 'popbt[ray]'`) on the cluster at
          `ray_address` ("auto" for the one on this machine), or on a local one started when
          Ray is not initialised; `resources_per_worker` (default {"CPU": 1}) is what each
          task asks of Ray: {"CPU": 2, "GPU": 0.5} shares a GPU between two workers.

        `gpus` gives local worker processes GPUs through `CUDA_VISIBLE_DEVICES`: a list of
        ids, round-robin, or the share of one GPU per worker (0.5: two workers per GPU); a
        `TorchTrainable` trains there.

        Workers of any executor, and `popbt worker` processes started by hand anywhere, can
        serve one population at once: they coordinate only through the storage. Calling
        again with more steps continues where it stopped;
        members that failed for good are retried. `lease_s`: how long a claim lasts without
        a heartbeat (a member held by a worker that died elsewhere waits this long).
        `progress` (default: when stderr is a terminal) shows a live line on stderr.
        A hyperparameter of the space that the trainable never reads in its first interval
        is named once in an `UnusedHyperparameterWarning`; with `strict=True` it stops the run
        with `ConfigError` instead.

        `stop`: a rule, or a list of rules of which the first to fire ends the run early
        (`popbt.TargetScore(0.98)`, `popbt.TimeBudget(3600)`, `popbt.Plateau(rounds=5)`; see
        `popbt.stopping`): members in the middle of an interval finish it and report, the
        reason is recorded (`status()["stopped"]`), and training again continues from where
        it stopped. `callbacks`: `popbt.Callback`s (loggers such as
        `popbt.loggers.TensorBoardLogger` included) that this process calls with every score
        and event the workers commit, and when the run ends (see `popbt.callbacks`).
        Ctrl-C, or SIGTERM when the program has no SIGTERM
        handler of its own, stops the workers, gives their members back and raises
        `KeyboardInterrupt`; one line on stderr says how many members are done and idle,
        and calling again resumes.

        Raises:
            ConfigError: a bad argument; `steps` below the target another run is
                training to; members point at checkpoints in a local folder that is gone;
                with `strict`, a hyperparameter the trainable never reads.
            TrainingError: the run stopped: a fatal error was recorded (a metric the trainable
                never returns, a state that cannot be stored, an explore that raises), or
                every member failed.
            CallbackError: a callback raised; the run was stopped first, losing nothing.
        """
        from popbt.worker import release_dead_local_holders

        if not (isinstance(trainable, type) and issubclass(trainable, Trainable)):
            raise ConfigError(f"trainable={trainable!r}: expected a subclass of "
                              f"popbt.Trainable")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"steps={steps!r}: must be an integer >= 1")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 1):
            raise ConfigError(f"workers={workers!r}: must be an integer >= 1")
        rules, hooks = stop_rules(stop), check_callbacks(callbacks)
        runner = executor_for(executor, workers=workers, ray_address=ray_address,
                              resources_per_worker=resources_per_worker, gpus=gpus)
        work = describe(self, trainable, lease_s=lease_s, strict=strict)
        check_trainer(self._row, "workers")
        runner.check(work)  # refuse what cannot work before anything is stored or started
        self._trainable = trainable
        self._record_trainable(trainable)
        self._check_checkpoint_root()
        release_dead_local_holders(self.storage, self._row)
        previous = self.storage.set_target(self._row, steps, now=time.time())
        if steps < previous:
            warnings.warn(f"population {self.name!r}: the step target goes down from "
                          f"{previous} to {steps} steps (members already past {steps} keep "
                          f"their steps)", RuntimeWarning, stacklevel=2)
        run_training(self, runner, work, progress=progress, stop=rules, callbacks=hooks)
        return None if self.settings.objectives else self.best

    def _record_trainable(self, trainable: type[Trainable]) -> None:
        """Store where `trainable` can be imported from, for `load` in another process; a
        class no other process can import (defined in a function or an interactive session)
        leaves the record as it was."""
        try:
            ref = object_ref(trainable)
        except ConfigError:
            return
        if ref != self._row.trainable:
            self.storage.set_trainable(self._row, ref)
            self._row = self.storage.refresh(self._row)

    def _check_checkpoint_root(self) -> None:
        """Refuse to train when members point at checkpoints in a local folder that no longer
        exists: every restore would fail. Their records stay as they are."""
        root = self._row.checkpoint_root
        if "://" in root or Path(root).is_dir():
            return
        pointing = sum(m.checkpoint_id is not None for m in self.members)
        if pointing:
            raise ConfigError(f"the checkpoint folder {root!r} of population {self.name!r} is "
                              f"missing, but {pointing} members point at checkpoints in it: "
                              f"restore the folder (nothing in the storage was changed), or "
                              f"train a new population")

    @property
    def best(self) -> Member | None:
        """The member with the best finite score (lowest id on ties), retired members left
        out; None before any score. A genetic population's is its elite (see
        `popbt.ga.GeneticPopulation`).

        Raises:
            ConfigError: the population has several objectives (read `front`).
        """
        if self.settings.objectives:
            names = [o.metric for o in self.settings.objectives]
            raise ConfigError(f"population {self.name!r} has the objectives {names} and no "
                              f"single best member: read pop.front (the members no other "
                              f"beats on every objective)")
        if self._row.settings.trainer == "ga":
            elite = self._elite()
            if elite is not None:
                return elite
        return self.storage.best(self._row)

    def _elite(self) -> Member | None:
        """A genetic population's elite: the candidate with the best mean over its extra
        episodes (`popbt.strategies.genetic.elite_metric`; lowest id on ties), or None
        without candidates."""
        name, fitness = elite_metric(self.settings.metric), self.settings.fitness
        tested = [(fitness.of({self.settings.metric: m.metrics[name]}), m)
                  for m in self.storage.members(self._row)
                  if m.state is not MemberState.RETIRED and name in m.metrics]
        tested = [(f, m) for f, m in tested if math.isfinite(f)]
        if not tested:
            return None
        return max(tested, key=lambda fm: (fm[0], -fm[1].member_id))[1]

    @property
    def front(self) -> list[Member]:
        """The members no other beats on every objective, by their latest scores, best
        first by the first objective; for a population of one metric, `[best]` (or [])."""
        fitness = self.settings.fitness
        if not isinstance(fitness, ParetoFitness):
            best = self.storage.best(self._row)
            return [] if best is None else [best]
        return front(self.members, fitness)

    @property
    def hypervolume(self) -> float | None:
        """The hypervolume of `front` against the objectives' reference point (None: one
        metric, or an objective without a reference)."""
        fitness = self.settings.fitness
        if not isinstance(fitness, ParetoFitness):
            return None
        return front_hypervolume(self.members, fitness)

    @property
    def members(self) -> list[Member]:
        """Every member's current record, by member id; members retired when the population
        shrank are in `retired` instead."""
        return [m for m in self.storage.members(self._row) if m.state is not MemberState.RETIRED]

    @property
    def retired(self) -> list[Member]:
        """The records of the members retired when the population shrank, by member id."""
        return [m for m in self.storage.members(self._row) if m.state is MemberState.RETIRED]

    def resize(self, size: int, *, clone_best: bool = False) -> Resized:
        """Grow the population to `size` members (new ones sampled from the space, or with
        `clone_best` copying the best member), or shrink it (the worst retired: their records
        stay, in `retired`); see `popbt._resize` for the rules.

        Examples:
            >>> done = pop.resize(6)
            >>> done.added, done.retired, len(pop.members)
            ((4, 5), (), 6)
            >>> pop.resize(3).retired, [m.member_id for m in pop.retired]
            ((5, 4, 3), [3, 4, 5])

        Raises:
            ConfigError: `size` is not an integer >= 2; the population is trained by the
                vectorized trainer; with `clone_best`, the explore raised.
        """
        from popbt._resize import resize

        return resize(self, size, clone_best=clone_best)

    def export(self, path: str | os.PathLike[str], *, member: int | str = "best") -> Path:
        """Write a member's latest weights to `path` (a `TorchTrainable`'s model
        `state_dict`, else its whole state), its schedule and record beside it; returns
        `path`. See `popbt.export`.

        Examples:
            >>> pop.export("toy-best.npz").name
            'toy-best.npz'

        Raises:
            ConfigError: no such member, no member has a score yet ("best"), the member has
                no checkpoint yet, or `path` cannot be written.
            CheckpointError: the checkpoint file is missing or corrupt.
        """
        from popbt.export import export_member

        return export_member(self, path, member=member).state

    def member(self, member_id: int) -> Member:
        """One member's current record. Raises `ConfigError` for an unknown id."""
        return self.storage.member(self._row, self._check_member(member_id))

    def _check_member(self, member_id: Any) -> int:
        """`member_id`, if a member (retired ones included) has it."""
        count = len(self.storage.members(self._row))
        if isinstance(member_id, bool) or not isinstance(member_id, int) \
                or not 0 <= member_id < count:
            raise ConfigError(f"member {member_id!r} does not exist; members are "
                              f"0..{count - 1}")
        return member_id

    def events(self, *, member_id: int | None = None,
               kinds: Sequence[EventKind] = ()) -> list[Event]:
        """Events in commit order, optionally of one member and some kinds."""
        return self.storage.events(self._row, member_id=member_id, kinds=kinds)

    def scores(self, *, member_id: int | None = None) -> list[Score]:
        """Every evaluation in commit order, optionally of one member."""
        return self.storage.scores(self._row, member_id=member_id)

    def lineage(self, member_id: int) -> list[Segment]:
        """The chain of (member, steps) the member's current weights descend from, oldest
        first, each with its events (exploits and explores included)."""
        current = self.member(member_id)
        return lineage(self.events(), member_id, current.step)

    def schedule(self, member_id: int) -> list[tuple[int, dict[str, Any]]]:
        """[(step, hparams), ...]: the hyperparameters in force along the member's lineage."""
        return schedule(self.lineage(member_id))

    def load(self, member_id: int, *, trainable: type[Trainable] | None = None) -> Trainable:
        """A trainable set up and restored from the member's latest checkpoint.

        The class is `trainable` when given, else the one this object trained with, else the
        one the population was last trained with anywhere (recorded by `train` and
        `popbt run` as an importable reference: a module's class, or a class in a file, which
        is imported again; classes defined in a function or an interactive session are not
        recorded).

        Raises:
            ConfigError: no trainable class is known or the recorded one cannot be imported
                (pass `trainable=`), or the member has no checkpoint yet.
        """
        from popbt.checkpoints import CheckpointStore

        check_trainer(self._row, "workers")
        cls = trainable or self._trainable or self._recorded_trainable()
        member = self.member(member_id)
        if member.checkpoint_id is None:
            raise ConfigError(f"member {member_id} has no checkpoint yet; train first")
        obj = cls()
        obj.member_id, obj.member_step = member_id, member.step
        obj.setup(dict(member.hparams), self.settings.member_seed(member_id))
        ckpt = self.storage.checkpoint(self._row, member.checkpoint_id)
        obj.load_state_dict(CheckpointStore(self._row.checkpoint_root)
                            .load(ckpt.path, ckpt.checksum))
        return obj

    def _recorded_trainable(self) -> type[Trainable]:
        """The class the population was last trained with, imported from its record.

        Raises:
            ConfigError: none was recorded, or it cannot be imported here.
        """
        ref = self.row.trainable
        if ref is None:
            raise ConfigError(f"population {self.name!r} records no trainable class (it was "
                              f"never trained with one importable elsewhere); pass "
                              f"trainable= (the Trainable subclass the population trains)")
        try:
            found = resolve_ref(ref)
        except ConfigError as exc:
            raise ConfigError(f"population {self.name!r} was trained with {ref!r}, which "
                              f"cannot be imported here ({exc}); pass trainable=") from None
        if not (isinstance(found, type) and issubclass(found, Trainable)):
            raise ConfigError(f"population {self.name!r} was trained with {ref!r}, which is "
                              f"not a Trainable subclass now; pass trainable=")
        return found

    def status(self) -> dict[str, Any]:
        """A JSON-ready summary: settings, progress, best member and counts of events."""
        row = self.row
        everyone = self.storage.members(row)
        members = [m for m in everyone if m.state is not MemberState.RETIRED]
        best = None if self.settings.objectives else self.best
        states: dict[str, int] = {}
        for m in everyone:
            states[m.state.value] = states.get(m.state.value, 0) + 1
        return {
            "name": row.name, "storage": self.storage.safe_url, "size": row.settings.size,
            "metric": self.settings.metric, "mode": self.settings.mode,
            "target_steps": row.target_steps, "steps": [m.step for m in members],
            "states": states, "error": row.error, "stopped": row.stopped,
            "exploits": self.storage.count_events(row, EventKind.EXPLOIT),
            "failures": self.storage.count_events(row, EventKind.FAILURE),
            "best": None if best is None else {
                "member_id": best.member_id, "score": best.score, "step": best.step,
                "hparams": best.hparams},
            "trainer": row.settings.trainer,
            "settings": self.settings.to_config(),
            **({"front": [{"member_id": m.member_id, "step": m.step, "hparams": m.hparams,
                           "objectives": {o.metric: m.metrics.get(o.metric)
                                          for o in self.settings.objectives}}
                          for m in self.front], "hypervolume": self.hypervolume}
               if self.settings.objectives else {}),
        }

    def gc(self, *, min_age_s: float | None = None, dry_run: bool = False) -> Collected:
        """Remove checkpoint files that killed workers left behind under the population's
        folder: temporary files of writes cut short, and checkpoints that no row points at,
        each once it is `min_age_s` old (default `popbt.garbage.DEFAULT_MIN_AGE_S`, one
        hour, so that files of live workers are kept). A file a row points at is never
        removed. The rule is `popbt.garbage`'s; `popbt gc` runs this.

        Examples:
            >>> pop.gc(min_age_s=0, dry_run=True).removed  # nothing was left behind
            ()

        Raises:
            ConfigError: a bad `min_age_s`.
            CheckpointError: the filesystem of a URL root failed.
        """
        from popbt.garbage import DEFAULT_MIN_AGE_S, collect

        return collect(self.storage, self.row, now=time.time(), dry_run=dry_run,
                       min_age_s=DEFAULT_MIN_AGE_S if min_age_s is None else min_age_s)
