"""A population's ready decisions: its exploit strategy, then its explore, as `Decision` values.

Contract:
- `Decider.decide` ranks the peers by the population's fitness (`Fitness.rank`), then
  compares the member only with peers that have reached its step (their
  latest scores, from that step or later), and copies only such a peer, with a finite score
  and something to copy: a member never goes back to weights less trained than its own,
  except to the population's elite (the best checkpoint ever reported, still kept) when the
  exploit declares `uses_elite` (`popbt.Backtrack`): the elite is then ranked with the
  peers as one more candidate, and copying it is a `CopyDonor` with `backtrack=True`.
- `Decider.reseed` picks, for a member that keeps failing, the best other member with a
  finite score, among those at its step or beyond when there are any (lowest id on ties).
- `Decider.clone` is how a member added to a growing population starts from the best one:
  a copy explored as an exploit's.
- Pure: a decision depends only on its context; every random draw comes from the context's
  generator, seeded by (population seed, member id, ready count). An exception from a user's
  explore function becomes a `ConfigError` (a fatal error of the run).

Examples:
    >>> import popbt
    >>> from popbt.records import Peer, Peers
    >>> from popbt.settings import Settings
    >>> settings = Settings(space=popbt.Space({"lr": popbt.LogUniform(1e-4, 1e-1)}),
    ...     size=2, metric="accuracy", ready=popbt.Every(steps=10),
    ...     exploit=popbt.Truncation(fraction=0.5), explore=popbt.Perturb())
    >>> decider = Decider(settings)
    >>> donor = DonorView(member_id=1, step=10, score=0.9, fitness=0.9, hparams={"lr": 0.01},
    ...                   checkpoint_id=7)
    >>> context = decider.context(
    ...     member=Peer(0, 10, 0.2), hparams={"lr": 0.05}, ready_count=1,
    ...     peers=Peers.of([Peer(0, 10, 0.2), Peer(1, 10, 0.9)]),
    ...     donor=lambda member_id: donor)
    >>> decision = decider.decide(context)
    >>> type(decision).__name__, decision.donor.member_id, decision.hparams
    ('CopyDonor', 1, {'lr': 0.012})
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from popbt.decisions import (
    Continue,
    CopyDonor,
    Decision,
    DecisionContext,
    DonorView,
    ExploreInPlace,
    History,
    Reseed,
)
from popbt.errors import ConfigError
from popbt.records import Peer, Peers
from popbt.settings import Settings

ELITE = -1
"""The elite's id among the peers an exploit that uses it ranks (no member has it)."""


