"""The storage contract: what every storage backend guarantees to the worker loop, the
population, the executors, the vectorized trainer and the read-only views.

Contract (every backend; `SQLStorage` in `popbt.storage.sql` is the reference):
- Each public method is one transaction: it commits as a whole or changes nothing, and a
  method that raises has changed nothing.
- A claim is conditional: it succeeds only on an idle member, or a running one whose lease
  has expired, and hands out a new token. Reports, heartbeats, releases and failures name
  that token; once another worker has claimed the member they change nothing.
- A ready decision is made with the `Decide` it is given, inside the claim's transaction,
  from the records as committed; the storage applies the returned `Decision` value (see
  `popbt.decisions`) and never runs strategy code in any other way. A decision that raises
  changes nothing, and the error passes through.
- A checkpoint row is deleted, and its file reported for deletion, only when no member points
  at it and it is not among the last `keep` its writer made.
- A retired member (`MemberState.RETIRED`, see `resize`) is never claimed, revived, ranked
  among the peers, copied or the best; its record and events stay, and `members` lists it.
- A transaction whose connection was lost may be run again; one that committed before the
  loss is recognised and not applied twice.
- No message, log line or URL (`safe_url`) it hands out shows a secret of its URL.
- A stop (`set_stopped`) is not an error: claims find no member until `set_target` clears
  it, and every other operation (a report of a member trained meanwhile included) goes on.
- Errors: `StorageError` when the storage cannot be reached or read; `PopulationExists`,
  `PopulationNotFound` and `ConfigError` for what the caller asked; `FatalRunError` from a
  claim once a fatal error is recorded.

A new backend subclasses `Storage`, implements every abstract method, and runs the contract
test suite in `popbt.testing` against itself. Open a storage with
`popbt.storage.get_storage(url_or_object)`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from popbt.errors import ConfigError, PopulationNotFound, StorageError
from popbt.records import Event, EventKind, Member, Peers, Score
from popbt.storage.base import (
    CheckpointRow,
    Claim,
    Clone,
    Decide,
    Outcome,
    PopulationRow,
    Report,
    Resized,
    WarmStart,
)
from popbt.storage.league_contract import LeagueContract

RESEEDS = 2  # re-seeds of a failing member before it is given up (see `Storage.fail`)


class Storage(LeagueContract, ABC):
    """Populations, members, checkpoints' pointers, scores and events, and the league's
    entries, matches and ratings (`popbt.storage.league_contract`), shared by every worker
    that opens the same URL; see the module contract.

    Attributes:
        url: the URL the storage was opened with (it may hold a password: never show it).
        safe_url: the URL with its secrets replaced by ***, for messages and logs.
        shared_url: a URL that reaches the same storage from any process or machine (it may
            hold a password: it is handed to workers, never shown).
        sqlite_path: the database file when the storage is one file beside which checkpoints
            may be kept by default; None otherwise.
        retry_s: how long a transaction is retried while the database is unreachable.

    Examples:
        >>> from popbt.storage import get_storage
        >>> storage = get_storage("sqlite:///popbt.db")
        >>> [p.name for p in storage.list_populations()]
        ['toy']
        >>> storage.close()
    """

    url: str
    safe_url: str
    shared_url: str
    sqlite_path: str | None = None
    retry_s: float = 0.0

    @abstractmethod
    def redact(self, text: str) -> str:
        """`text` with every secret of this storage's URL, wherever it appears, replaced by
        ***."""

    @abstractmethod
    def close(self) -> None:
        """Release the storage's connections; the object is not used afterwards."""

    # -- populations -------------------------------------------------------------------------

    @abstractmethod
    def create_population(self, *, name: str, config: dict[str, Any], checkpoint_root: str,
                          initial_hparams: Sequence[dict[str, Any]], now: float,
                          starts: Sequence[WarmStart] = ()) -> PopulationRow:
        """Create a population and its members (each DONE at step 0 with `initial_hparams[i]`
        and a CREATED event) in one transaction; the new row (target 0).

        Members 0..len(starts)-1 start from the checkpoint files of `starts` (written under
        `checkpoint_root` beforehand): each gets a checkpoint row of its own at step 0 that it
        points at, and a WARM_START event after its CREATED event recording `source`.

        Raises:
            PopulationExists: a population of that name exists (perhaps created a moment
                ago by another process: creation is atomic, so exactly one creator wins).
        """

    @abstractmethod
    def get_population(self, name: str) -> PopulationRow | None:
        """The population named `name`, or None."""

    @abstractmethod
    def list_populations(self) -> list[PopulationRow]:
        """Every population in the storage, oldest first."""

    def find_population(self, name: str | None) -> PopulationRow:
        """The population named `name`, or with `name=None` the only one in the storage.

        Raises:
            PopulationNotFound: no population has that name, or `name` is None and the
                storage holds none (a ConfigError; the message lists those there are).
            ConfigError: `name` is None and the storage holds several.
        """
        row = None if name is None else self.get_population(name)
        if row is not None:
            return row
        names = [p.name for p in self.list_populations()]
        if name is not None:
            raise PopulationNotFound(f"no population {name!r} in {self.safe_url}; it holds "
                                     f"{names if names else 'none'}")
        if len(names) != 1:
            error = ConfigError if names else PopulationNotFound
            raise error(f"{self.safe_url} holds {len(names)} populations "
                        f"({', '.join(names) or 'none'}); choose one with --name")
        return self.find_population(names[0])

    def refresh(self, pop: PopulationRow) -> PopulationRow:
        """The population's row as stored now.

        Raises:
            StorageError: the population no longer exists.
        """
        found = self.get_population(pop.name)
        if found is None:
            raise StorageError(f"population {pop.name!r} no longer exists in {self.safe_url}")
        return found

    @abstractmethod
    def set_target(self, pop: PopulationRow, steps: int, *, now: float | None = None) -> int:
        """Train every member to `steps`, in one transaction: finished members below it and
        failed ones go idle (their failure count reset; retired ones stay retired), idle ones
        at or past it are done;
        clears a recorded fatal error. Returns the target it replaced.

        With `now` given, a lower target than the stored one is refused while any member is
        held under a lease that has not expired at `now` (another run is training to the
        stored target), so no run ever lowers another's target unseen. It also clears a
        stop (see `set_stopped`).

        Raises:
            ConfigError: `steps` is below the stored target while members are held.
        """

    @abstractmethod
    def resize(self, pop: PopulationRow, *, size: int, hparams: Sequence[dict[str, Any]],
               clone: Clone | None, now: float) -> Resized:
        """Make the population `size` members (those not retired), in one transaction, and
        store `size` as its settings' size.

        Growing adds members with the next ids (one above the highest id ever used), each
        with a CREATED event: with `clone`, each copies the best member that has a
        checkpoint (its checkpoint reference and step, as an exploit does, with the
        hyperparameters `clone.clone` returns, recorded as EXPLOIT and EXPLORE events after
        CREATED); otherwise, or when no member has a checkpoint and a finite score yet, the
        i-th new member starts at step 0 with `hparams[i]`. A new member has no score until
        it reports; it is idle below the step target, done at it.

        Shrinking retires the worst members: those without a score first, then the lowest
        fitness, the highest id first on ties; each becomes RETIRED (a claim on it is lost:
        its worker's report is refused) with a RETIRED event. `resize` to the current size
        changes nothing.

        Raises:
            ConfigError: `size` is below 1, or growing needs more than `len(hparams)` new
                hyperparameter sets.
        """

    @abstractmethod
    def set_error(self, pop: PopulationRow, error: str) -> None:
        """Record a fatal error: every worker of the population stops at its next claim
        (which raises `FatalRunError`), until `set_target` clears it."""

    @abstractmethod
    def set_stopped(self, pop: PopulationRow, reason: str) -> None:
        """Stop the population, `reason` saying why (the population row's `stopped`): from
        now on every claim returns None, until `set_target` clears it. It is not an error:
        members held now are still reported, and a worker that finds no claim ends once it
        sees `stopped` set."""

    @abstractmethod
    def set_trainable(self, pop: PopulationRow, ref: str) -> None:
        """Record `ref` ("module:Class" or "/path/file.py:Class", as `popbt._refs.object_ref`
        writes it) as the class that trains the population (the population row's
        `trainable`), replacing any earlier one; `Population.load` imports it when it is
        given no class."""

    # -- claims --------------------------------------------------------------------------------

    @abstractmethod
    def claim(self, pop: PopulationRow, *, worker: str, lease_s: float, now: float,
              decide: Decide) -> Claim | None:
        """Take the least-advanced claimable member for `worker` under a lease until
        `now + lease_s`, with a new token; None when none is claimable, or the population
        is stopped (see `set_stopped`; a fatal error is checked first).

        Claimable: idle, or running under a lease that expired before `now` (never
        retired). Among members at
        the same step, those with a ready decision due come first: each such decision is made
        with `decide` and applied before any claimable member trains past that step, so
        members that take turns are compared at equal steps. A decision never copies a donor
        behind the member (its step never goes back), nor one without a checkpoint or a
        finite fitness; a member that copies a donor at the step target is done. A decision
        and the claim that follows it share a transaction. Members whose trainable failed
        come after healthy ones at the same step.

        Raises:
            FatalRunError: the population has a fatal error recorded.
            Exception: whatever `decide` raised; nothing is changed.
        """

    @abstractmethod
    def heartbeat(self, pop: PopulationRow, claim: Claim, *, lease_s: float, now: float) -> bool:
        """Extend the claim's lease to `now + lease_s`; False when the claim was lost to
        another worker (nothing changes then)."""

    @abstractmethod
    def release(self, pop: PopulationRow, member_id: int, *, worker: str, token: int) -> bool:
        """Give a claimed member back untouched (idle; it resumes from its last checkpoint);
        False when the claim was already lost."""

    @abstractmethod
    def holders(self, pop: PopulationRow) -> list[tuple[int, str, int]]:
        """(member id, worker, token) of every running member."""

    @abstractmethod
    def unfinished(self, pop: PopulationRow) -> int:
        """How many members are idle or running (not done, failed or retired)."""

    # -- reports and decisions -----------------------------------------------------------------

    @abstractmethod
    def peers(self, pop: PopulationRow, *, window: int = 0) -> Peers:
        """Every member that has a score and is not retired, with its fitness (higher is
        better, -inf for a score that is not finite) and its last `window` fitness values
        (scores since its last exploit) when `window` > 0."""

    @abstractmethod
    def report(self, pop: PopulationRow, report: Report, *, now: float) -> Outcome:
        """Publish one interval's result and release the member, in one transaction: a
        checkpoint row, a score, the member's new step, score and checkpoint pointer (its
        failure count reset), a READY event when `report.ready`, a decision due when
        `report.decide`, and the member idle (done at the step target).

        Returns `Outcome(accepted=False)` and changes nothing when the claim was lost; a
        report that was committed before (run again after a lost connection) is accepted
        once. A finite fitness better than every one reported before makes the checkpoint
        the population's elite (what `DecisionContext.elite` reads, for `popbt.Backtrack`).
        `Outcome.obsolete_paths`: the writer's checkpoints beyond its last
        `report.keep_checkpoints` that no member points at and that are not the elite, whose
        rows were deleted; the caller deletes their files.
        """

    @abstractmethod
    def fail(self, pop: PopulationRow, claim: Claim, *, error: str, max_failures: int,
             decide: Decide, now: float) -> Member | None:
        """Record that the claimed member's trainable raised (a FAILURE event), and release
        it, in one transaction.

        `failures` counts the member's failures since its last accepted report; a re-seed does
        not reset it. At every `max_failures`-th failure, up to `RESEEDS` times, the member is
        re-seeded as `decide.reseed` decides; with no donor, or at the failure after the last
        re-seed's `max_failures` (`RESEEDS + 1` times `max_failures` in a row), it is marked
        FAILED. Returns the member after, or None if the claim was lost.
        """

    # -- whole rounds (the vectorized trainer) ------------------------------------------------

    @abstractmethod
    def write_round(self, pop: PopulationRow, *, scores: Sequence[tuple[int, int, float, dict]],
                    events: Sequence[tuple[int, int, EventKind, dict]],
                    members: Sequence[dict[str, Any]],
                    snapshot: tuple[int, str, str, int] | None, keep: int,
                    now: float) -> tuple[str, ...]:
        """Record one round of a population trained as a whole, in one transaction.

        `scores`: (member id, step, fitness, metrics); `events`: (member id, step, kind, data),
        written in this order; `members`: each member's new values (`member_id`, `step`,
        `fitness` (None before its first score), `metrics`, `hparams`, `last_ready_step`,
        `ready_count`, `state`, and optionally `genome`: bytes stored in the member's row, a
        genetic population's seed-chain genome).
        `snapshot` (step, path, checksum, size): a file holding the whole population, which
        every member then points at; snapshots beyond the last `keep` that no member points
        at are deleted. Returns the paths of the deleted snapshots' files.
        """

    @abstractmethod
    def genomes(self, pop: PopulationRow) -> dict[int, bytes]:
        """Every member's stored genome (see `write_round`) by member id; members without
        one are left out."""

    @abstractmethod
    def latest_snapshot(self, pop: PopulationRow) -> CheckpointRow | None:
        """The newest whole-population snapshot (see `write_round`), or None."""

    @abstractmethod
    def rewind(self, pop: PopulationRow, *, step: int, members: Sequence[dict[str, Any]],
               snapshot_id: int | None) -> None:
        """Forget everything recorded after `step` (scores, events, snapshots) and set the
        members back to `members` (as for `write_round`), pointing at `snapshot_id`, in one
        transaction: the record then matches the weights a resumed run restarts from."""

    # -- reading -------------------------------------------------------------------------------

    @abstractmethod
    def members(self, pop: PopulationRow) -> list[Member]:
        """Every member's current record, by member id (retired members included, as
        RETIRED)."""

    @abstractmethod
    def member(self, pop: PopulationRow, member_id: int) -> Member:
        """One member's current record (the id must exist)."""

    @abstractmethod
    def best(self, pop: PopulationRow) -> Member | None:
        """The member not retired with the highest finite fitness (lowest id on ties), or
        None."""

    @abstractmethod
    def events(self, pop: PopulationRow, *, member_id: int | None = None,
               kinds: Sequence[EventKind] = ()) -> list[Event]:
        """Events in commit order (their ids increase), optionally of one member and of some
        kinds."""

    @abstractmethod
    def events_after(self, pop: PopulationRow, event_id: int) -> list[Event]:
        """The events with an id above `event_id`, in commit order: what a reader that has
        seen the events up to `event_id` has not seen yet."""

    @abstractmethod
    def count_events(self, pop: PopulationRow, kind: EventKind) -> int:
        """How many events of `kind` the population has."""

    @abstractmethod
    def scores(self, pop: PopulationRow, *, member_id: int | None = None) -> list[Score]:
        """Every evaluation in commit order, optionally of one member; each `score_id`
        increases in commit order across the population."""

    @abstractmethod
    def scores_after(self, pop: PopulationRow, score_id: int) -> list[Score]:
        """The evaluations with a `score_id` above `score_id`, in commit order: what a
        reader that has seen the scores up to `score_id` has not seen yet."""

    @abstractmethod
    def checkpoint(self, pop: PopulationRow, checkpoint_id: int) -> CheckpointRow:
        """The checkpoint row `checkpoint_id`.

        Raises:
            StorageError: no such checkpoint in this population.
        """

    @abstractmethod
    def checkpoint_paths(self) -> set[str]:
        """The path of every checkpoint row of every population in the storage (what a
        garbage collection must keep; see `popbt.garbage`)."""
