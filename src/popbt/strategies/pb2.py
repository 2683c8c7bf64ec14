"""PB2, Population-Based Bandits (Parker-Holder, Nguyen and Roberts, NeurIPS 2020): an explore
that picks hyperparameters by a time-varying GP bandit fitted to the population's history.

Contract:
- Data: every ready interval of every member, i.e. the change of its fitness (its score,
  higher being better) between two consecutive points of one stretch (`MemberHistory.runs`:
  never across an exploit, which would compare different weights, but from the donor's
  point a member copied to its first ready point after it: the interval that measures the
  hyperparameters an explore chose), per step, with the hyperparameters it trained that
  interval with. The most recent 1,000 intervals are kept (as Ray Tune does);
  the GP is fitted to the most recent `max_points` of them.
- Model (`popbt.strategies._gp`): the paper's, f(t, x) with the time-varying kernel; t is the
  interval's end step in units of the median interval (so ε is a forgetting rate per
  interval, as in the paper; Ray Tune scales time to [0, 1]), x each hyperparameter's unit
  coordinate (`Domain.to_unit`: log scale for LogUniform, the index for an ordered Choice).
  Ray Tune and the authors' code add the score at the interval's start as an input; the
  paper does not, nor does PB2 here. Targets are standardised and clipped to [-2, 2] (as
  theirs); kernel hyperparameters by maximum likelihood.
- Choice (batch GP-UCB, the paper's): maximise μ(x) + √β·σ(x) at the next interval's time
  (the donor's latest ready step plus one median interval), β = 0.2 + max(0, log(0.4·n))
  for n data points (the schedule of Ray Tune's PB2, whose acquisition adds the variance
  where the paper adds σ). σ treats every member's latest hyperparameters as pending at that
  time, observed with hallucinated targets (the posterior mean), so the batch spreads out
  (the donor's are among them: its member trains on with them). Maximised over random
  candidates and the best observed points, then two rounds of local search around the best,
  each rounded to values the space can hold; every draw comes from the given generator. The
  result lies in the space: integers are integers, bounds hold.
- With fewer than `min_points` intervals, the hyperparameters are drawn from the prior
  (as the authors' code does), labelled "pb2 random"; otherwise each is labelled "pb2".
- The change is measured on the fitness, so a population minimising its metric is handled.
- An unordered `Choice` cannot be a GP coordinate: PB2 raises `ConfigError` naming `PB2Mix`,
  which picks categories with a bandit (`popbt.strategies.pb2_mix`). An ordered Choice is
  a coordinate (its index), rounded to the nearest value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from popbt.decisions import History, Observation
from popbt.errors import ConfigError
from popbt.simplex import Simplex
from popbt.space import Choice, Domain, IntUniform, Space, Value
from popbt.strategies._gp import GP, one_thread
from popbt.strategies.explore import Explore, Ops

KEPT = 1000
BETA = (0.2, 0.4)
CANDIDATES = 256
LOCAL = ((8, 24, 0.1), (8, 24, 0.02))  # (centres, draws around each, spread) per round


def categorical(domain: Domain) -> bool:
    """Whether `domain` is an unordered Choice (no coordinate a GP can use)."""
    return isinstance(domain, Choice) and not domain.ordered


def check_numeric(owner: str, space: Space) -> None:
    """Raise `ConfigError` for a `Simplex` in `space`: a GP over numbers cannot model it."""
    mixtures = [n for n, dom in space.items() if isinstance(dom, Simplex)]
    if mixtures:
        raise ConfigError(f"{owner} models each hyperparameter as one number and cannot "
                          f"explore the Simplex hyperparameters {mixtures!r}; use "
                          f"popbt.Perturb (its Dirichlet moves a Simplex), GaussianNoise or "
                          f"Resample")


def check_population(owner: str, size: int) -> None:
    """Raise `ConfigError` unless a population of `size` members gives `owner` a batch."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ConfigError(f"{owner} needs a population of at least 2 members, got "
                          f"size={size!r}: its model learns from the other members' "
                          f"intervals")


def count(owner: str, name: str, value: Any, minimum: int) -> int:
    """`value` as an int >= `minimum`, else `ConfigError` quoting it."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{owner}({name}={value!r}): must be an integer >= {minimum}")
    return int(value)


def _score(obs: Observation) -> float:
    """What an interval's change is measured on: the fitness (the score on the population's
    metric, higher being better)."""
    return obs.fitness


@dataclass(frozen=True)
class Intervals:
    """Ready intervals as arrays, oldest first: end step, length in steps, unit coordinates of
    the GP's hyperparameters (rows), category indices (rows) and score change per step."""

    t: np.ndarray
    length: np.ndarray
    z: np.ndarray
    cats: np.ndarray
    gain: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def where(self, keep: np.ndarray) -> Intervals:
        """The intervals where `keep` is true."""
        return Intervals(self.t[keep], self.length[keep], self.z[keep], self.cats[keep],
                         self.gain[keep])

    def last(self, n: int) -> Intervals:
        """The most recent `n` intervals."""
        return self.where(np.arange(len(self)) >= len(self) - n)

    @property
    def unit(self) -> float:
        """The median length of an interval in steps (the model's unit of time)."""
        return float(np.median(self.length)) if len(self) else 1.0


