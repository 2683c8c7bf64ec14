"""Pure strategies: when a member is ready, whom it copies, how it explores."""

from __future__ import annotations

from typing import Any

from popbt.errors import ConfigError
from popbt.strategies.exploit import Exploit, NoExploit, Tournament, Truncation, TTest
from popbt.strategies.explore import (
    CallableExplore,
    Explore,
    GaussianNoise,
    Perturb,
    Resample,
    StoredExplore,
    as_explore,
    callable_from_ref,
)
from popbt.strategies.ready import Every

__all__ = [
    "CallableExplore", "Every", "Exploit", "Explore", "GaussianNoise", "NoExploit", "Perturb",
    "Resample", "StoredExplore", "TTest", "Tournament", "Truncation", "as_explore",
    "from_config",
]

_TYPES: dict[str, Any] = {
    "Every": Every, "Truncation": Truncation, "Tournament": Tournament, "TTest": TTest,
    "NoExploit": NoExploit, "Perturb": Perturb, "Resample": Resample,
    "GaussianNoise": GaussianNoise,
}


def from_config(config: dict[str, Any] | None, *, lazy: bool = False) -> Any:
    """Rebuild a strategy from what its `to_config()` returned (None stays None).

    A custom explore function is imported now, or with `lazy=True` left as a
    `StoredExplore` that imports it only when it is applied.

    Raises:
        ConfigError: an unknown type, or (not `lazy`) a custom explore function that cannot
            be imported.
    """
    if config is None:
        return None
    spec = dict(config)
    kind = spec.pop("type", None)
    if kind == "callable" and lazy:
        return StoredExplore(spec.get("ref"), spec.get("name", "?"))
    if kind == "callable":
        return callable_from_ref(spec.get("ref"), spec.get("name", "?"))
    if kind not in _TYPES:
        raise ConfigError(f"unknown strategy type {kind!r}; known: {sorted(_TYPES)!r}")
    if kind == "Perturb":
        return Perturb(tuple(spec["factors"]),
                       resample_probability=spec["resample_probability"])
    return _TYPES[kind](**spec)