def describe_error(exc: BaseException) -> str:
    """"Type: message (at file:line)" of an exception, for records and messages."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


class Decider:
    """The ready decisions of one population's settings; see the module contract.

    `history_window`: how many recent fitness values per peer the exploit strategy reads
    (`Peer.history`); callers fill them in the peers they pass.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.history_window = settings.exploit.history_window
        resolve = getattr(settings.explore, "resolve", None)
        if resolve is not None:  # a stored custom explore (`StoredExplore`): imported now,
            resolve()  # by a trainer, never while a decision holds the database's write lock

    def context(self, *, member: Peer, hparams: Mapping[str, Any], ready_count: int,
                peers: Peers, donor: Callable[[int], DonorView | None],
                history: Callable[[], History] | None = None,
                elite: Callable[[], DonorView | None] | None = None) -> DecisionContext:
        """The context of the member's decision at its `ready_count`-th ready point;
        `history` reads the population's history (called only for an explore that uses
        it), `elite` the population's elite (only for an exploit that uses it)."""
        readers: dict[str, Any] = {"history": history, "elite": elite}
        return DecisionContext(
            member=member, hparams=hparams, ready_count=ready_count, peers=peers,
            space=self.settings.space, donor=donor,
            rng=self.settings.decision_rng(member.member_id, ready_count),
            **{name: read for name, read in readers.items() if read is not None})

    def decide(self, context: DecisionContext) -> Decision:
        """The member's ready decision: exploit (and explore), explore in place, or carry on."""
        peers = self.settings.fitness.rank(context)
        me = peers.find(context.member.member_id) or context.member  # as ranked too
        keep = peers.steps >= me.step
        if not keep.all():
            peers = peers.subset(keep)
        elite = self._elite(context, peers)
        if elite is not None:
            peers = Peers(np.append(peers.member_ids, ELITE), np.append(peers.steps, elite.step),
                          np.append(peers.fitness, elite.fitness), peers.history,
                          samples=peers.samples)
        chosen = self.settings.exploit.select(me, peers, context.rng)
        if chosen is None:
            return Continue()
        if chosen == ELITE and elite is not None:
            new, ops = self._copied(elite, context)
            return CopyDonor(donor=elite, old=dict(context.hparams), hparams=new, ops=ops,
                             backtrack=True)
        if chosen == me.member_id:
            explored = self._explore(context.hparams, context)
            if explored is None:
                return Continue()
            return ExploreInPlace(old=dict(context.hparams), hparams=explored[0],
                                  ops=explored[1])
        donor = context.donor(chosen)
        if donor is None or not math.isfinite(donor.fitness) or donor.step < me.step:
            return Continue()
        new, ops = self._copied(donor, context)
        return CopyDonor(donor=donor, old=dict(context.hparams), hparams=new, ops=ops)

    def _elite(self, context: DecisionContext, peers: Peers) -> DonorView | None:
        """The population's elite as one more candidate donor, for an exploit that uses it:
        None when there is none, or it is the current state of a member the peers hold."""
        if not self.settings.exploit.uses_elite:
            return None
        elite = context.elite()
        if elite is None or not math.isfinite(elite.fitness):
            return None
        holder = peers.find(elite.member_id)
        if holder is not None and holder.step == elite.step:
            return None  # the elite is that member's current checkpoint: already a candidate
        return elite

    def reseed(self, context: DecisionContext, error: str) -> Reseed:
        """Where a member that keeps failing starts again (see the module contract); a
        `Reseed` without a donor when no other member has a finite score and a checkpoint."""
        me, peers = context.member, Peers.of(context.peers)
        order = sorted(
            (i for i in range(len(peers)) if peers.member_ids[i] != me.member_id
             and np.isfinite(peers.fitness[i])),
            key=lambda i: (peers.steps[i] < me.step, -peers.fitness[i], peers.member_ids[i]))
        for i in order:
            donor = context.donor(int(peers.member_ids[i]))
            if donor is not None:
                new, ops = self._copied(donor, context)
                return Reseed(error=error, donor=donor, old=dict(context.hparams), hparams=new,
                              ops=ops)
        return Reseed(error=error, donor=None, old=dict(context.hparams),
                      hparams=dict(context.hparams), ops=None)

    def clone(self, member_id: int, donor: DonorView) -> CopyDonor:
        """How member `member_id`, added to a growing population, starts from `donor` (see
        `Storage.resize`): the donor's checkpoint and step, with its hyperparameters explored
        as an exploit's are, drawing from the member's generator of ready count 0.

        Raises:
            ConfigError: the explore raised (a user's function).
        """
        context = self.context(member=Peer(member_id, donor.step, math.nan),
                               hparams=donor.hparams, ready_count=0, peers=Peers.of([]),
                               donor=lambda _: donor)
        new, ops = self._copied(donor, context)
        return CopyDonor(donor=donor, old=dict(donor.hparams), hparams=new, ops=ops)

    def _copied(self, donor: DonorView, context: DecisionContext
                ) -> tuple[dict[str, Any], dict[str, str] | None]:
        """The hyperparameters a copy of `donor` trains with, and how they were explored
        (None: no explore, the donor's own)."""
        explored = self._explore(donor.hparams, context)
        return (dict(donor.hparams), None) if explored is None else explored

    def _explore(self, hparams: Mapping[str, Any],
                 context: DecisionContext) -> tuple[dict[str, Any], dict[str, str]] | None:
        """The population's explore of `hparams` drawing from the context's generator (and
        given the population's history if it uses it); None when it never explores.

        Raises:
            ConfigError: the explore raised (a user's function: fatal for the run).
        """
        explore = self.settings.explore
        if explore is None:
            return None
        try:
            new, ops = explore.apply(hparams, self.settings.space, context.rng,
                                     context.history)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - a user's explore function
            raise ConfigError(f"explore {explore!r} raised {describe_error(exc)}") from exc
        return dict(new), dict(ops)