def _levels(domain: Domain) -> int:
    """How many steps apart the lowest and highest values are (0: continuous)."""
    if isinstance(domain, IntUniform):
        return domain.hi - domain.lo
    return len(domain.values) - 1 if isinstance(domain, Choice) else 0


def coordinates(space: Space, names: Sequence[str], cats: Sequence[str],
                hparams: Mapping[str, Any]) -> tuple[list[float], list[int]] | None:
    """The unit coordinates of `names` and the value indices of `cats` in `hparams`; None
    when a value is missing or outside the space."""
    try:
        z = [min(max(space[n].to_unit(hparams[n]), 0.0), 1.0) for n in names]
        c = [round(space[n].to_unit(hparams[n]) * _levels(space[n])) for n in cats]
    except (KeyError, ConfigError, TypeError, ValueError):
        return None
    return z, c


Row = tuple[float, float, float, list[float], list[int]]
Coords = dict[tuple[Any, ...], tuple[list[float], list[int]] | None]


def _changes(run: Sequence[Observation], space: Space, names: Sequence[str],
             cats: Sequence[str], seen: Coords) -> list[Row]:
    """The intervals of one stretch: (end step, steps, fitness change per step, coordinates,
    category indices), for changes that are finite, with hyperparameters in the space."""
    rows: list[Row] = []
    for before, after in zip(run, run[1:], strict=False):
        steps = after.step - before.step
        change = _score(after) - _score(before)
        if steps <= 0 or not math.isfinite(change):
            continue
        key = tuple(after.hparams.get(n) for n in space)
        if key not in seen:
            seen[key] = coordinates(space, names, cats, after.hparams)
        coords = seen[key]
        if coords is not None:
            rows.append((after.step, steps, change / steps, *coords))
    return rows


def intervals(history: History, space: Space, names: Sequence[str],
              cats: Sequence[str]) -> Intervals:
    """Every member's intervals within its stretches (`MemberHistory.runs`: never across an
    exploit, but from the donor's point it copied to the first ready point after it), the
    most recent `KEPT`."""
    rows: list[Row] = []
    seen: Coords = {}
    for member in history.values():
        for run in member.runs:
            rows.extend(_changes(run, space, names, cats, seen))
    rows.sort(key=lambda row: row[0])
    rows = rows[-KEPT:]
    n = len(rows)
    return Intervals(np.array([r[0] for r in rows], float), np.array([r[1] for r in rows], float),
                     np.array([r[3] for r in rows], float).reshape(n, len(names)),
                     np.array([r[4] for r in rows], int).reshape(n, len(cats)),
                     np.array([r[2] for r in rows], float))


@dataclass(frozen=True)
class Point:
    """A member's latest ready point: its step, the hyperparameters it trained with, their
    unit coordinates and category indices."""

    step: int
    hparams: Mapping[str, Any]
    z: list[float]
    cats: tuple[int, ...]


def latest(history: History, space: Space, names: Sequence[str],
           cats: Sequence[str]) -> list[Point]:
    """Each member's latest ready point, with the hyperparameters in force now (those it
    trains on with), when they are in the space."""
    points = []
    for member in history.values():
        if member.observations:
            obs = member.observations[-1]
            hparams = member.hparams or obs.hparams
            coords = coordinates(space, names, cats, hparams)
            if coords is not None:
                points.append(Point(obs.step, hparams, coords[0], tuple(coords[1])))
    return points


def donor_step(points: Sequence[Point], hparams: Mapping[str, Any], space: Space) -> int:
    """The step the explored member trains on from: the latest step of the members whose
    latest hyperparameters are `hparams` (the donor's), else the latest of all."""
    same = [p for p in points if all(p.hparams.get(n) == hparams.get(n) for n in space)]
    return max(p.step for p in same or points)


def snap(space: Space, names: Sequence[str], u: np.ndarray) -> np.ndarray:
    """Unit coordinates (rows) moved to the nearest value each hyperparameter can hold."""
    u = np.clip(u, 0.0, 1.0)
    for j, name in enumerate(names):
        levels = _levels(space[name])
        if levels:
            u[:, j] = np.round(u[:, j] * levels) / levels
    return u


