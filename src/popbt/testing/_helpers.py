"""The helpers of the storage contract's tests (`popbt.testing.StorageContract`): a small
population, claims and reports as a worker makes them, and a scripted decision maker."""

from __future__ import annotations

from typing import Any, TypeVar

import popbt
from popbt.decider import Decider
from popbt.decisions import Continue, CopyDonor, Decision, DecisionContext, DonorView, Reseed
from popbt.fitness import fitness_of
from popbt.records import Peer
from popbt.settings import Settings
from popbt.storage.base import Claim, Decide, PopulationRow, Report
from popbt.storage.contract import Storage
from popbt.strategies import as_explore

T = TypeVar("T")
SPACE = popbt.Space({"lr": popbt.Uniform(0.0, 1.0)})
NOW = 1_000_000.0


def make(storage: Storage, *, size: int = 3, target: int = 10, name: str = "p",
         mode: str = "max", max_lead: int | None = None, sync: bool = False) -> PopulationRow:
    """A population of `size` members (lr = 0.1, 0.2, ...) to be trained to `target`, ready
    every 5 steps."""
    settings = Settings(space=SPACE, size=size, metric="score", mode=mode,
                        ready=popbt.Every(steps=5), exploit=popbt.Truncation(0.5),
                        explore=popbt.Perturb(), max_lead=max_lead, sync=sync)
    row = storage.create_population(
        name=name, config=settings.to_config(), checkpoint_root="/tmp/unused",
        initial_hparams=[{"lr": 0.1 * (i + 1)} for i in range(size)], now=NOW)
    storage.set_target(row, target)
    return row


def present(value: T | None) -> T:
    """`value`, which the test expects to be there."""
    assert value is not None
    return value


class ScriptedDecide:
    """A scripted decision maker: member → donor (`donors`, or `donor` for all), explored to
    lr = `new_lr`; re-seeds are the population's own (`popbt.decider.Decider`, exploring to
    lr = `reseed_lr`)."""

    history_window = 3

    def __init__(self, donor: int | None = None, new_lr: float | None = None,
                 fail: bool = False, donors: dict[int, int] | None = None,
                 reseed_lr: float | None = None) -> None:
        self.donor, self.new_lr, self.fail, self.donors = donor, new_lr, fail, donors
        self.calls: list[tuple[int, list[Peer]]] = []
        explore = None if reseed_lr is None else as_explore(
            lambda hp, space, rng: {"lr": reseed_lr})
        self.real = Decider(Settings(space=SPACE, size=3, metric="score",
                                     ready=popbt.Every(steps=5),
                                     exploit=popbt.Truncation(0.5), explore=explore))

    def context(self, **parts: Any) -> DecisionContext:
        return self.real.context(**parts)

    def decide(self, context: DecisionContext) -> Decision:
        mid = context.member.member_id
        self.calls.append((mid, list(context.peers)))
        chosen = self.donor if self.donors is None else self.donors.get(mid)
        view = None if chosen is None else context.donor(chosen)
        if view is None:
            return Continue()
        if self.fail:
            raise RuntimeError("explore failed")
        if self.new_lr is None:
            return CopyDonor(donor=view, old=context.hparams, hparams=view.hparams, ops=None)
        return CopyDonor(donor=view, old=context.hparams, hparams={"lr": self.new_lr},
                         ops={"lr": "×1.2"})

    def reseed(self, context: DecisionContext, error: str) -> Reseed:
        return self.real.reseed(context, error)


NEVER = ScriptedDecide()


class ScriptedClone:
    """Clones for `Storage.resize`: the donor's weights with lr = `lr`; records each call."""

    def __init__(self, lr: float = 0.5) -> None:
        self.lr = lr
        self.calls: list[tuple[int, int]] = []

    def clone(self, member_id: int, donor: DonorView) -> CopyDonor:
        self.calls.append((member_id, donor.member_id))
        return CopyDonor(donor=donor, old=dict(donor.hparams), hparams={"lr": self.lr},
                         ops={"lr": "resample"})


def report(storage: Storage, pop: PopulationRow, claim: Claim, *, steps: int = 5,
           score: float = 1.0, ready: bool = True, keep: int = 3,
           path: str | None = None) -> Any:
    """Report `steps` more steps of the claimed member, scoring `score`; the `Outcome`."""
    step = claim.member.step + steps
    return storage.report(pop, Report(
        member_id=claim.member.member_id, worker=claim.worker, token=claim.token, step=step,
        score=score, fitness=fitness_of(score, pop.settings.mode), metrics={"score": score},
        checkpoint_path=path or f"m{claim.member.member_id}/s{step}-{claim.token}.npz",
        checksum="0" * 64, size=1, ready=ready, decide=ready,
        keep_checkpoints=keep), now=NOW)


def claim(storage: Storage, pop: PopulationRow, worker: str = "w", *, now: float = NOW,
          lease: float = 30.0, decide: Decide = NEVER) -> Any:
    """`storage.claim` for `worker` (a `Claim`, or None)."""
    return storage.claim(pop, worker=worker, lease_s=lease, now=now, decide=decide)
