"""Explore strategies: how a member's hyperparameters change after it exploited a donor.

`explore(hparams, space, rng)` returns the new hyperparameters and, for each one that was
touched, how ("×1.2", "resample", "+0.031"); the result always lies inside the space.
Any callable `(hparams, space, rng) -> hparams` is accepted where an explore is expected.

An explore that reads the population's history (a model-based explore, such as PB2)
declares it: a subclass sets `uses_history = True` and is called as
`explore(hparams, space, rng, history=...)`, and a function that takes a parameter named
`history` receives it. The history is a mapping of member id to `popbt.decisions.
MemberHistory` (each ready point's step, hyperparameters and metrics, since the member
started and since its last exploit), read only for explores that ask for it.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from popbt._refs import object_ref, resolve_ref
from popbt.errors import ConfigError
from popbt.simplex import Simplex
from popbt.space import Choice, Space, Value
from popbt.strategies._config import config_of

Ops = dict[str, str]


class Explore:
    """Base class; subclasses implement `explore`, and set `uses_history = True` to receive
    the population's history as `explore(..., history=...)` (see the module docstring).

    A subclass is a dataclass whose fields are its constructor's keyword arguments (or takes
    none); `to_config` stores it, and `popbt.strategies.from_config` rebuilds it, in a worker
    process too (see `popbt.strategies._config`).
    """

    uses_history: bool = False

    def explore(self, hparams: Mapping[str, Value], space: Space,
                rng: np.random.Generator) -> tuple[dict[str, Value], Ops]:
        """New hyperparameters inside `space`, and the operation applied to each one."""
        raise NotImplementedError

    def check(self, *, size: int, space: Space) -> None:
        """Called by `Settings` when a population is defined: raise `ConfigError` for
        settings this explore cannot work with (a population of `size` members exploring
        `space`); the base class accepts any."""

    def __call__(self, hparams: Mapping[str, Value], space: Space,
                 rng: np.random.Generator) -> dict[str, Value]:
        return self.explore(hparams, space, rng)[0]

    def apply(self, hparams: Mapping[str, Value], space: Space, rng: np.random.Generator,
              history: Callable[[], Any]) -> tuple[dict[str, Value], Ops]:
        """`explore`, given the population's history (read from `history()`) when
        `uses_history`; what a decision calls."""
        if self.uses_history:
            return self.explore(hparams, space, rng, history=history())  # type: ignore[call-arg]
        return self.explore(hparams, space, rng)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready: its type and constructor arguments.

        Raises:
            ConfigError: the class cannot be stored (see `popbt.strategies._config`).
        """
        return config_of(self, "explore")


