"""Search spaces: the distributions hyperparameters are sampled from and perturbed within.

Every domain maps its values to a unit coordinate in [0, 1] (linear for `Uniform` and
`IntUniform`, logarithmic for `LogUniform`, the index for `Choice`), which is what additive
exploration (`GaussianNoise`) moves in. Multiplicative perturbation (`Perturb`) acts on the
value itself, as in the paper.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from popbt.errors import ConfigError

Scalar = float | int | str | bool
Value = Scalar | dict[str, float]  # a dict: a `popbt.Simplex`'s weights
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # the bounds an IntUniform can have


def _finite_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return float(value)


def _check_range(kind: str, lo: float, hi: float) -> None:
    if not lo < hi:
        raise ConfigError(f"{kind}(lo={lo!r}, hi={hi!r}): the range is empty or "
                          f"inverted; lo must be below hi")
    if not math.isfinite(hi - lo):
        raise ConfigError(f"{kind}(lo={lo!r}, hi={hi!r}): the range is too wide to represent")


def _number(value: Value) -> float:
    """`value` as a float (a numeric domain's value; `ConfigError` for text or a dict)."""
    if isinstance(value, str | dict):
        raise ConfigError(f"{value!r} is not a number")
    return float(value)


def _unit(u: float) -> float:
    """`u` clipped to [0, 1]; NaN counts as 0."""
    return 0.0 if math.isnan(u) else min(max(u, 0.0), 1.0)


class Domain:
    """One hyperparameter's distribution. Subclasses are frozen dataclasses."""

    def sample(self, rng: np.random.Generator) -> Value:
        """Draw a value from the prior."""
        raise NotImplementedError

    def validate(self, name: str, value: Any) -> Value:
        """Return `value` normalised (int for `IntUniform`); raise `ConfigError` if outside."""
        raise NotImplementedError

    def to_unit(self, value: Value) -> float:
        """The value's coordinate in [0, 1]."""
        raise NotImplementedError

    def from_unit(self, u: float) -> Value:
        """The value at unit coordinate `u`, clipped to [0, 1] first."""
        raise NotImplementedError

    def perturb(self, value: Value, factor: float) -> Value:
        """The value multiplied by `factor` (for a Choice: the next value up for a factor > 1,
        down for < 1), clipped to the domain."""
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description that `Space.from_json` reads back."""
        raise NotImplementedError


@dataclass(frozen=True)
class _FloatRange(Domain):
    """A float in [lo, hi]: checks, validation, multiplicative perturbation and JSON."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        kind = type(self).__name__
        object.__setattr__(self, "lo", _finite_number(f"{kind} lo", self.lo))
        object.__setattr__(self, "hi", _finite_number(f"{kind} hi", self.hi))
        _check_range(kind, self.lo, self.hi)

    def validate(self, name: str, value: Any) -> float:
        v = _finite_number(f"hyperparameter {name!r}", value)
        if not self.lo <= v <= self.hi:
            raise ConfigError(f"hyperparameter {name!r} = {value!r} is outside "
                              f"{type(self).__name__}({self.lo}, {self.hi})")
        return v

    def perturb(self, value: Value, factor: float) -> float:
        return min(max(_number(value) * factor, self.lo), self.hi)

    def to_json(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "lo": self.lo, "hi": self.hi}


@dataclass(frozen=True)
class Uniform(_FloatRange):
    """A float drawn uniformly from [lo, hi].

    Examples:
        >>> Uniform(0.0, 1.0).validate("h", 0.5)
        0.5
    """

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.lo, self.hi))

    def to_unit(self, value: Value) -> float:
        return (_number(value) - self.lo) / (self.hi - self.lo)

    def from_unit(self, u: float) -> float:
        return min(max(self.lo + _unit(u) * (self.hi - self.lo), self.lo), self.hi)


