"""`SQLStorage`'s claims: taking a member (after the ready decisions due before it), holding
it under a lease, and giving it back.

Contract: a claim is one conditional UPDATE; it succeeds only on an idle member, or a running
one whose lease has expired, and hands out a new token. Heartbeats and releases name that
token; once another worker has claimed the member they change nothing.
"""

from __future__ import annotations

from popbt.errors import FatalRunError
from popbt.storage._core import owner, to_member
from popbt.storage._decisions import Decisions
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
                    return Claim(member=to_member(pop, row), worker=worker,
                                 token=row.token, target_steps=target)

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