def _probability(owner: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{owner}={value!r}: a probability must be in [0, 1]")
    return float(value)


NEAR = "near"  # the operation of a Simplex moved by its Dirichlet


def _factor_label(factor: float) -> str:
    return f"×{factor:g}"


@dataclass(frozen=True, init=False)
class Perturb(Explore):
    """Multiply each hyperparameter by a factor drawn from `factors` (the paper's ×0.8/×1.2).

    With probability `resample_probability` a hyperparameter is drawn afresh from its prior
    instead. Values are clipped to their domain; integers round (moving at least one step);
    ordered choices move to the neighbouring value; unordered choices are resampled.

    Examples:
        >>> Perturb(factors=(0.5, 2.0), resample_probability=0.0).factors
        (0.5, 2.0)
    """

    factors: tuple[float, ...]
    resample_probability: float

    def __init__(self, factors: Sequence[float] = (0.8, 1.2), *,
                 resample_probability: float = 0.25) -> None:
        if isinstance(factors, str) or not isinstance(factors, Sequence) or not factors:
            raise ConfigError(f"Perturb(factors={factors!r}): give a non-empty list of factors")
        for f in factors:
            if (isinstance(f, bool) or not isinstance(f, int | float) or not math.isfinite(f)
                    or f <= 0):
                raise ConfigError(f"Perturb factor {f!r} must be a positive finite number")
        if all(f == 1.0 for f in factors):
            raise ConfigError(f"Perturb(factors={factors!r}): every factor is 1, nothing would "
                              f"change")
        object.__setattr__(self, "factors", tuple(float(f) for f in factors))
        object.__setattr__(self, "resample_probability",
                           _probability("Perturb resample_probability", resample_probability))

    def explore(self, hparams: Mapping[str, Value], space: Space,
                rng: np.random.Generator) -> tuple[dict[str, Value], Ops]:
        new: dict[str, Value] = {}
        ops: Ops = {}
        for name, dom in space.items():
            if rng.random() < self.resample_probability or (
                    isinstance(dom, Choice) and not dom.ordered):
                new[name], ops[name] = dom.sample(rng), "resample"
            elif isinstance(dom, Simplex):
                new[name], ops[name] = dom.near(hparams[name], rng), NEAR
            else:
                factor = self.factors[int(rng.integers(len(self.factors)))]
                new[name], ops[name] = dom.perturb(hparams[name], factor), _factor_label(factor)
        return new, ops


@dataclass(frozen=True)
class Resample(Explore):
    """Draw each hyperparameter afresh from its prior with probability `probability`.

    Examples:
        >>> Resample(probability=1.0).probability
        1.0
    """

    probability: float = 0.25

    def __post_init__(self) -> None:
        object.__setattr__(self, "probability",
                           _probability("Resample probability", self.probability))

    def explore(self, hparams: Mapping[str, Value], space: Space,
                rng: np.random.Generator) -> tuple[dict[str, Value], Ops]:
        new: dict[str, Value] = dict(hparams)
        ops: Ops = {}
        for name, dom in space.items():
            if rng.random() < self.probability:
                new[name], ops[name] = dom.sample(rng), "resample"
        return new, ops


@dataclass(frozen=True)
class GaussianNoise(Explore):
    """Add Gaussian noise of standard deviation `sigma` to each hyperparameter, clipped.

    `sigma` is a fraction of the domain's width measured in its unit coordinate: linear for
    Uniform and IntUniform, logarithmic for LogUniform, the index for Choice. On Uniform(0, 1)
    it is the plain standard deviation (the paper's toy problem uses 0.1). Unordered choices
    are resampled; a `Simplex` moves by its Dirichlet (`Simplex.near`), as under `Perturb`.

    Examples:
        >>> GaussianNoise(sigma=0.1).sigma
        0.1
    """

    sigma: float = 0.1

    def __post_init__(self) -> None:
        s = self.sigma
        if isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(s) or s <= 0:
            raise ConfigError(f"GaussianNoise(sigma={s!r}): sigma must be a positive number")

    def explore(self, hparams: Mapping[str, Value], space: Space,
                rng: np.random.Generator) -> tuple[dict[str, Value], Ops]:
        new: dict[str, Value] = {}
        ops: Ops = {}
        for name, dom in space.items():
            old = hparams[name]
            if isinstance(dom, Choice) and not dom.ordered:
                new[name], ops[name] = dom.sample(rng), "resample"
                continue
            if isinstance(dom, Simplex):
                new[name], ops[name] = dom.near(old, rng), NEAR
                continue
            value = dom.from_unit(dom.to_unit(old) + float(rng.normal(0.0, self.sigma)))
            new[name] = value
            if isinstance(value, int | float) and not isinstance(value, bool):
                ops[name] = f"{float(value) - float(old):+.3g}"  # type: ignore[arg-type]
            else:
                ops[name] = f"→ {value!r}"
        return new, ops


@dataclass(frozen=True)
class CallableExplore(Explore):
    """Wraps a user function `(hparams, space, rng) -> hparams`; its result is validated."""

    fn: Callable[..., Mapping[str, Value]]

    @property
    def uses_history(self) -> bool:  # type: ignore[override]
        """Whether the function takes a parameter named `history`."""
        try:
            return "history" in inspect.signature(self.fn).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            return False

    def explore(self, hparams: Mapping[str, Value], space: Space, rng: np.random.Generator,
                history: Any = None) -> tuple[dict[str, Value], Ops]:
        if self.uses_history:
            result = self.fn(dict(hparams), space, rng, history=history)
        else:
            result = self.fn(dict(hparams), space, rng)
        if not isinstance(result, Mapping):
            raise ConfigError(f"explore function {self.fn!r} returned {result!r}, not a dict")
        new = space.validate({**hparams, **result})
        return new, {k: "custom" for k in new if new[k] != hparams[k]}

    def to_config(self) -> dict[str, Any]:
        try:
            ref: str | None = object_ref(self.fn)
        except ConfigError:
            ref = None
        return {"type": "callable", "ref": ref, "name": getattr(self.fn, "__qualname__", "?")}


def as_explore(obj: Explore | Callable[..., Mapping[str, Value]] | None) -> Explore | None:
    """An `Explore` from a strategy, a plain callable, or None (no exploration)."""
    if obj is None or isinstance(obj, Explore):
        return obj
    if callable(obj):
        return CallableExplore(obj)
    raise ConfigError(f"explore={obj!r} is neither an explore strategy nor a callable "
                      f"(hparams, space, rng) -> hparams")


def callable_from_ref(ref: str | None, name: str) -> CallableExplore:
    """Rebuild a `CallableExplore` from its stored reference.

    Raises:
        ConfigError: the function was defined inline (no reference) or cannot be imported.
    """
    if ref is None:
        raise ConfigError(f"the population explores with {name!r}, which was defined inline "
                          f"and cannot be imported")
    return CallableExplore(resolve_ref(ref))


class StoredExplore(Explore):
    """A stored custom explore function, known by its reference and imported only when it is
    needed: when an explore is applied, or `fn` or `resolve()` is called. Reading a population
    (status, best, schedule, report, dashboard) thus never imports or runs the user's file.

    `to_config()` gives back the stored reference unchanged, without importing anything.

    Examples:
        >>> lazy = StoredExplore("/path/explores.py:halve_lr", "halve_lr")  # imports nothing
        >>> lazy.to_config()["ref"]
        '/path/explores.py:halve_lr'
    """

    def __init__(self, ref: str | None, name: str) -> None:
        self.ref, self.name = ref, name
        self._resolved: CallableExplore | None = None

    def resolve(self) -> CallableExplore:
        """The function imported (once).

        Raises:
            ConfigError: it was defined inline, or its module or file cannot be imported.
        """
        if self._resolved is None:
            try:
                self._resolved = callable_from_ref(self.ref, self.name)
            except ConfigError as exc:
                raise ConfigError(f"{exc}; pass explore= with the same function") from None
        return self._resolved

    @property
    def fn(self) -> Callable[..., Mapping[str, Value]]:
        """The user's function (imported on first use)."""
        return self.resolve().fn

    @property
    def uses_history(self) -> bool:  # type: ignore[override]
        """Whether the function (imported to tell) takes `history`."""
        return self.resolve().uses_history

    def explore(self, hparams: Mapping[str, Value], space: Space, rng: np.random.Generator,
                history: Any = None) -> tuple[dict[str, Value], Ops]:
        return self.resolve().explore(hparams, space, rng, history)

    def to_config(self) -> dict[str, Any]:
        return {"type": "callable", "ref": self.ref, "name": self.name}

    def __getstate__(self) -> dict[str, Any]:  # sent to worker processes unresolved
        return {"ref": self.ref, "name": self.name, "_resolved": None}

    def __repr__(self) -> str:
        return f"StoredExplore({self.name!r} from {self.ref!r})"
