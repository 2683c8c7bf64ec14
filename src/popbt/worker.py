"""The one loop every executor runs: claim → restore → train → evaluate → checkpoint →
decide → report → release, until no member is left to train.

Contract:
- A worker holds at most one member at a time, for one ready interval (or less, up to the
  step target), under a lease that a background thread renews.
- The checkpoint file is complete before the report that points at it is committed. A report
  whose claim was lost (the lease expired and another worker took the member) changes nothing
  and its file is removed, so no interval is counted twice.
- An exception from the trainable (or from restoring its checkpoint) is recorded as a
  FAILURE event and the member goes back to the pool, re-seeded from the best member after
  `max_failures` failures in a row (see `Storage.fail`). A member that keeps failing after
  its re-seeds, a result without the metric, a state that cannot be stored or read back, or
  a checkpoint folder that is full or read-only, is a fatal error of the whole population:
  it is recorded in the storage, every worker stops, and `FatalRunError` is raised. Nothing
  already reported is changed by it.
- A stop (`Storage.set_stopped`) is not an error: claims then find no member, so a worker
  reports the member it holds and ends its loop (`WorkerStats.stopped` says why).
- Before `setup`, `train` and `evaluate`, the trainable's `member_id` and `member_step` are
  set (see `Trainable`); what it logs with `Trainable.log` in an interval is recorded with
  that interval's metrics, beside what `evaluate` returns.
- In a population with a league (`popbt.League`), each trainable's `league` is the member's
  view of it (`popbt.league.client`), every evaluation records the member's rating as the
  metric "rating", and a ready point at which a snapshot is due freezes the checkpoint it
  reports as a league entry, in the report's transaction.
- After the first interval it trains, a worker checks which names of the search space the
  trainable read from the hyperparameters given to `train` (see `popbt.hparams`); names it
  never read are reported once, to `on_unread` (by default an
  `UnusedHyperparameterWarning`). The rest of the run gets plain dicts.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from popbt._evaluation import evaluation_of
from popbt._trainers import check_trainer
from popbt.checkpoints import CheckpointStore
from popbt.decider import Decider, describe_error
from popbt.errors import CheckpointError, ConfigError, FatalRunError
from popbt.hparams import Hyperparameters, Unread, find_unread, warn_unread
from popbt.league.client import LeagueClient
from popbt.records import Member, MemberState
from popbt.settings import Settings
from popbt.storage.base import Claim, Outcome, PopulationRow, Report
from popbt.storage.contract import RESEEDS, Storage
from popbt.trainable import Trainable, take_logged

REAP_EVERY_S = 1.0
# A checkpoint write failing with one of these stops the run at once: retrying cannot help.
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


MAX_LEASE_S = 7 * 24 * 3600.0  # a longer lease only delays giving back a dead worker's member


@dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    """How a worker paces itself.

    Attributes:
        lease_s: how long a claim lasts without a heartbeat; a dead worker's member is
            claimable again this long after its last heartbeat. Above 0, at most
            `MAX_LEASE_S` (a week).
        cache_size: how many members' live trainables a worker keeps between turns.
        poll_s: the longest wait between claim attempts when every member is taken.
    """

    lease_s: float = 30.0
    cache_size: int = 64
    poll_s: float = 0.25

    def __post_init__(self) -> None:
        if not (isinstance(self.lease_s, int | float) and 0 < self.lease_s <= MAX_LEASE_S):
            raise ConfigError(f"lease_s={self.lease_s!r}: must be a number of seconds above 0 "
                              f"and at most {MAX_LEASE_S:g} (a week; the heartbeat renews the "
                              f"lease every lease_s / 3 seconds, so it need not cover a whole "
                              f"interval)")
        if isinstance(self.cache_size, bool) or not isinstance(self.cache_size, int) \
                or self.cache_size < 0:
            raise ConfigError(f"cache_size={self.cache_size!r}: must be an integer >= 0")


@dataclass
class WorkerStats:
    """What one worker did."""

    intervals: int = 0
    failures: int = 0
    lost_claims: int = 0
    steps: int = 0
    train_seconds: float = 0.0
    stopped: str | None = None  # why the population was stopped, when that ended the loop


class _Heartbeat:
    """One background thread that renews whichever claim the worker holds."""

    def __init__(self, storage: Storage, pop: PopulationRow, lease_s: float) -> None:
        self._storage, self._pop, self._lease_s = storage, pop, lease_s
        self._claim: Claim | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="popbt-heartbeat", daemon=True)
        self._thread.start()

    def hold(self, claim: Claim | None) -> None:
        with self._lock:
            self._claim = claim

    def _run(self) -> None:
        while not self._stop.wait(self._lease_s / 3):
            with self._lock:
                claim = self._claim
            if claim is not None:
                # A failed beat is retried at the next one; the lease bounds the damage.
                with contextlib.suppress(Exception):
                    self._storage.heartbeat(self._pop, claim, lease_s=self._lease_s,
                                            now=time.time())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_dead_local_holders(storage: Storage, pop: PopulationRow) -> bool:
    """Release members held by dead worker processes of this host (no need to wait for their
    leases): they resume from their last checkpoint. True if any was released."""
    host = socket.gethostname()
    released = False
    for member_id, holder, token in storage.holders(pop):
        parts = holder.rsplit(":", 2)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        if int(parts[1]) != os.getpid() and not _alive(int(parts[1])):
            released |= storage.release(pop, member_id, worker=holder, token=token)
    return released


class Worker:
    """Trains members of one population until none is left.

    Examples:
        >>> import popbt
        >>> from popbt.demos.toy_trainable import ToyTrainable
        >>> pop = popbt.load_population(name="toy", storage="sqlite:///popbt.db")
        >>> _ = pop.storage.set_target(pop.row, 48)
        >>> Worker(pop.storage, pop.row, pop.settings, ToyTrainable, name="w0").run().steps
        32
        >>> {m.step for m in pop.members}
        {48}

    Raises:
        ConfigError: the population is trained by another trainer (vectorized, genetic).
    """

    def __init__(self, storage: Storage, pop: PopulationRow, settings: Settings,
                 trainable: type[Trainable], *, name: str,
                 options: WorkerOptions | None = None,
                 on_report: Callable[[Outcome], None] | None = None,
                 on_unread: Callable[[Unread], None] = warn_unread) -> None:
        check_trainer(pop, "workers")
        self.storage, self.pop, self.settings = storage, pop, settings
        self.trainable = trainable
        self.name = name
        self.options = options or WorkerOptions()
        self.on_report = on_report
        self.on_unread = on_unread
        self.checkpoints = CheckpointStore(pop.checkpoint_root)
        self.stats = WorkerStats()
        self.decider = Decider(settings)
        self._cache: OrderedDict[int, tuple[int | None, Trainable]] = OrderedDict()
        self._read_back = False
        self._reads_checked = False
        self._setup_hparams = Hyperparameters()
        self.league = None if settings.league is None else LeagueClient(
            storage=storage, pop=pop, settings=settings, trainable=trainable,
            load=self.checkpoints.load)

    def run(self) -> WorkerStats:
        """Loop until every member is done or failed, or the population is stopped (see
        `Storage.set_stopped`: the member trained now is reported first).

        Raises:
            FatalRunError: the population has a fatal error (recorded by any worker).
        """
        heartbeat = _Heartbeat(self.storage, self.pop, self.options.lease_s)
        wait = 0.01
        reaped = -float("inf")
        try:
            pop = self.pop
            while True:
                if time.monotonic() - reaped >= REAP_EVERY_S:
                    reaped = time.monotonic()
                    self._reap_dead_local_holders(pop)
                try:
                    claim = self.storage.claim(pop, worker=self.name,
                                               lease_s=self.options.lease_s, now=time.time(),
                                               decide=self.decider)
                except ConfigError as exc:  # a decision that cannot be made
                    raise self._fatal(pop, str(exc)) from exc
                if claim is None:
                    if self.storage.unfinished(pop) == 0:
                        return self.stats
                    self.stats.stopped = self.storage.refresh(pop).stopped
                    if self.stats.stopped is not None:
                        return self.stats
                    time.sleep(wait)
                    wait = min(wait * 2, self.options.poll_s)
                    continue
                wait = 0.01
                heartbeat.hold(claim)
                try:
                    self._turn(pop, claim)
                except BaseException:
                    self._cache.pop(claim.member.member_id, None)
                    with contextlib.suppress(Exception):
                        self.storage.release(pop, claim.member.member_id, worker=claim.worker,
                                             token=claim.token)
                    raise
                finally:
                    heartbeat.hold(None)
        finally:
            heartbeat.close()

    def _reap_dead_local_holders(self, pop: PopulationRow) -> bool:
        """`release_dead_local_holders`, run when the worker starts and then at most every
        `REAP_EVERY_S` seconds, before a claim: a released member is the least advanced, so
        it is the next one claimed."""
        return release_dead_local_holders(self.storage, pop)

    def _turn(self, pop: PopulationRow, claim: Claim) -> None:
        member = claim.member
        try:
            trainable, path, read, report = self._train(pop, claim)
        except ConfigError as exc:
            raise self._fatal(pop, f"member {member.member_id} at step {member.step}: "
                                   f"{exc}") from exc
        except Exception as exc:  # noqa: BLE001 - the user's code may raise anything
            self._failed(pop, claim, exc)
            return
        outcome = self.storage.report(pop, report, now=time.time())
        if not outcome.accepted:
            self.stats.lost_claims += 1
            self.checkpoints.delete([path])
            self._cache.pop(member.member_id, None)
            return
        self.checkpoints.delete(outcome.obsolete_paths)
        self.stats.intervals += 1
        self.stats.steps += report.step - member.step
        assert outcome.member is not None
        self._remember(member.member_id, outcome.member.checkpoint_id, trainable)
        if self.on_report is not None:
            self.on_report(outcome)
        if read is not None:
            self._reads_checked = True
            finding = find_unread(self.trainable, self.settings.space, read,
                                  self._setup_hparams.read)
            if finding is not None:
                self.on_unread(finding)

    def _failed(self, pop: PopulationRow, claim: Claim, exc: BaseException) -> None:
        self.stats.failures += 1
        self._cache.pop(claim.member.member_id, None)
        error = describe_error(exc)
        try:
            after = self.storage.fail(pop, claim, error=error,
                                      max_failures=self.settings.max_failures,
                                      decide=self.decider, now=time.time())
        except ConfigError as exc:  # the explore of a re-seed raised
            raise self._fatal(pop, str(exc)) from exc
        if after is not None and after.state is MemberState.FAILED \
                and after.failures >= (RESEEDS + 1) * self.settings.max_failures:
            raise self._fatal(pop, f"member {after.member_id} failed {after.failures} times in "
                                   f"a row, also after {RESEEDS} re-seeds from the best "
                                   f"member, last with {error}; the run is stopped and "
                                   f"everything trained is kept: fix the cause and run "
                                   f"again to resume")

    def _fatal(self, pop: PopulationRow, message: str) -> FatalRunError:
        """Record a fatal error, which stops every worker of the population; the error to
        raise here."""
        self.storage.set_error(pop, message)
        return FatalRunError(message)

    def _restore(self, pop: PopulationRow, member: Member) -> Trainable:
        cached = self._cache.pop(member.member_id, None)
        if cached is not None and cached[0] == member.checkpoint_id:
            return cached[1]
        trainable = self.trainable()
        trainable.member_id, trainable.member_step = member.member_id, member.step
        if self.league is not None:
            trainable.league = self.league.view(trainable)
        hparams = dict(member.hparams)
        if not self._reads_checked:
            hparams = self._setup_hparams = Hyperparameters(hparams)
        trainable.setup(hparams, self.settings.member_seed(member.member_id))
        if member.checkpoint_id is not None:
            row = self.storage.checkpoint(pop, member.checkpoint_id)
            trainable.load_state_dict(self.checkpoints.load(row.path, row.checksum))
        return trainable

    def _remember(self, member_id: int, checkpoint_id: int | None, trainable: Trainable) -> None:
        if self.options.cache_size == 0:
            return
        self._cache[member_id] = (checkpoint_id, trainable)
        self._cache.move_to_end(member_id)
        while len(self._cache) > self.options.cache_size:
            self._cache.popitem(last=False)

    def _train(self, pop: PopulationRow,
               claim: Claim) -> tuple[Trainable, str, frozenset[str] | None, Report]:
        """Train the claimed member one interval and save its checkpoint: the trainable, the
        checkpoint's path, the names the trainable read from its hyperparameters while it
        trained and evaluated (None once they have been checked), and the report."""
        settings, member = self.settings, claim.member
        trainable = self._restore(pop, member)
        steps = min(settings.ready.steps_to_ready(step=member.step,
                                                  last_ready_step=member.last_ready_step),
                    claim.target_steps - member.step)
        started = time.perf_counter()
        hparams = dict(member.hparams)
        if not self._reads_checked:
            hparams = Hyperparameters(hparams)
        take_logged(trainable)  # what an interval that failed logged is not recorded
        if self.league is not None:
            self.league.stale()
        trainable.member_step = member.step
        trainable.train(hparams, steps)
        trainable.member_step = member.step + steps
        result = trainable.evaluate()
        if self.league is not None:
            result = self.league.with_rating(result, member.member_id)
        read = hparams.read if isinstance(hparams, Hyperparameters) else None
        self.stats.train_seconds += time.perf_counter() - started
        score, metrics, samples = evaluation_of(result, settings.metric)
        metrics = {**take_logged(trainable), **metrics}
        step = member.step + steps
        folder = f"{pop.name}/m{member.member_id:05d}"
        state = trainable.state_dict()
        try:
            path, checksum, size = self.checkpoints.save(folder, step, state)
        except OSError as exc:
            if exc.errno not in NO_ROOM:
                raise
            raise ConfigError(f"cannot write checkpoints under {self.checkpoints.root}: "
                              f"{exc.strerror}; make room or give another checkpoint "
                              f"folder") from None
        if not self._read_back:  # once per worker: a state saved is a state that loads
            try:
                self.checkpoints.load(path, checksum)
            except CheckpointError as exc:
                self.checkpoints.delete([path])
                raise ConfigError(f"the state_dict() of {self.trainable.__name__} was saved "
                                  f"but cannot be loaded back: {exc}") from None
            self._read_back = True
        ready = settings.ready.is_ready(step=step, last_ready_step=member.last_ready_step)
        freeze = (ready and settings.league is not None
                  and settings.league.snapshot_due(last_ready_step=member.last_ready_step,
                                                   step=step))
        return trainable, path, read, Report(
            member_id=member.member_id, worker=claim.worker, token=claim.token, step=step,
            score=score, fitness=settings.fitness.of(metrics), metrics=metrics,
            samples=samples,
            sample_fitness=tuple(settings.fitness.of({**metrics, settings.metric: x})
                                 for x in samples),
            checkpoint_path=path, checksum=checksum, size=size,
            ready=ready, decide=ready and settings.ready.may_exploit(step),
            keep_checkpoints=settings.keep_checkpoints,
            league_entry=settings.league.rating.initial if freeze and settings.league else None)