@dataclass(frozen=True)
class LogUniform(_FloatRange):
    """A positive float whose logarithm is uniform on [log lo, log hi] (learning rates).

    `lo` must be a normal float (at least `sys.float_info.min`, about 2.2e-308) and `hi / lo`
    finite, so that every value's unit coordinate is a finite number in [0, 1].

    Examples:
        >>> LogUniform(1e-4, 1e-1).validate("lr", 0.01)
        0.01
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lo <= 0:
            raise ConfigError(f"LogUniform(lo={self.lo!r}, hi={self.hi!r}): lo must be > 0")
        if self.lo < sys.float_info.min:  # a subnormal lo: hi / lo overflows, logs lose bits
            raise ConfigError(f"LogUniform(lo={self.lo!r}, hi={self.hi!r}): lo is a subnormal "
                              f"float, too small for exact ratios and logarithms; lo must be "
                              f"at least {sys.float_info.min!r}")
        if not math.isfinite(self.hi / self.lo):
            raise ConfigError(f"LogUniform(lo={self.lo!r}, hi={self.hi!r}): hi / lo overflows; "
                              f"the ratio of the bounds must be below {sys.float_info.max!r}")

    def sample(self, rng: np.random.Generator) -> float:
        value = math.exp(rng.uniform(math.log(self.lo), math.log(self.hi)))
        return min(max(value, self.lo), self.hi)

    def to_unit(self, value: Value) -> float:
        return math.log(_number(value) / self.lo) / math.log(self.hi / self.lo)

    def from_unit(self, u: float) -> float:
        return min(max(self.lo * (self.hi / self.lo) ** _unit(u), self.lo), self.hi)


@dataclass(frozen=True)
class IntUniform(Domain):
    """An integer drawn uniformly from lo..hi, both included (batch sizes, layer counts).

    Perturbation multiplies and rounds; when rounding would leave the value unchanged it moves
    one step the way the factor would (away from zero for a factor > 1), so small integers
    still explore. The bounds are 64-bit integers (what numpy samples): -2**63 to 2**63 - 1.

    Examples:
        >>> IntUniform(16, 256).validate("batch_size", 64)
        64
    """

    lo: int
    hi: int

    def __post_init__(self) -> None:
        for attr in ("lo", "hi"):
            v = getattr(self, attr)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise ConfigError(f"IntUniform {attr} must be an integer, got {v!r}")
            if not INT64_MIN <= int(v) <= INT64_MAX:  # numpy samples int64
                raise ConfigError(f"IntUniform {attr}={int(v)!r} is out of range; the bounds "
                                  f"must be 64-bit integers, from {INT64_MIN} to {INT64_MAX}")
            object.__setattr__(self, attr, int(v))
        _check_range("IntUniform", self.lo, self.hi)

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.lo, self.hi, endpoint=True))

    def validate(self, name: str, value: Any) -> int:
        v: int | None
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            v = int(value)
        else:
            f = _finite_number(f"hyperparameter {name!r}", value)
            v = int(f) if f.is_integer() else None
        if v is None or not self.lo <= v <= self.hi:
            raise ConfigError(f"hyperparameter {name!r} = {value!r} is not an integer in "
                              f"IntUniform({self.lo}, {self.hi})")
        return v

    def to_unit(self, value: Value) -> float:
        return (_number(value) - self.lo) / (self.hi - self.lo)

    def from_unit(self, u: float) -> int:
        return int(min(max(round(self.lo + _unit(u) * (self.hi - self.lo)), self.lo), self.hi))

    def perturb(self, value: Value, factor: float) -> int:
        v = value if isinstance(value, int) else int(_number(value))  # exact for big ints
        moved = round(min(max(v * factor, self.lo), self.hi))
        if moved == v and factor != 1.0:
            away = v >= 0 if factor > 1.0 else v < 0  # a factor > 1 moves away from zero
            moved = v + (1 if away else -1)
        return int(min(max(moved, self.lo), self.hi))

    def to_json(self) -> dict[str, Any]:
        return {"type": "IntUniform", "lo": self.lo, "hi": self.hi}


@dataclass(frozen=True, init=False)
class Choice(Domain):
    """One of a list of values (numbers, strings or booleans).

    Ordered by default: perturbation moves to the neighbouring value (up for a factor > 1,
    down for < 1). With `ordered=False` the explore strategies resample it instead.

    Examples:
        >>> Choice([32, 64, 128]).perturb(64, 1.2)
        128
    """

    values: tuple[Scalar, ...]
    ordered: bool

    def __init__(self, values: Sequence[Scalar], *, ordered: bool = True) -> None:
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise ConfigError(f"Choice needs a list of values, got {values!r}")
        vals = tuple(values)
        if not vals:
            raise ConfigError("Choice([]) has no values; give at least one")
        for v in vals:
            if not isinstance(v, int | float | str | bool):
                raise ConfigError(f"Choice value {v!r} is not a number, string or boolean")
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"Choice value {v!r} is not finite")
        if len(set(vals)) != len(vals):
            raise ConfigError(f"Choice({list(vals)!r}) repeats a value")
        object.__setattr__(self, "values", vals)
        object.__setattr__(self, "ordered", bool(ordered))

    def _index(self, name: str, value: Any) -> int:
        for i, v in enumerate(self.values):
            if v == value and isinstance(v, bool) == isinstance(value, bool):
                return i
        raise ConfigError(f"hyperparameter {name!r} = {value!r} is not one of "
                          f"{list(self.values)!r}")

    def sample(self, rng: np.random.Generator) -> Value:
        return self.values[int(rng.integers(len(self.values)))]

    def validate(self, name: str, value: Any) -> Value:
        return self.values[self._index(name, value)]

    def to_unit(self, value: Value) -> float:
        if len(self.values) == 1:
            return 0.0
        return self._index("value", value) / (len(self.values) - 1)

    def from_unit(self, u: float) -> Value:
        return self.values[round(_unit(u) * (len(self.values) - 1))]

    def perturb(self, value: Value, factor: float) -> Value:
        i = self._index("value", value)
        step = 1 if factor > 1.0 else -1 if factor < 1.0 else 0
        return self.values[min(max(i + step, 0), len(self.values) - 1)]

    def to_json(self) -> dict[str, Any]:
        return {"type": "Choice", "values": list(self.values), "ordered": self.ordered}


_DOMAINS: dict[str, type[Domain]] = {
    "Uniform": Uniform, "LogUniform": LogUniform, "IntUniform": IntUniform, "Choice": Choice,
}


def register_domain(kind: str, domain: type[Domain]) -> None:
    """Let `Space.from_json` read a domain whose `to_json()["type"]` is `kind` (built with
    the rest of its `to_json()` as keyword arguments): how a domain defined in a module of
    its own, such as `popbt.Simplex`, joins the built-in ones."""
    _DOMAINS[kind] = domain


class Space(Mapping[str, Domain]):
    """A named set of hyperparameter domains; an immutable mapping name → `Domain`.

    Examples:
        >>> space = Space({"lr": LogUniform(1e-4, 1e-1), "batch_size": Choice([32, 64, 128])})
        >>> sorted(space.sample(np.random.default_rng(0)))
        ['batch_size', 'lr']

    Raises:
        ConfigError: the mapping is empty, a key is not a string, or a value is not a Domain.
    """

    def __init__(self, domains: Mapping[str, Domain]) -> None:
        if not isinstance(domains, Mapping) or not domains:
            raise ConfigError(f"Space needs a non-empty dict of name → domain, got {domains!r}")
        for name, dom in domains.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(f"hyperparameter names must be non-empty strings, got {name!r}")
            if not isinstance(dom, Domain):
                raise ConfigError(f"hyperparameter {name!r}: {dom!r} is not a domain; use "
                                  f"Uniform, LogUniform, IntUniform, Choice or Simplex")
        self._domains = dict(domains)

    def __getitem__(self, name: str) -> Domain:
        return self._domains[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._domains)

    def __len__(self) -> int:
        return len(self._domains)

    def __repr__(self) -> str:
        return f"Space({self._domains!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self._domains == other._domains

    __hash__ = None  # type: ignore[assignment]

    def sample(self, rng: np.random.Generator) -> dict[str, Value]:
        """One draw of every hyperparameter from its prior, in the space's order."""
        return {name: dom.sample(rng) for name, dom in self._domains.items()}

    def validate(self, hparams: Mapping[str, Any]) -> dict[str, Value]:
        """Check a complete assignment; return it normalised.

        Raises:
            ConfigError: a key is unknown or missing, or a value is outside its domain.
        """
        self.check_keys(hparams)
        missing = [n for n in self._domains if n not in hparams]
        if missing:
            raise ConfigError(f"hyperparameters {missing!r} are missing from {dict(hparams)!r}")
        return {name: dom.validate(name, hparams[name]) for name, dom in self._domains.items()}

    def check_keys(self, hparams: Mapping[str, Any]) -> None:
        """Raise `ConfigError` if `hparams` names a hyperparameter the space lacks."""
        unknown = [k for k in hparams if k not in self._domains]
        if unknown:
            raise ConfigError(f"unknown hyperparameters {unknown!r}; the space has "
                              f"{list(self._domains)!r}")

    def complete(self, partial: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Value]:
        """`partial` validated, with the hyperparameters it leaves out sampled from their prior."""
        self.check_keys(partial)
        sampled = self.sample(rng)
        return self.validate({**sampled, **partial})

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description; `Space.from_json(space.to_json()) == space`."""
        return {name: dom.to_json() for name, dom in self._domains.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Space:
        """Read what `to_json` wrote. Raises `ConfigError` on an unknown domain type."""
        domains: dict[str, Domain] = {}
        for name, spec in data.items():
            spec = dict(spec)
            kind = spec.pop("type", None)
            if kind not in _DOMAINS:
                raise ConfigError(f"hyperparameter {name!r}: unknown domain type {kind!r}; "
                                  f"known: {sorted(_DOMAINS)!r}")
            if kind == "Choice":
                domains[name] = Choice(spec["values"], ordered=spec.get("ordered", True))
            else:
                domains[name] = _DOMAINS[kind](**spec)
        return cls(domains)
