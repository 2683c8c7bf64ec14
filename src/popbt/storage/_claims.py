"""`SQLStorage`'s claims: taking a member (after the ready decisions due before it), holding
it under a lease, and giving it back.

Contract: a claim is one conditional UPDATE; it succeeds only on an idle member, or a running
one whose lease has expired, and hands out a new token. Heartbeats and releases name that
token; once another worker has claimed the member they change nothing.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from popbt.errors import FatalRunError
from popbt.storage._core import owner, to_member
from popbt.storage._decisions import Decisions, Snapshot
from popbt.storage._retry import retried
from popbt.storage._statements import DECISIONS_PER_TRANSACTION
from popbt.storage.base import Claim, Decide, PopulationRow


class Claims(Decisions):
    """Claims, leases and releases; a claim makes the decisions due before it."""

    @retried
    def claim(self, pop: PopulationRow, *, worker: str, lease_s: float, now: float,
              decide: Decide) -> Claim | None:
        """Take the least-advanced claimable member, or None when none is claimable or the
        population is stopped.

        With the population's `max_lead`, a member more than that many ready intervals ahead
        of the least-advanced member still training (idle or running) is not claimable. With
        `sync`, none ahead of it is, and the ready decisions due at a step are made together,
        once every member still training has reached it (see `_decide_generation`).

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
        self._notice_upgrade()
        while True:
            with self._write() as conn:
                target, error, stopped = self._rows(conn, "population", {"p": pop.id})[0]
                if error:
                    raise FatalRunError(error)
                if stopped is not None:
                    return None
                for _ in range(DECISIONS_PER_TRANSACTION + 1):
                    picked = self._pick(conn, pop, now)
                    if not picked:
                        return None
                    member_id, pending = picked
                    if not pending:
                        break
                    if pop.settings.sync:
                        self._decide_generation(conn, pop, member_id, decide, now, target)
                    else:
                        self._decide(conn, pop, member_id, decide, now, target)
                else:
                    continue  # commit these decisions; the lock is not held for long
                taken = self._rows(conn, "take", {"p": pop.id, "m": member_id, "w": worker,
                                                  "now": now, "until": now + lease_s})
                if taken:
                    row = taken[0]
                    return Claim(member=to_member(pop, row), worker=worker,
                                 token=row.token, target_steps=target)

    def _pick(self, conn: Connection, pop: PopulationRow, now: float) -> tuple[int, int] | None:
        """The next claimable member (id, pending) in claim order, within `max_lead` ready
        intervals of the least-advanced member still training (none with `sync`)."""
        lead = 0 if pop.settings.sync else pop.settings.max_lead
        if lead is None:
            rows = self._rows(conn, "pick", {"p": pop.id, "now": now})
        else:
            rows = self._rows(conn, "pick_bounded", {
                "p": pop.id, "now": now, "lead": lead * int(pop.settings.ready["steps"])})
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def _decide_generation(self, conn: Connection, pop: PopulationRow, member_id: int,
                           decide: Decide, now: float, target: int) -> None:
        """Make the ready decisions of every member due one at the step of `member_id` (the
        least advanced: every member still training has reached that step), in member order,
        each against the peers and records as they were before any of them was applied."""
        step = self._rows(conn, "member", {"p": pop.id, "m": member_id})[0].step
        due = [mid for (mid,) in self._rows(conn, "generation",
                                            {"p": pop.id, "step": step, "now": now})]
        before = Snapshot(peers=self._peers(conn, pop, decide.history_window),
                          rows={row.member_id: row for row in self._rows(conn, "members",
                                                                         {"p": pop.id})})
        for mid in due:
            self._decide(conn, pop, mid, decide, now, target, before)

    @retried
    def heartbeat(self, pop: PopulationRow, claim: Claim, *, lease_s: float, now: float) -> bool:
        """Extend the claim's lease; False when the claim was lost to another worker."""
        with self._write() as conn:
            return self._run(conn, "heartbeat", {
                **owner(pop, claim.member.member_id, claim.worker, claim.token),
                "until": now + lease_s}) == 1

    @retried
    def release(self, pop: PopulationRow, member_id: int, *, worker: str, token: int) -> bool:
        """Give a claimed member back untouched (it resumes from its last checkpoint); False
        when the claim was already lost."""
        with self._write() as conn:
            return self._run(conn, "release", owner(pop, member_id, worker, token)) == 1

    @retried
    def holders(self, pop: PopulationRow) -> list[tuple[int, str, int]]:
        """(member id, worker, token) of every running member."""
        with self._read() as conn:
            return [tuple(r) for r in self._rows(conn, "holders", {"p": pop.id})]

    @retried
    def unfinished(self, pop: PopulationRow) -> int:
        """How many members are idle or running (not done, not failed)."""
        with self._read() as conn:
            count: int = self._rows(conn, "unfinished", {"p": pop.id})[0][0]
        return count
