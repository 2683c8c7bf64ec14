"""The storage every worker coordinates through: SQLAlchemy Core over SQLite or PostgreSQL.

Contract:
- Each public method is one short transaction. Writes on SQLite begin with BEGIN IMMEDIATE
  (one writer at a time, waiting up to the busy timeout), so no read-then-write transaction
  ever fails with "database is locked"; the journal is WAL.
- A claim is one conditional UPDATE: it succeeds only on an idle member, or a running one
  whose lease has expired, and hands out a new token. Reports, heartbeats and failures name
  that token; once another worker has claimed the member they change nothing.
- A report (score, checkpoint pointer, READY event, release) commits as a whole or not at
  all. A ready decision due after it is made by the claim that next picks the member, before
  any member trains past that step, in the claim's transaction: an exploit copies the donor's
  checkpoint reference, step and hyperparameters as committed, then explores, with
  their events; a decision that raises changes nothing.
- A checkpoint row is deleted, and its file reported for deletion, only when no member points
  at it and it is not among the last `keep` its writer made.
- A transaction that fails because the database is unreachable is run again with backoff for
  up to `retry_s` seconds (see `_retry`). A report whose commit went through before the
  connection was lost is recognised when run again and accepted once; a claim in that case
  leaves its member held until the lease expires, when it resumes from its last checkpoint.
- No message, log line or URL it hands out shows the storage's password, nor any other
  secret of its URL (`?password=`, `?sslpassword=`, ...; see `popbt._secrets`).
- Opened with `create=False` it creates nothing (no file, no table): for readers.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
)

from popbt import _secrets
from popbt.decisions import (
    CopyDonor,
    Decision,
    DecisionContext,
    DonorView,
    ExploreInPlace,
    MemberHistory,
    Reseed,
    decision_events,
    history_from_events,
)
from popbt.errors import (
    ConfigError,
    FatalRunError,
    PopulationExists,
    StorageError,
)
from popbt.records import Event, EventKind, Member, MemberState, Peer, Peers, Score
from popbt.storage._retry import retried
from popbt.storage._schema import checkpoints, events, members, metadata, populations, scores
from popbt.storage._statements import (
    DECISIONS_PER_TRANSACTION,
    LOCKED,
    MEMBER_FIELDS,
    SNAPSHOT_MEMBER,
    SQL,
    MemberRow,
)
from popbt.storage.base import (
    CheckpointRow,
    Claim,
    Decide,
    Outcome,
    PopulationRow,
    Report,
)
from popbt.storage.contract import RESEEDS, Storage

SCHEMA_LOCK = 0x706F7062  # the PostgreSQL advisory lock held while tables are created


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def safe_url(url: str) -> str:
    """The URL with its password and secret query parameters (`?password=`,
    `?sslpassword=`, ...) replaced by ***, for messages and logs (see `popbt._secrets`)."""
    try:
        rendered = sa.engine.make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        return "<unparseable storage URL>"
    return _secrets.hide(_secrets.redact_url(rendered), _secrets.secrets_of(url))


def password_of(url: str) -> str:
    """The password in a storage URL: its userinfo's, else a `?password=` parameter's ("" if
    none or unparseable). `SQLStorage.redact` hides every secret, not only this one."""
    try:
        parsed = sa.engine.make_url(url)
    except (ArgumentError, ValueError):
        return ""
    return str(parsed.password or parsed.query.get("password") or "")


def _copyable(row: Any) -> dict[str, Any]:
    """The member columns an exploit overwrites, as they are in `row`."""
    return {"step": row.step, "fitness": row.fitness, "metrics": row.metrics,
            "checkpoint_id": row.checkpoint_id, "hparams": row.hparams,
            "last_ready_step": row.last_ready_step, "history_since": row.history_since}


class SQLStorage(Storage):
    """Populations, members, checkpoints' pointers, scores and events in one SQL database.

    Example:
        >>> storage = SQLStorage("sqlite:///popbt.db")  # doctest: +SKIP

    Raises:
        StorageError: the URL names no known database or the database cannot be opened.
    """

    def __init__(self, url: str, *, busy_timeout_s: float = 60.0, retry_s: float = 120.0,
                 create: bool = True) -> None:
        """Open (and if needed create the tables of) the storage at `url`.

        `shared_url` is then the URL that reaches the same storage from any process (a
        SQLite path made absolute). Transient errors are retried for `retry_s` seconds;
        SQLite waits up to `busy_timeout_s` for its write lock. With `create=False` (readers,
        and anything that joins an existing population) nothing is created or changed: no
        file, no table, no journal mode.

        Raises:
            StorageError: the URL cannot be parsed or opened; with `create=False`, the SQLite
                file does not exist, or the database holds no popbt tables.
        """
        if not (isinstance(retry_s, int | float) and retry_s >= 0):
            raise ConfigError(f"retry_s={retry_s!r}: must be a number of seconds >= 0")
        self.url = url
        self.safe_url = safe_url(url)
        self.retry_s = float(retry_s)
        self._secrets = _secrets.secrets_of(url) | {password_of(url)} - {""}
        try:
            parsed = sa.engine.make_url(url)
        except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
            shown = _secrets.redact_url(url) if isinstance(exc, ValueError) else self.safe_url
            why = "; its port is not a number" if isinstance(exc, ValueError) else ""
            raise StorageError(f"cannot parse storage URL {shown!r}{why}; use "
                               f"sqlite:///path/to/file.db or "
                               f"postgresql+psycopg://user@host:5432/db") from None
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database in (None, "", ":memory:"):
            raise StorageError(f"storage {self.safe_url!r} is an in-memory SQLite database, "
                               f"which worker processes cannot share; use "
                               f"sqlite:///path/to/file.db")
        self.sqlite_path = parsed.database if self.is_sqlite else None
        if self.is_sqlite:  # the same file for workers that start in another folder
            parsed = parsed.set(database=os.path.abspath(str(parsed.database)))
            url = parsed.render_as_string(hide_password=False)
            if not create and not os.path.isfile(str(parsed.database)):
                raise StorageError(f"no storage at {self.safe_url} (the file does not exist); "
                                   f"check the path (or --storage / $POPBT_STORAGE), or "
                                   f"create a population there first with `popbt run`")
        self.shared_url = url
        try:
            self._engine = self._create_engine(url, busy_timeout_s, wal=create)
            self._write_engine = self._engine.execution_options(popbt_write=True)
            if create:
                self._create_tables(busy_timeout_s)
            else:
                self._check_tables()
        except (NoSuchModuleError, ArgumentError, ImportError) as exc:
            raise StorageError(f"cannot open storage {self.safe_url!r}: {exc}; use "
                               f"sqlite:///path/to/file.db, or postgresql+psycopg://... with "
                               f"pip install 'popbt[postgres]'") from None
        except DBAPIError as exc:
            raise StorageError(f"cannot open storage {self.safe_url!r}: "
                               f"{self.redact(str(exc.orig or exc))}") from None
        self._snapshots: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        lock = "" if self.is_sqlite else " FOR UPDATE"
        named = self.is_sqlite  # sqlite3 takes :name; psycopg takes %(name)s
        self._sql = {k: (v if named else re.sub(r":(\w+)", r"%(\1)s", v))
                     + (lock if k in LOCKED else "") for k, v in SQL.items()}

    def _create_tables(self, busy_timeout_s: float) -> None:
        """Create the tables that are missing. Processes that open a new SQLite file at the
        same moment all succeed: switching it to WAL can be refused at once as "locked"
        (the busy timeout does not cover it), which is retried for up to `busy_timeout_s`;
        on PostgreSQL an advisory lock orders the creators."""
        deadline, pause = time.monotonic() + busy_timeout_s, 0.01
        while True:
            try:
                with self._write_engine.begin() as conn:
                    if not self.is_sqlite:
                        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
                    metadata.create_all(conn)
                return
            except OperationalError as exc:
                if not (self.is_sqlite and "locked" in str(exc.orig)) \
                        or time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def _check_tables(self) -> None:
        """Refuse a database without popbt's tables (opened with `create=False`)."""
        with self._engine.begin() as conn:
            inspector = sa.inspect(conn)
            missing = [t for t in metadata.tables if not inspector.has_table(t)]
        if missing:
            self._engine.dispose()
            what = ("none of popbt's tables" if len(missing) == len(metadata.tables)
                    else f"no table {', '.join(missing)}")
            raise StorageError(f"no popbt storage at {self.safe_url}: the database has "
                               f"{what}; check the URL, or create a population there first "
                               f"with `popbt run`")

    def redact(self, text: str) -> str:
        """`text` with this storage's password and other secrets of its URL (see
        `popbt._secrets`), wherever they appear, replaced by ***."""
        return _secrets.hide(text, self._secrets)

    def _rows(self, conn: Connection, name: str, params: Mapping[str, Any]) -> list[Any]:
        """Run a hot-path statement on the driver's cursor; rows of member columns come back
        as `MemberRow`s, other rows as tuples."""
        cur = conn.connection.cursor()
        cur.execute(self._sql[name], params)
        rows: list[Any] = list(cur.fetchall()) if cur.description is not None else []
        if cur.description is not None and len(cur.description) == len(MEMBER_FIELDS):
            rows = [MemberRow(*r) for r in rows]
        cur.close()
        return rows

    def _run(self, conn: Connection, name: str,
             params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
        """Run a hot-path statement (several times for a list of parameter sets); rowcount."""
        cur = conn.connection.cursor()
        if isinstance(params, Mapping):
            cur.execute(self._sql[name], params)
        else:
            cur.executemany(self._sql[name], params)
        count = cur.rowcount
        cur.close()
        return count

    def _create_engine(self, url: str, busy_timeout_s: float, *, wal: bool = True) -> Engine:
        """The engine; on SQLite each connection sets the busy timeout and, with `wal`, the
        WAL journal (a setting stored in the file, so readers leave it as it is)."""
        if not self.is_sqlite:
            return sa.create_engine(url, pool_pre_ping=True)
        engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # popbt issues BEGIN itself
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            if wal:
                cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("popbt_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_engine.begin() as conn:
            yield conn

    # -- populations -------------------------------------------------------------------------

    @retried
    def create_population(self, *, name: str, config: dict[str, Any], checkpoint_root: str,
                          initial_hparams: Sequence[dict[str, Any]], now: float) -> PopulationRow:
        """Create a population and its members (with CREATED events) in one transaction.

        Raises:
            PopulationExists: a population of that name exists (perhaps created a moment
                ago by another process: creation is atomic, so exactly one creator wins).
        """
        try:
            with self._write() as conn:
                key = conn.execute(populations.insert().values(
                    name=name, config=_dumps(config), target_steps=0,
                    checkpoint_root=checkpoint_root, created=now)).inserted_primary_key
                assert key is not None
                pop_id = key[0]
                conn.execute(members.insert(), [
                    {"population_id": pop_id, "member_id": i, "hparams": _dumps(h), "step": 0,
                     "metrics": "{}", "state": MemberState.DONE.value, "last_ready_step": 0,
                     "ready_count": 0, "history_since": 0, "failures": 0, "token": 0,
                     "lease_until": 0.0} for i, h in enumerate(initial_hparams)])
                conn.execute(events.insert(), [
                    {"population_id": pop_id, "member_id": i, "step": 0,
                     "kind": EventKind.CREATED.value, "time": now,
                     "data": _dumps({"hparams": h})} for i, h in enumerate(initial_hparams)])
        except IntegrityError:
            raise PopulationExists(f"population {name!r} already exists in {self.safe_url}; "
                                   f"pass load_if_exists=True to resume it") from None
        found = self.get_population(name)
        assert found is not None
        return found

    @retried
    def get_population(self, name: str) -> PopulationRow | None:
        """The population named `name`, or None."""
        with self._read() as conn:
            row = conn.execute(sa.select(populations).where(populations.c.name == name)).first()
        return None if row is None else self._population(row)

    @retried
    def list_populations(self) -> list[PopulationRow]:
        """Every population in the storage, oldest first."""
        with self._read() as conn:
            rows = conn.execute(sa.select(populations).order_by(populations.c.id)).all()
        return [self._population(r) for r in rows]

    def _population(self, row: Any) -> PopulationRow:
        return PopulationRow(id=row.id, name=row.name, config=json.loads(row.config),
                             target_steps=row.target_steps, checkpoint_root=row.checkpoint_root,
                             error=row.error, created=row.created)

    @retried
    def set_target(self, pop: PopulationRow, steps: int, *, now: float | None = None) -> int:
        """Train every member to `steps`: finished members below it and failed ones go idle;
        clears a recorded fatal error. Returns the target it replaced.

        With `now` given, a lower target than the stored one is refused while any member is
        held under a lease that has not expired at `now` (another run is training to the
        stored target), so no run ever lowers another's target unseen.

        Raises:
            ConfigError: `steps` is below the stored target while members are held.
        """
        m = members.c
        with self._write() as conn:
            previous = conn.execute(sa.select(populations.c.target_steps).where(
                populations.c.id == pop.id)).scalar_one()
            if now is not None and steps < previous:
                held = conn.execute(sa.select(sa.func.count()).where(
                    m.population_id == pop.id, m.state == MemberState.RUNNING.value,
                    m.lease_until >= now)).scalar_one()
                if held:
                    raise ConfigError(
                        f"population {pop.name!r} is being trained to {previous} steps by "
                        f"another run ({held} members held now); train to steps={previous} "
                        f"(or more) to join it, or stop that run first to train to {steps}")
            conn.execute(populations.update().where(populations.c.id == pop.id)
                         .values(target_steps=steps, error=None))
            conn.execute(members.update().where(
                m.population_id == pop.id, m.step < steps,
                m.state.in_([MemberState.DONE.value, MemberState.FAILED.value]))
                .values(state=MemberState.IDLE.value, failures=0))
            conn.execute(members.update().where(
                m.population_id == pop.id, m.step >= steps, m.state == MemberState.IDLE.value)
                .values(state=MemberState.DONE.value))
        return int(previous)

    @retried
    def set_error(self, pop: PopulationRow, error: str) -> None:
        """Record a fatal error: every worker of the population stops at its next claim."""
        with self._write() as conn:
            conn.execute(populations.update().where(populations.c.id == pop.id)
                         .values(error=error))

    # -- claims --------------------------------------------------------------------------------

    @retried
    def claim(self, pop: PopulationRow, *, worker: str, lease_s: float, now: float,
              decide: Decide) -> Claim | None:
        """Take the least-advanced claimable member, or None when none is claimable.

        Claimable: idle, or running under a lease that expired before `now`. Among members at
        the same step, those with a ready decision due come first: each such decision is made
        with `decide` and applied in a transaction of its own, before any claimable member
        trains past that step, so members that take turns are compared at equal steps. A
        decision never copies a donor behind the member (its step never goes back). A
        decision and the claim that follows it share a transaction. Members whose trainable
        failed come after healthy ones at the same step.

        Raises:
            FatalRunError: the population has a fatal error recorded.
        """
        while True:
            with self._write() as conn:
                target, error = self._rows(conn, "population", {"p": pop.id})[0]
                if error:
                    raise FatalRunError(error)
                for _ in range(DECISIONS_PER_TRANSACTION + 1):
                    picked = self._rows(conn, "pick", {"p": pop.id, "now": now})
                    if not picked:
                        return None
                    member_id, pending = picked[0]
                    if not pending:
                        break
                    self._decide(conn, pop, member_id, decide, now, target)
                else:
                    continue  # commit these decisions; the lock is not held for long
                taken = self._rows(conn, "take", {"p": pop.id, "m": member_id, "w": worker,
                                                  "now": now, "until": now + lease_s})
                if taken:
                    row = taken[0]
                    return Claim(member=self._member(pop, row), worker=worker,
                                 token=row.token, target_steps=target)

    def _decide(self, conn: Connection, pop: PopulationRow, member_id: int, decide: Decide,
                now: float, target: int) -> None:
        """Make a member's due ready decision and apply it with its events; a member that
        copied a donor already at the step target is done."""
        row = self._rows(conn, "member", {"p": pop.id, "m": member_id})[0]
        peers = self._peers(conn, pop, decide.history_window)
        decision = decide.decide(self._context(conn, pop, row, decide, peers))
        values = _copyable(row)
        event_rows = self._apply(conn, pop, row, decision, values, now, target)
        state = MemberState.DONE.value if values["step"] >= target else row.state
        self._run(conn, "decided", {**values, "p": pop.id, "m": member_id, "state": state,
                                    "version": self._bump(conn, pop)})
        if event_rows:
            self._run(conn, "add_event", event_rows)

    def _context(self, conn: Connection, pop: PopulationRow, row: Any, decide: Decide,
                 peers: Peers) -> DecisionContext:
        """The decision context of the member in `row`; its donor lookup reads the peer's row
        in this transaction (None without a checkpoint to copy)."""
        metric = pop.config["metric"]

        def donor(member_id: int) -> DonorView | None:
            found = self._rows(conn, "member", {"p": pop.id, "m": member_id})
            if not found or found[0].checkpoint_id is None:
                return None
            d = found[0]
            return DonorView(member_id=d.member_id, step=d.step,
                             score=json.loads(d.metrics).get(metric),
                             fitness=-math.inf if d.fitness is None else d.fitness,
                             hparams=json.loads(d.hparams), checkpoint_id=d.checkpoint_id)

        def history() -> dict[int, MemberHistory]:
            e = events.c
            rows = conn.execute(sa.select(e.member_id, e.kind, e.step, e.data).where(
                e.population_id == pop.id).order_by(e.id)).all()
            return history_from_events(
                ((r.member_id, EventKind(r.kind), r.step, json.loads(r.data)) for r in rows),
                metric=metric)

        me = Peers.of(peers).find(row.member_id) or Peer(
            row.member_id, row.step, math.nan if row.fitness is None else row.fitness)
        return decide.context(member=me, hparams=json.loads(row.hparams),
                              ready_count=row.ready_count, peers=peers, donor=donor,
                              history=history)

    @retried
    def heartbeat(self, pop: PopulationRow, claim: Claim, *, lease_s: float, now: float) -> bool:
        """Extend the claim's lease; False when the claim was lost to another worker."""
        with self._write() as conn:
            return self._run(conn, "heartbeat", {
                **self._owner(pop, claim.member.member_id, claim.worker, claim.token),
                "until": now + lease_s}) == 1

    @retried
    def release(self, pop: PopulationRow, member_id: int, *, worker: str, token: int) -> bool:
        """Give a claimed member back untouched (it resumes from its last checkpoint); False
        when the claim was already lost."""
        with self._write() as conn:
            return self._run(conn, "release", self._owner(pop, member_id, worker, token)) == 1

    @retried
    def holders(self, pop: PopulationRow) -> list[tuple[int, str, int]]:
        """(member id, worker, token) of every running member."""
        with self._read() as conn:
            return [tuple(r) for r in self._rows(conn, "holders", {"p": pop.id})]

    @staticmethod
    def _owner(pop: PopulationRow, member_id: int, worker: str, token: int) -> dict[str, Any]:
        return {"p": pop.id, "m": member_id, "w": worker, "t": token}

    @retried
    def unfinished(self, pop: PopulationRow) -> int:
        """How many members are idle or running (not done, not failed)."""
        m = members.c
        with self._read() as conn:
            return conn.execute(sa.select(sa.func.count()).where(
                m.population_id == pop.id,
                m.state.in_([MemberState.IDLE.value, MemberState.RUNNING.value]))).scalar_one()

    # -- decisions -----------------------------------------------------------------------------

    @retried
    def peers(self, pop: PopulationRow, *, window: int = 0) -> Peers:
        """Every member that has a score, with its last `window` fitness values (scores since
        its last exploit) when `window` > 0."""
        with self._read() as conn:
            return self._peers(conn, pop, window)

    def _bump(self, conn: Connection, pop: PopulationRow) -> int:
        """The population's next version: rows a transaction changes are stamped with it.
        The population row's lock orders versions as commits, so a reader that has seen
        version v needs only the rows stamped above v."""
        return self._rows(conn, "bump", {"p": pop.id})[0][0]

    def _peers(self, conn: Connection, pop: PopulationRow, window: int) -> Peers:
        """The scored members, from this process's copy of the member records refreshed with
        the rows changed since it was last read (one small query, not one row per member)."""
        version = self._rows(conn, "version", {"p": pop.id})[0][0]
        cached = self._snapshots.get(pop.id)
        if cached is None or cached[0] > version:
            size = pop.config["size"]
            cached = (0, np.zeros(size), np.full(size, np.nan))
        seen, steps, fitness = cached
        if version > seen:
            steps, fitness = steps.copy(), fitness.copy()
            for mid, step, fit in self._rows(conn, "peers", {"p": pop.id, "since": seen}):
                steps[mid] = step
                fitness[mid] = np.nan if fit is None else fit
            self._snapshots[pop.id] = (version, steps, fitness)
        scored = np.flatnonzero(~np.isnan(fitness))
        history: dict[int, list[float]] = {}
        if window > 0:
            for mid, fit in self._rows(conn, "history", {"p": pop.id, "window": window}):
                history.setdefault(mid, []).append(fit)
        return Peers(scored, steps[scored], fitness[scored],
                     {mid: tuple(h) for mid, h in history.items()})

    @retried
    def report(self, pop: PopulationRow, report: Report, *, now: float) -> Outcome:
        """Publish one interval's result and release the member; see the module contract."""
        with self._write() as conn:
            target = self._rows(conn, "population", {"p": pop.id})[0][0]  # locked first
            owned = self._rows(conn, "owned", self._owner(pop, report.member_id, report.worker,
                                                          report.token))
            if not owned:
                return self._lost_report(conn, pop, report)
            row = owned[0]
            key = {"p": pop.id, "m": report.member_id, "now": now}
            ckpt_id = self._rows(conn, "add_checkpoint", {
                **key, "step": report.step, "path": report.checkpoint_path,
                "checksum": report.checksum, "size": report.size})[0][0]
            fitness = report.fitness
            metrics = _dumps(report.metrics)
            self._run(conn, "add_score", {
                **key, "step": report.step, "fitness": fitness, "metrics": metrics})
            values: dict[str, Any] = {
                "step": report.step, "fitness": fitness, "metrics": metrics,
                "checkpoint_id": ckpt_id, "failures": 0, "error": None, "hparams": row.hparams,
                "last_ready_step": row.last_ready_step, "ready_count": row.ready_count,
                "history_since": row.history_since}
            if report.ready:
                values.update(last_ready_step=report.step, ready_count=row.ready_count + 1)
                self._run(conn, "add_event", {**key, "step": report.step,
                                              "kind": EventKind.READY.value,
                                              "data": _dumps({"score": report.score,
                                                              "metrics": report.metrics})})
            done = report.step >= target
            values.update(state=(MemberState.DONE if done else MemberState.IDLE).value,
                          owner=None, pending=int(report.decide))
            after = self._rows(conn, "update_member",
                               {**values, **key, "version": self._bump(conn, pop)})[0]
            obsolete = self._rows(conn, "garbage", {**key, "keep": report.keep_checkpoints})
            if obsolete:
                self._run(conn, "delete_checkpoint", [{"id": i} for i, _ in obsolete])
        return Outcome(accepted=True, member=self._member(pop, after),
                       obsolete_paths=tuple(path for _, path in obsolete))

    def _lost_report(self, conn: Connection, pop: PopulationRow, report: Report) -> Outcome:
        """The outcome of a report whose claim is not held: accepted if this very report was
        committed before (a retry after a lost connection), rejected otherwise."""
        if self._rows(conn, "reported", {"p": pop.id, "m": report.member_id,
                                         "path": report.checkpoint_path}):
            row = self._rows(conn, "member", {"p": pop.id, "m": report.member_id})[0]
            return Outcome(accepted=True, member=self._member(pop, row), obsolete_paths=())
        return Outcome(accepted=False, member=None, obsolete_paths=())

    def _apply(self, conn: Connection, pop: PopulationRow, row: Any, decision: Decision,
               values: dict[str, Any], now: float, target: int) -> list[dict[str, Any]]:
        """Fill `values` (the member's columns, from `_copyable(row)`) with `decision`; the
        rows of its events. A `CopyDonor` is applied only from a donor with a checkpoint and
        a finite score that is not behind the member (its step would go back); any other is
        applied as `Continue`. A copy that lands at the step `target` takes the donor's score
        and metrics too: the member reports no more, and its score must be its checkpoint's."""
        if isinstance(decision, CopyDonor) and (
                decision.donor.checkpoint_id is None or decision.donor.step < row.step
                or not math.isfinite(decision.donor.fitness)):
            return []
        if isinstance(decision, CopyDonor | Reseed) and decision.donor is not None:
            d = decision.donor
            # The member keeps its own score until it reports again: ranking it by the
            # donor's would push the next member of the round into the bottom fraction,
            # and exploits would cascade through the population.
            values.update(step=d.step, checkpoint_id=d.checkpoint_id, last_ready_step=d.step,
                          history_since=self._rows(conn, "last_score",
                                                   {"p": pop.id, "m": row.member_id})[0][0])
            if d.step >= target:
                donor = self._rows(conn, "member", {"p": pop.id, "m": d.member_id})[0]
                values.update(fitness=donor.fitness, metrics=donor.metrics)
        if isinstance(decision, CopyDonor | ExploreInPlace | Reseed):
            values["hparams"] = _dumps(dict(decision.hparams))
        return [{"p": pop.id, "m": row.member_id, "now": now, "step": step, "kind": kind.value,
                 "data": _dumps(data)}
                for kind, step, data in decision_events(decision, step=row.step)]

    @retried
    def fail(self, pop: PopulationRow, claim: Claim, *, error: str, max_failures: int,
             decide: Decide, now: float) -> Member | None:
        """Record that the claimed member's trainable raised, and release it.

        `failures` counts the member's failures since its last accepted report; a re-seed does
        not reset it. At every `max_failures`-th failure, up to `RESEEDS` times, the member is
        re-seeded as `decide.reseed` decides (from the best other member, then explored; see
        `popbt.decider`); with no donor, or at the failure after the last re-seed's
        `max_failures` (`RESEEDS + 1` times `max_failures` in a row: the error survived
        fresh weights and hyperparameters), it is marked FAILED. Returns the member after, or
        None if the claim was lost.
        """
        m = members.c
        mid = claim.member.member_id
        with self._write() as conn:
            target = self._rows(conn, "population", {"p": pop.id})[0][0]  # locked first
            owned = self._rows(conn, "owned", self._owner(pop, mid, claim.worker, claim.token))
            if not owned:
                return None
            row = owned[0]
            failures = row.failures + 1
            event_rows = [{"p": pop.id, "m": mid, "now": now, "step": row.step,
                           "kind": EventKind.FAILURE.value,
                           "data": _dumps({"error": error, "failures": failures})}]
            values = {**_copyable(row), "failures": failures, "error": error, "owner": None,
                      "state": MemberState.IDLE.value}
            if failures >= (RESEEDS + 1) * max_failures:
                values["state"] = MemberState.FAILED.value
            elif failures % max_failures == 0:
                context = self._context(conn, pop, row, decide, self._peers(conn, pop, 0))
                decision = decide.reseed(context, error)
                event_rows += self._apply(conn, pop, row, decision, values, now, target)
                if decision.donor is None:
                    values["state"] = MemberState.FAILED.value
                elif values["step"] >= target:  # the donor is at the step target
                    values["state"] = MemberState.DONE.value
            self._run(conn, "add_event", event_rows)
            values["version"] = self._bump(conn, pop)
            after = conn.execute(members.update().where(
                m.population_id == pop.id, m.member_id == mid).values(**values)
                .returning(*members.c)).first()
        return self._member(pop, after)

    # -- whole rounds (the vectorized trainer) ------------------------------------------------

    @retried
    def write_round(self, pop: PopulationRow, *, scores: Sequence[tuple[int, int, float, dict]],
                    events: Sequence[tuple[int, int, EventKind, dict]],
                    members: Sequence[dict[str, Any]],
                    snapshot: tuple[int, str, str, int] | None, keep: int,
                    now: float) -> tuple[str, ...]:
        """See `Storage.write_round` (the contract)."""
        with self._write() as conn:
            key = {"p": pop.id, "now": now}
            ckpt_id = self._rows(conn, "last_snapshot", {"p": pop.id})[0][0]
            if snapshot is not None:
                step, path, checksum, size = snapshot
                ckpt_id = self._rows(conn, "add_checkpoint", {
                    **key, "m": SNAPSHOT_MEMBER, "step": step, "path": path,
                    "checksum": checksum, "size": size})[0][0]
            if scores:
                self._run(conn, "add_scores", [
                    {**key, "m": mid, "step": step, "fitness": fitness,
                     "metrics": _dumps(metrics)} for mid, step, fitness, metrics in scores])
            if events:
                self._run(conn, "add_event", [
                    {**key, "m": mid, "step": step, "kind": kind.value, "data": _dumps(data)}
                    for mid, step, kind, data in events])
            self._write_members(conn, pop, members, ckpt_id)
            obsolete = self._rows(conn, "garbage", {**key, "m": SNAPSHOT_MEMBER, "keep": keep})
            if obsolete:
                self._run(conn, "delete_checkpoint", [{"id": i} for i, _ in obsolete])
        return tuple(path for _, path in obsolete)

    @retried
    def latest_snapshot(self, pop: PopulationRow) -> CheckpointRow | None:
        """The newest whole-population snapshot, or None."""
        c = checkpoints.c
        with self._read() as conn:
            row = conn.execute(sa.select(checkpoints).where(
                c.population_id == pop.id, c.member_id == SNAPSHOT_MEMBER)
                .order_by(c.id.desc()).limit(1)).first()
        return None if row is None else CheckpointRow(
            id=row.id, member_id=row.member_id, step=row.step, path=row.path,
            checksum=row.checksum, size=row.size)

    @retried
    def rewind(self, pop: PopulationRow, *, step: int, members: Sequence[dict[str, Any]],
               snapshot_id: int | None) -> None:
        """Forget everything recorded after `step` (scores, events, snapshots) and set the
        members back to `members` (as for `write_round`), pointing at `snapshot_id`: the
        record then matches the weights a resumed run restarts from."""
        with self._write() as conn:
            for table in (scores, events):
                conn.execute(table.delete().where(table.c.population_id == pop.id,
                                                  table.c.step > step))
            conn.execute(checkpoints.delete().where(
                checkpoints.c.population_id == pop.id, checkpoints.c.step > step))
            self._write_members(conn, pop, members, snapshot_id)

    def _write_members(self, conn: Connection, pop: PopulationRow,
                       members: Sequence[dict[str, Any]], checkpoint_id: int | None) -> None:
        version = self._bump(conn, pop)
        self._run(conn, "write_member", [{
            "p": pop.id, "m": v["member_id"], "step": v["step"], "fitness": v["fitness"],
            "metrics": _dumps(v["metrics"]), "hparams": _dumps(v["hparams"]),
            "last_ready_step": v["last_ready_step"], "ready_count": v["ready_count"],
            "state": v["state"], "checkpoint_id": checkpoint_id, "version": version}
            for v in members])

    # -- reading -------------------------------------------------------------------------------

    def _member(self, pop: PopulationRow, row: Any) -> Member:
        metrics = json.loads(row.metrics)
        score = metrics.get(pop.config["metric"]) if row.fitness is not None else None
        return Member(member_id=row.member_id, hparams=json.loads(row.hparams), step=row.step,
                      score=score, metrics=metrics, state=MemberState(row.state),
                      checkpoint_id=row.checkpoint_id, last_ready_step=row.last_ready_step,
                      ready_count=row.ready_count, failures=row.failures, error=row.error)

    @retried
    def members(self, pop: PopulationRow) -> list[Member]:
        """Every member's current record, by member id."""
        with self._read() as conn:
            rows = conn.execute(sa.select(members).where(members.c.population_id == pop.id)
                                .order_by(members.c.member_id)).all()
        return [self._member(pop, r) for r in rows]

    @retried
    def member(self, pop: PopulationRow, member_id: int) -> Member:
        """One member's current record (the id must exist)."""
        with self._read() as conn:
            return self._member(pop, self._rows(conn, "member", {"p": pop.id,
                                                                 "m": member_id})[0])

    @retried
    def best(self, pop: PopulationRow) -> Member | None:
        """The member with the highest finite fitness (lowest id on ties), or None."""
        m = members.c
        with self._read() as conn:
            row = conn.execute(sa.select(members).where(
                m.population_id == pop.id, m.fitness > -math.inf)
                .order_by(m.fitness.desc(), m.member_id).limit(1)).first()
        return None if row is None else self._member(pop, row)

    @retried
    def events(self, pop: PopulationRow, *, member_id: int | None = None,
               kinds: Sequence[EventKind] = ()) -> list[Event]:
        """Events in commit order, optionally of one member and of some kinds."""
        e = events.c
        query = sa.select(events).where(e.population_id == pop.id).order_by(e.id)
        if member_id is not None:
            query = query.where(e.member_id == member_id)
        if kinds:
            query = query.where(e.kind.in_([k.value for k in kinds]))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [Event(event_id=r.id, member_id=r.member_id, step=r.step,
                      kind=EventKind(r.kind), time=r.time, data=json.loads(r.data))
                for r in rows]

    @retried
    def count_events(self, pop: PopulationRow, kind: EventKind) -> int:
        """How many events of `kind` the population has."""
        e = events.c
        with self._read() as conn:
            return conn.execute(sa.select(sa.func.count()).where(
                e.population_id == pop.id, e.kind == kind.value)).scalar_one()

    @retried
    def scores(self, pop: PopulationRow, *, member_id: int | None = None) -> list[Score]:
        """Every evaluation in commit order, optionally of one member."""
        s = scores.c
        query = sa.select(scores).where(s.population_id == pop.id).order_by(s.id)
        if member_id is not None:
            query = query.where(s.member_id == member_id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        out = []
        for r in rows:
            metrics = json.loads(r.metrics)
            out.append(Score(member_id=r.member_id, step=r.step,
                             score=metrics[pop.config["metric"]], metrics=metrics, time=r.time))
        return out

    @retried
    def checkpoint(self, pop: PopulationRow, checkpoint_id: int) -> CheckpointRow:
        """See `Storage.checkpoint` (the contract)."""
        c = checkpoints.c
        with self._read() as conn:
            row = conn.execute(sa.select(checkpoints).where(
                c.population_id == pop.id, c.id == checkpoint_id)).first()
        if row is None:
            raise StorageError(f"checkpoint {checkpoint_id} of population {pop.name!r} is not "
                               f"recorded")
        return CheckpointRow(id=row.id, member_id=row.member_id, step=row.step, path=row.path,
                             checksum=row.checksum, size=row.size)

    @retried
    def checkpoint_paths(self) -> set[str]:
        """The path of every checkpoint row of every population in the storage (what a
        garbage collection must keep; see `popbt.gc`)."""
        with self._read() as conn:
            return set(conn.execute(sa.select(checkpoints.c.path).distinct()).scalars())
