"""Backtracking: truncation whose donors include the best checkpoint ever seen.

Contract: `Backtrack` ranks the member's peers, plus the population's elite (the checkpoint
of the best fitness ever reported, kept by the storage while it is the elite, even after
its member moved on or was overwritten), exactly as `Truncation` ranks the peers alone; a
member in the bottom fraction copies one drawn from the top fraction, which may be the
elite. Copying the elite may take the member back to an earlier step (the elite's): the
EXPLOIT event says `"backtrack": True`; with a population's `max_lead` or `sync`, the others
wait for it to catch up. With noisy scores the elite is the luckiest evaluation, so use it
with repeated evaluations (samples) and a margin.
"""

from __future__ import annotations

from dataclasses import dataclass

from popbt.strategies.exploit import Truncation


@dataclass(frozen=True, repr=False)
class Backtrack(Truncation):
    """`Truncation` whose top fraction may hold the population's elite (see the module
    contract): the paper of Zhang et al. (2021) and Orion's `BacktrackExploit`.

    Examples:
        >>> Backtrack(fraction=0.25).uses_elite
        True
    """

    uses_elite = True
