"""PB2-Mix (Parker-Holder, Nguyen, Desai and Roberts, 2021, "Tuning Mixed Input
Hyperparameters on the Fly for Efficient Population Based AutoRL"): PB2 for spaces with
categorical hyperparameters.

Contract:
- Each unordered `Choice` is drawn from its own time-varying EXP3.M bandit (the paper's
  TV.EXP3.M), rebuilt from the history at every decision. Its data are PB2's (`popbt.
  strategies.pb2`): every ready interval of a member's stretches, credited to the category
  it trained with; the reward is the interval's fitness change per step, scaled to [0, 1] over
  the data; a round is one interval of time (end step / median interval, rounded).
  With B members, C categories and T rounds seen: γ = 0.2 when B >= C, else
  min(1, √(C·ln(C/B) / ((e - 1)·B·T/10))); ω = 1/(10·T); after each round every weight
  becomes w·exp(γ·B·r̂/C) + e·ω·Σw/C, where r̂ sums reward / (B·p) over the round's intervals
  of that category (EXP3.M's importance weighting, p the probability it was drawn with);
  p = (1 - γ)·w/Σw + γ/C, with EXP3.M's cap when B < C (a category whose B·p would exceed
  1 is held at the cap and its weight not multiplied). The category is drawn from p.
- Then the other hyperparameters are chosen by PB2's batch GP-UCB fitted to the intervals
  trained with the chosen categories only, with the members training with those categories
  pending (the paper's GP conditioned on the categories).
- Labels: "exp3" for a category, "pb2" (or "pb2 random", see PB2) for the rest. With fewer
  than `min_points` intervals every hyperparameter is drawn from the prior ("pb2 random").
- Every draw comes from the given generator; the result lies in the space.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from popbt.decisions import History
from popbt.space import Choice, Space, Value
from popbt.strategies.explore import Ops
from popbt.strategies.pb2 import (
    PB2,
    categorical,
    check_numeric,
    check_population,
    intervals,
    propose,
)


def _cap(weights: np.ndarray, gamma: float, batch: int) -> np.ndarray:
    """EXP3.M's capped weights: the largest held at α so that none is drawn with a
    probability above 1/B (unchanged when none would be)."""
    arms = len(weights)
    if batch >= arms or gamma >= 1.0:
        return weights
    eta = (1.0 / batch - gamma / arms) / (1.0 - gamma)
    if np.max(weights) < eta * np.sum(weights):
        return weights
    ordered = np.sort(weights)[::-1]
    for k in range(1, arms):
        alpha = eta * np.sum(ordered[k:]) / (1.0 - k * eta)
        if ordered[k] < alpha <= ordered[k - 1]:
            return np.minimum(weights, alpha)
    return weights


def probabilities(rounds: Sequence[Sequence[tuple[int, float]]], arms: int,
                  batch: int) -> np.ndarray:
    """The TV.EXP3.M distribution over `arms` categories after `rounds` (each a list of
    (category, reward in [0, 1]) pairs) with `batch` plays a round (see the module contract).

    Examples:
        >>> p = probabilities([[(0, 1.0), (1, 0.0)]] * 30, arms=2, batch=2)
        >>> bool(p[0] > 0.8)
        True
    """
    arms, batch = max(arms, 1), max(batch, 1)
    played = max(len(rounds), 1)
    if batch >= arms:
        gamma = 0.2
    else:
        gamma = min(1.0, math.sqrt(arms * math.log(arms / batch)
                                   / ((math.e - 1) * batch * played / 10)))
    omega = 1.0 / (10 * played)
    weights = np.ones(arms)

    def distribution(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        capped = _cap(w, gamma, batch)
        return (1 - gamma) * capped / np.sum(capped) + gamma / arms, capped < w

    for plays in rounds:
        p, held = distribution(weights)
        estimate = np.zeros(arms)
        for arm, reward in plays:
            estimate[arm] += reward / (batch * p[arm])
        estimate[held] = 0.0
        weights = (weights * np.exp(gamma * batch * estimate / arms)
                   + math.e * omega * np.sum(weights) / arms)
        weights /= np.sum(weights)
    p = distribution(weights)[0]
    return p / np.sum(p)


@dataclass(frozen=True, kw_only=True)
class PB2Mix(PB2):
    """PB2 for mixed spaces: unordered `Choice` hyperparameters by a time-varying EXP3.M
    bandit, the others by PB2's GP conditioned on the chosen categories (see the module
    contract). Any space works: without an unordered Choice it is PB2.

    Args:
        max_points: as PB2's (the GP's data, after conditioning on the categories).
        min_points: as PB2's, for the bandit and for the GP on the chosen categories.

    Raises:
        ConfigError: as PB2's.

    Examples:
        >>> import popbt
        >>> space = popbt.Space({"lr": popbt.LogUniform(1e-4, 1e-1),
        ...                      "opt": popbt.Choice(["adam", "sgd"], ordered=False)})
        >>> new, ops = PB2Mix().explore({"lr": 0.01, "opt": "sgd"}, space,
        ...                             np.random.default_rng(0), history={})
        >>> ops
        {'lr': 'pb2 random', 'opt': 'pb2 random'}
    """

    def check(self, *, size: int, space: Space) -> None:
        """Raise `ConfigError` for a population of fewer than 2 members or a `Simplex`."""
        check_population("PB2Mix", size)
        check_numeric("PB2Mix", space)

    def explore(self, hparams: Mapping[str, Value], space: Space, rng: np.random.Generator,
                history: History | None = None) -> tuple[dict[str, Value], Ops]:
        """New hyperparameters inside `space`, labelled "exp3", "pb2" or "pb2 random"."""
        history = history or {}
        choices = {n: d for n, d in space.items() if isinstance(d, Choice) and categorical(d)}
        cats = list(choices)
        names = [n for n in space if n not in choices]
        data = intervals(history, space, names, cats)
        if len(data) < self.min_points:
            return ({n: space[n].sample(rng) for n in space}, {n: "pb2 random" for n in space})
        gain = data.gain - np.min(data.gain)
        reward = gain / np.max(gain) if np.max(gain) > 0 else np.full(len(gain), 0.5)
        when = np.round(data.t / data.unit).astype(int)
        order = np.unique(when)
        new: dict[str, Value] = {}
        ops: Ops = {}
        chosen = []
        for j, (name, dom) in enumerate(choices.items()):
            values = dom.values
            rounds = [[(int(data.cats[i, j]), float(reward[i])) for i in np.flatnonzero(when == r)]
                      for r in order]
            p = probabilities(rounds, len(values), len(history))
            chosen.append(int(rng.choice(len(values), p=p)))
            new[name], ops[name] = values[chosen[-1]], "exp3"
        rest, rest_ops = propose(space, hparams, rng, history, names=names, cats=cats,
                                 given=chosen, max_points=self.max_points,
                                 min_points=self.min_points)
        new, ops = {**new, **rest}, {**ops, **rest_ops}
        return {n: new[n] for n in space}, {n: ops[n] for n in space}

