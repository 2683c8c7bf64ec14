"""Warm starts: a new population whose members start from another population's best members
(`create_population(..., warm_start=...)`).

Contract:
- The source is a population trained by workers (not the vectorized trainer) with at least
  one member that is not retired, has a finite score and a checkpoint. Its members are
  ranked by its own fitness (best first, lowest id on ties); member i of the new population
  starts from the i-th of them, cycling when the new population is larger.
- Member i's hyperparameters are the source member's, for the names of the new space (a
  value outside it is refused), with `initial[i]` over them and the names the source lacks
  sampled as for any new population.
- Its weights are the source member's latest checkpoint, read (its checksum checked) and
  written again as member i's own file under the new population's checkpoint folder, so
  that either population's files can be removed (`popbt gc`, a deleted folder) without
  breaking the other. The files are written before the population is created; if it is not
  created (an error, or another process created it first) they are removed again.
- The new member is at step 0 and has no score until it reports; a WARM_START event records
  the source population, member, step and score.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from popbt.checkpoints import CheckpointStore
from popbt.errors import ConfigError
from popbt.fitness import fitness_of
from popbt.records import Member
from popbt.settings import Settings
from popbt.storage.base import WarmStart

if TYPE_CHECKING:
    from popbt.population import Population


@dataclass
class Plan:
    """The starting hyperparameters of a new population's members and the warm starts of
    those that have one; `used` once the population was created with them."""

    hparams: list[dict[str, Any]]
    starts: tuple[WarmStart, ...] = ()
    used: bool = False
    files: list[str] = field(default_factory=list)


def ranked(source: Population) -> list[tuple[Member, int]]:
    """The source's members a warm start may copy, best first (see the module contract),
    each with its checkpoint's id.

    Raises:
        ConfigError: the source is trained by the vectorized trainer, or none of its
            members has a finite score and a checkpoint.
    """
    if source.row.settings.trainer != "workers":
        raise ConfigError(f"population {source.name!r} is trained by the "
                          f"{source.row.settings.trainer} trainer; a warm start copies the "
                          f"members of a population trained by workers")
    mode = source.settings.mode
    scored = [(-fitness_of(m.score, mode), m.member_id, m, m.checkpoint_id)
              for m in source.members if m.score is not None and m.checkpoint_id is not None]
    found = sorted(s for s in scored if s[0] < math.inf)  # best (highest fitness) first
    if not found:
        raise ConfigError(f"population {source.name!r} has no member with a score and a "
                          f"checkpoint to start from; train it first")
    return [(m, checkpoint_id) for _, _, m, checkpoint_id in found]


@contextmanager
def warm_starts(source: Population | None, settings: Settings, *, name: str, root: str,
                initial: Sequence[Mapping[str, Any]],
                hparams: list[dict[str, Any]]) -> Iterator[Plan]:
    """The plan of a new population named `name` with checkpoint root `root`: `hparams` as
    they are when there is no `source`; otherwise every member warm-started from `source`,
    its checkpoint file written. The files are removed when the block ends without setting
    `plan.used`.

    Raises:
        ConfigError: see `ranked`; a source hyperparameter outside `settings.space`.
        CheckpointError: a source checkpoint is missing or corrupt.
    """
    if source is None:
        yield Plan(hparams)
        return
    members = ranked(source)
    space, rng = settings.space, settings.initial_rng()
    reader, writer = CheckpointStore(source.row.checkpoint_root), CheckpointStore(root)
    plan = Plan(hparams=[])
    starts = []
    states: dict[int, dict[str, Any]] = {}
    try:
        for i in range(settings.size):
            m, checkpoint_id = members[i % len(members)]
            given = {k: v for k, v in m.hparams.items() if k in space}
            try:
                plan.hparams.append(space.complete(
                    {**given, **(initial[i] if i < len(initial) else {})}, rng))
            except ConfigError as exc:
                raise ConfigError(f"warm start from member {m.member_id} of population "
                                  f"{source.name!r}: {exc}") from None
            if m.member_id not in states:
                ckpt = source.storage.checkpoint(source.row, checkpoint_id)
                states[m.member_id] = reader.load(ckpt.path, ckpt.checksum)
            path, checksum, size = writer.save(f"{name}/m{i:05d}", 0, states[m.member_id])
            plan.files.append(path)
            starts.append(WarmStart(path=path, checksum=checksum, size=size, source={
                "population": source.name, "member_id": m.member_id, "step": m.step,
                "score": m.score}))
        plan.starts = tuple(starts)
        yield plan
    finally:
        if not plan.used:
            writer.delete(plan.files)
