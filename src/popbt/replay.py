"""Replay a discovered schedule: train one fresh model from scratch, without a population,
with the hyperparameters changed at the same steps.

Examples:
    >>> import popbt
    >>> from popbt.demos.toy_trainable import ToyTrainable
    >>> pop = popbt.load_population(name="toy", storage="sqlite:///popbt.db")
    >>> result = replay_member(pop, pop.best.member_id, ToyTrainable)
    >>> result.score == pop.best.score
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from popbt._evaluation import score_of
from popbt.errors import ConfigError
from popbt.schedules import Schedule, check_schedule, fit_space
from popbt.trainable import Trainable

if TYPE_CHECKING:
    from popbt.population import Population
    from popbt.space import Space


@dataclass(frozen=True)
class ReplayResult:
    """A replayed run.

    Attributes:
        schedule: the schedule followed.
        steps: the steps trained.
        seed: the seed given to `setup`.
        scores: (step, score) at every ready point and at the end.
        score: the final score.
        metrics: every value the final `evaluate()` returned.
        trainable: the trained object (its `state_dict()` is the replayed model).
    """

    schedule: Schedule
    steps: int
    seed: int
    scores: list[tuple[int, float]]
    score: float
    metrics: dict[str, float]
    trainable: Trainable


def _boundaries(schedule: Schedule, steps: int, ready_every: int) -> list[int]:
    """The steps at which training pauses: every ready point, every change, the end."""
    points = set(range(ready_every, steps, ready_every))
    points.update(s for s, _ in schedule if 0 < s < steps)
    points.add(steps)
    return sorted(points)


def replay(trainable: type[Trainable], schedule: Sequence[tuple[int, dict[str, Any]]], *,
           steps: int, ready_every: int, metric: str, seed: int = 0,
           space: Space | None = None) -> ReplayResult:
    """Train a fresh `trainable` for `steps` steps under `schedule`, evaluating at every
    `ready_every` steps (as a member does) and wherever the hyperparameters change.

    With `space`, every entry of the schedule must be a complete assignment of it (no
    unknown or missing name, every value of its domain's type and inside it), checked before
    the trainable is made; the values are normalised as `Space.validate` does.

    Raises:
        ConfigError: a bad schedule, an entry outside `space`, non-positive `steps` or
            `ready_every`, or results without `metric`.
    """
    entries = check_schedule(schedule) if space is None else fit_space(schedule, space)
    for name, value in (("steps", steps), ("ready_every", ready_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}={value!r}: must be an integer >= 1")
    model = trainable()
    model.setup(dict(entries[0][1]), seed)
    scores: list[tuple[int, float]] = []
    step, index = 0, 0
    score, metrics = float("nan"), dict[str, float]()
    for end in _boundaries(entries, steps, ready_every):
        while index + 1 < len(entries) and entries[index + 1][0] <= step:
            index += 1
        model.train(dict(entries[index][1]), end - step)
        step = end
        score, metrics = score_of(model.evaluate(), metric)
        scores.append((step, score))
    return ReplayResult(schedule=entries, steps=steps, seed=seed, scores=scores, score=score,
                        metrics=metrics, trainable=model)


def replay_member(pop: Population, member_id: int, trainable: type[Trainable], *,
                  seed: int | None = None) -> ReplayResult:
    """Replay the schedule of a member of `pop` up to its current step, with the population's
    ready interval and metric. The seed defaults to that of the member its lineage starts
    from, so the replay starts from the same initial weights.

    Raises:
        ConfigError: a genetic population (its members are evaluated, never trained), an
            unknown member, or one that has not trained yet.
    """
    if pop.row.settings.trainer == "ga":
        raise ConfigError(f"population {pop.name!r} is evolved by popbt.ga.GeneticPopulation:"
                          f" its members are evaluated, never trained, so there is no "
                          f"training to replay; export a member with GeneticPopulation."
                          f"export(path) instead")
    member = pop.member(member_id)
    if member.step == 0:
        raise ConfigError(f"member {member_id} has not trained yet; nothing to replay")
    root = pop.lineage(member_id)[0].member_id
    return replay(trainable, pop.schedule(member_id), steps=member.step,
                  ready_every=pop.settings.ready.steps, metric=pop.settings.metric,
                  seed=pop.settings.member_seed(root) if seed is None else seed)
