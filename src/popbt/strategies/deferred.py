"""Stored strategies of classes outside popbt, imported only when they are first used.

A strategy whose class is the user's own is stored by reference (`popbt.strategies._config`).
Rebuilt, an exploit or explore is a `DeferredExploit` or `DeferredExplore`: it imports the
class and builds the strategy when it is first used (`resolve()`, or a select, explore or
`history_window`). Reading a population (status, best, schedule, report, dashboard) thus
never imports the user's code; a trainer's `Decider` resolves both before it trains, so a
class that cannot be imported stops the run at its start with one `ConfigError` naming it.
Pickled (sent to a worker process), a deferred strategy goes unresolved.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from popbt._refs import resolve_ref
from popbt.errors import ConfigError
from popbt.records import Peer
from popbt.space import Space, Value
from popbt.strategies._config import rebuild
from popbt.strategies.exploit import Exploit
from popbt.strategies.explore import Explore, Ops
from popbt.strategies.ready import Every

__all__ = ["DeferredExploit", "DeferredExplore", "build"]

_BASES: dict[str, type] = {"exploit": Exploit, "explore": Explore, "ready": Every}

S = TypeVar("S")


def build(config: Mapping[str, Any]) -> Any:
    """The strategy a `{"type": "class", ...}` config stores, its class imported now.

    Raises:
        ConfigError: the config is malformed, the class cannot be imported (the message names
            it), is not a strategy of the stored kind, or refuses the stored arguments.
    """
    kind, ref, args = config.get("kind"), config.get("ref"), config.get("args", {})
    base = _BASES.get(kind) if isinstance(kind, str) else None
    if base is None or not isinstance(ref, str) or not isinstance(args, dict):
        raise ConfigError(f"malformed stored strategy {dict(config)!r}")
    try:
        cls = resolve_ref(ref)
    except ConfigError as exc:
        raise ConfigError(f"the population's {kind} strategy class {ref!r} cannot be imported "
                          f"({exc}); it must be importable wherever the population is "
                          f"trained") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"{ref!r} is not a {base.__name__} subclass")
    return rebuild(cls, args)


class _Deferred(Generic[S]):
    """A stored strategy, built from its config on first use."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = copy.deepcopy(dict(config))
        self._built: S | None = None

    def resolve(self) -> S:
        """The strategy, its class imported and built once.

        Raises:
            ConfigError: see `build`.
        """
        if self._built is None:
            self._built = build(self._config)
        return self._built

    def to_config(self) -> dict[str, Any]:
        """The stored config, unchanged; imports nothing."""
        return copy.deepcopy(self._config)

    def __getstate__(self) -> dict[str, Any]:
        return {"_config": self._config, "_built": None}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._config.get('ref')!r})"


class DeferredExploit(_Deferred[Exploit], Exploit):
    """An exploit of the user's class, imported on first use (see the module docstring).

    Examples:
        >>> lazy = DeferredExploit({"type": "class", "kind": "exploit",
        ...                         "ref": "mypkg.strategies:CopyBest", "args": {}})
        >>> lazy.to_config()["ref"]  # nothing was imported
        'mypkg.strategies:CopyBest'
    """

    @property
    def history_window(self) -> int:  # type: ignore[override]
        """The strategy's own (imported to tell)."""
        return self.resolve().history_window

    def select(self, member: Peer, peers: Sequence[Peer], rng: np.random.Generator) -> int | None:
        return self.resolve().select(member, peers, rng)


class DeferredExplore(_Deferred[Explore], Explore):
    """An explore of the user's class, imported on first use (see the module docstring)."""

    @property
    def uses_history(self) -> bool:  # type: ignore[override]
        """The strategy's own (imported to tell)."""
        return self.resolve().uses_history

    def explore(self, hparams: Mapping[str, Value], space: Space, rng: np.random.Generator,
                history: Any = None) -> tuple[dict[str, Value], Ops]:
        built = self.resolve()
        if built.uses_history:
            return built.explore(hparams, space, rng, history=history)  # type: ignore[call-arg]
        return built.explore(hparams, space, rng)