def ucb_argmax(gp: GP, t: float, pending: np.ndarray, data: Intervals, space: Space,
               names: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """The unit point that maximises UCB at time `t` with `pending` points (rows) in the
    batch (see the module contract): random candidates and the best observed points, then
    local rounds around the best."""
    d = len(names)
    kappa = math.sqrt(BETA[0] + max(0.0, math.log(BETA[1] * len(data))))
    predict = gp.predictor((np.full(len(pending), t), pending))

    def ucb(u: np.ndarray) -> np.ndarray:
        mean, var = predict(np.full(len(u), t), u)
        return mean + kappa * np.sqrt(var)

    top = data.z[np.argsort(data.gain)[-LOCAL[0][0]:]]
    cands = snap(space, names, np.vstack([rng.random((CANDIDATES, d)), top]))
    values = ucb(cands)
    for centres, draws, spread in LOCAL:
        best = cands[np.argsort(values)[-centres:]]
        near = np.repeat(best, draws, axis=0) + rng.normal(0.0, spread, (len(best) * draws, d))
        near = snap(space, names, near)
        cands, values = np.vstack([cands, near]), np.concatenate([values, ucb(near)])
    return cands[int(np.argmax(values))]


def propose(space: Space, hparams: Mapping[str, Any], rng: np.random.Generator,
            history: History, *, names: Sequence[str], cats: Sequence[str],
            given: Sequence[int] | None, max_points: int, min_points: int
            ) -> tuple[dict[str, Value], Ops]:
    """New values of the hyperparameters `names` by batch GP-UCB (see the module contract),
    fitted to the intervals whose categories (`cats`) are `given` (all when None)."""
    data = intervals(history, space, names, cats)
    points = latest(history, space, names, cats)
    unit = data.unit
    t = (donor_step(points, hparams, space) + unit) / unit if points else 0.0
    if given is not None:
        data = data.where(np.all(data.cats == np.array(given, int), axis=1))
        points = [p for p in points if p.cats == tuple(given)]
    if not names or len(data) < min_points:
        return ({n: space[n].sample(rng) for n in names}, {n: "pb2 random" for n in names})
    data = data.last(max_points)
    y = np.clip((data.gain - np.mean(data.gain)) / (float(np.std(data.gain)) + 1e-8), -2, 2)
    pending = np.array([p.z for p in points], float).reshape(len(points), len(names))
    with one_thread():
        gp = GP.fit(data.t / unit, data.z, y)
        best = ucb_argmax(gp, t, pending, data, space, names, rng)
    return ({n: space[n].from_unit(float(best[j])) for j, n in enumerate(names)},
            {n: "pb2" for n in names})


@dataclass(frozen=True, kw_only=True)
class PB2(Explore):
    """Population-Based Bandits: new hyperparameters by batch GP-UCB on the population's
    history (see the module contract), for spaces of Uniform, LogUniform, IntUniform and
    ordered Choice hyperparameters (use `PB2Mix` for unordered ones).

    Any exploit works with it: it replaces the explore only (Ray Tune pairs it with
    `Truncation(fraction=0.25)`; with a noisy score, `TTest` or a margin copies less often).

    Args:
        max_points: the most recent intervals the GP is fitted to (Ray Tune keeps 1,000 and
            chooses among the last 200 or more by likelihood; fitting grows as its cube).
        min_points: below this many intervals, hyperparameters are drawn from the prior.

    Raises:
        ConfigError: a count below its minimum, or `min_points` above `max_points`.

    Examples:
        >>> import popbt
        >>> space = popbt.Space({"lr": popbt.LogUniform(1e-4, 1e-1)})
        >>> new, ops = PB2().explore({"lr": 0.01}, space, np.random.default_rng(0), history={})
        >>> ops, 1e-4 <= new["lr"] <= 1e-1
        ({'lr': 'pb2 random'}, True)
    """

    max_points: int = 200
    min_points: int = 2
    uses_history = True

    def __post_init__(self) -> None:
        owner = type(self).__name__
        object.__setattr__(self, "max_points", count(owner, "max_points", self.max_points, 2))
        object.__setattr__(self, "min_points", count(owner, "min_points", self.min_points, 1))
        if self.min_points > self.max_points:
            raise ConfigError(f"{owner}(min_points={self.min_points!r}, max_points="
                              f"{self.max_points!r}): min_points must not exceed max_points")

    def check(self, *, size: int, space: Space) -> None:
        """Raise `ConfigError` for a population of fewer than 2 members, or a space with an
        unordered Choice (the message names `PB2Mix`) or a `Simplex`."""
        check_population("PB2", size)
        self._names(space)

    @staticmethod
    def _names(space: Space) -> list[str]:
        check_numeric("PB2", space)
        unordered = [n for n, dom in space.items() if categorical(dom)]
        if unordered:
            raise ConfigError(f"PB2 cannot model the unordered Choice hyperparameters "
                              f"{unordered!r}; use popbt.PB2Mix, which picks categories with "
                              f"a bandit (or make the Choice ordered=True if its values are "
                              f"ordered)")
        return list(space)

    def explore(self, hparams: Mapping[str, Value], space: Space, rng: np.random.Generator,
                history: History | None = None) -> tuple[dict[str, Value], Ops]:
        """New hyperparameters inside `space`, each labelled "pb2" (or "pb2 random").

        Raises:
            ConfigError: the space has an unordered Choice.
        """
        return propose(space, hparams, rng, history or {}, names=self._names(space), cats=(),
                       given=None, max_points=self.max_points, min_points=self.min_points)
