"""How a strategy is stored, and rebuilt from what was stored.

Contract:
- A strategy's stored arguments are its dataclass fields (each a JSON value; tuples are
  stored as lists, so the constructor must accept a list where it takes a tuple), or nothing
  for a class whose constructor takes no arguments; `cls(**arguments)` rebuilds it. Any other
  class cannot be stored (`ConfigError`).
- A class of popbt's own is stored by its name, `{"type": "Truncation", "fraction": 0.2}`,
  which `popbt.strategies.registry` maps back to the class. Any other class is stored by
  reference, `{"type": "class", "kind": "exploit", "ref": "module:qualname", "args": {...}}`,
  so that a worker process or a resumed run imports it (it need not be registered there).
- Pure: imports nothing but popbt's errors and references.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from popbt._refs import object_ref
from popbt.errors import ConfigError

StrategyKind = Literal["exploit", "explore", "ready"]


def is_builtin(cls: type) -> bool:
    """Whether `cls` is one of popbt's own classes (stored by its name)."""
    return cls.__module__ == "popbt" or cls.__module__.startswith("popbt.")


def _plain(value: Any) -> Any:
    """`value` as JSON reads it back: tuples become lists, in containers too."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def arguments(strategy: object) -> dict[str, Any]:
    """The keyword arguments that rebuild `strategy` (see the module contract).

    Raises:
        ConfigError: its class is neither a dataclass nor constructed without arguments.
    """
    cls = type(strategy)
    if dataclasses.is_dataclass(strategy):
        return {f.name: _plain(getattr(strategy, f.name))
                for f in dataclasses.fields(strategy) if f.init}
    if cls.__init__ is object.__init__:
        return {}
    raise ConfigError(f"{cls.__qualname__} cannot be stored: make it a dataclass whose fields "
                      f"are its constructor's keyword arguments")


def config_of(strategy: object, kind: StrategyKind) -> dict[str, Any]:
    """What `strategy` (an exploit, explore or ready strategy) is stored as.

    Raises:
        ConfigError: it cannot be stored: its class is defined inside a function or an
            interactive session (no worker could import it), or see `arguments`.
    """
    cls = type(strategy)
    args = arguments(strategy)
    if is_builtin(cls):
        return {"type": cls.__name__, **args}
    return {"type": "class", "kind": kind, "ref": object_ref(cls), "args": args}


def rebuild(cls: type, args: Mapping[str, Any]) -> Any:
    """`cls(**args)`: a strategy rebuilt from its stored arguments.

    Raises:
        ConfigError: the arguments do not fit the constructor, or it refuses their values.
    """
    try:
        return cls(**args)
    except TypeError as exc:
        raise ConfigError(f"cannot rebuild {cls.__qualname__} from the stored arguments "
                          f"{dict(args)!r}: {exc}") from None
