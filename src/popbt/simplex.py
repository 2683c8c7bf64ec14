"""A mixture as a hyperparameter: weights over named components that sum to 1.

A data mixture (how much of each source a batch draws), a loss mixture, an ensemble's
weights: a point on the simplex, which no per-number domain can express (multiplying each
weight by ×0.8 or ×1.2 leaves the simplex). Contract:
- A value is a dict {component: weight}, in the domain's component order, every weight a
  float of at least `floor`, the weights summing to 1. `validate` accepts any mapping of the
  same components with non-negative finite weights whose sum is within 1e-6 of 1 (and each
  within 1e-9 of the floor), and returns it renormalised.
- `sample` draws uniformly on the simplex above the floor (a flat Dirichlet).
- `near(value, rng)` is the move the explore strategies make (`Perturb`, `GaussianNoise`): a
  draw from a Dirichlet centred on the current point, whose spread shrinks as
  `concentration` grows (above the floor, a weight w moves with standard deviation about
  sqrt(w(1 - w) / (concentration + 1)): ±0.047 around 1/3 at the default 100). Its
  parameters are concentration × the shares above the floor, plus 0.5 each, so that a weight
  at the floor can grow again (the mean is pulled towards uniform by that much: 0.5 → 0.4975
  at the default). `Resample` draws afresh.
- `perturb(value, factor)` scales the log-weights by `factor` (above the floor) and
  renormalises: a factor above 1 sharpens the mixture, below 1 flattens it towards uniform.
- A Simplex has no single coordinate: `to_unit` and `from_unit` follow one line through it
  (the first component's share, the others equal), which is enough for `popbt check` to find
  two different values; strategies that model hyperparameters as numbers (PB2) refuse it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from popbt._text import unsafe
from popbt.errors import ConfigError
from popbt.space import Domain, Value, register_domain

TOLERANCE = 1e-6  # how far from 1 the weights of a valid value may sum
_SMOOTHING = 0.5  # added to the Dirichlet's parameters, so a weight at the floor can grow


@dataclass(frozen=True)
class Simplex(Domain):
    """Weights over named components: {component: weight}, each at least `floor`, summing
    to 1 (see the module for the contract).

    Examples:
        >>> mix = Simplex(["web", "code", "books"], floor=0.05)
        >>> w = mix.sample(np.random.default_rng(0))
        >>> list(w), round(sum(w.values()), 9), min(w.values()) >= 0.05
        (['web', 'code', 'books'], 1.0, True)

    Raises:
        ConfigError: fewer than two components, a component that is not a non-empty string
            (or holds `[`, `]` or a control character), a repeated one, a concentration that
            is not a positive number, or a floor outside [0, 1 / components).
    """

    components: tuple[str, ...]
    concentration: float
    floor: float

    def __init__(self, components: Sequence[str], *, concentration: float = 100.0,
                 floor: float = 0.0) -> None:
        if isinstance(components, str | bytes) or not isinstance(components, Sequence):
            raise ConfigError(f"Simplex needs a list of component names, got {components!r}")
        names = tuple(components)
        if len(names) < 2:
            raise ConfigError(f"Simplex({list(names)!r}) needs at least two components")
        for name in names:
            if not isinstance(name, str) or not name or unsafe(name) or "[" in name \
                    or "]" in name:
                raise ConfigError(f"Simplex component {name!r} must be a non-empty string "
                                  f"without '[', ']' or control characters")
        if len(set(names)) != len(names):
            raise ConfigError(f"Simplex({list(names)!r}) repeats a component")
        c = concentration
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c) \
                or c <= 0:
            raise ConfigError(f"Simplex concentration={c!r}: must be a positive number")
        f = floor
        if isinstance(f, bool) or not isinstance(f, int | float) or not math.isfinite(f) \
                or not 0 <= f < 1 / len(names):
            raise ConfigError(f"Simplex floor={f!r}: must be at least 0 and below "
                              f"1/{len(names)} (one over the number of components)")
        object.__setattr__(self, "components", names)
        object.__setattr__(self, "concentration", float(c))
        object.__setattr__(self, "floor", float(f))

    @property
    def _free(self) -> float:
        """The mass above the floors."""
        return 1.0 - self.floor * len(self.components)

    def _point(self, shares: np.ndarray) -> dict[str, float]:
        """The value whose weights above the floor are `shares` (a point of the simplex)."""
        shares = np.clip(shares, 0.0, None)
        shares = shares / shares.sum()
        return {c: self.floor + self._free * float(s)
                for c, s in zip(self.components, shares, strict=True)}

    def _shares(self, value: Value) -> np.ndarray:
        weights = self.validate("value", value)
        assert isinstance(weights, dict)
        return np.array([(weights[c] - self.floor) / self._free for c in self.components])

    def sample(self, rng: np.random.Generator) -> dict[str, float]:
        return self._point(rng.dirichlet(np.ones(len(self.components))))

    def validate(self, name: str, value: Any) -> dict[str, float]:
        where = f"hyperparameter {name!r} = {value!r}"
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} is not a dict of weights over {list(self.components)}")
        if set(value) != set(self.components):
            raise ConfigError(f"{where} names {sorted(map(str, value))}; the Simplex has "
                              f"{list(self.components)}")
        weights = {}
        for c in self.components:
            w = value[c]
            if isinstance(w, bool) or not isinstance(w, int | float | np.integer | np.floating) \
                    or not math.isfinite(float(w)) or w < self.floor - 1e-9:
                raise ConfigError(f"{where}: weight {c!r} is {w!r}; weights are finite numbers "
                                  f"of at least {self.floor}")
            weights[c] = max(float(w), self.floor)
        total = math.fsum(weights.values())
        if abs(total - 1.0) > TOLERANCE:
            raise ConfigError(f"{where}: the weights sum to {total:.9g}, not 1")
        return {c: w / total for c, w in weights.items()}

    def near(self, value: Value, rng: np.random.Generator) -> dict[str, float]:
        """A draw from a Dirichlet centred on `value` (see the module)."""
        alpha = self.concentration * self._shares(value) + _SMOOTHING
        return self._point(rng.dirichlet(alpha))

    def perturb(self, value: Value, factor: float) -> dict[str, float]:
        shares = self._shares(value)
        with np.errstate(divide="ignore"):
            logs = np.log(shares) * factor
        return self._point(np.exp(logs - logs.max()))

    def to_unit(self, value: Value) -> float:
        return float(self._shares(value)[0])

    def from_unit(self, u: float) -> dict[str, float]:
        first = 0.0 if math.isnan(u) else min(max(u, 0.0), 1.0)
        rest = (1.0 - first) / (len(self.components) - 1)
        return self._point(np.array([first] + [rest] * (len(self.components) - 1)))

    def to_json(self) -> dict[str, Any]:
        return {"type": "Simplex", "components": list(self.components),
                "concentration": self.concentration, "floor": self.floor}


register_domain("Simplex", Simplex)
