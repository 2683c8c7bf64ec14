"""Loading the user's Python file for `popbt run`, `worker` and `replay`.

Contract:
- `load_file` imports the file; any error raised while importing it (a `SystemExit` too)
  becomes one `ConfigError` that names the file and the error.
- `find_trainable` picks the `popbt.Trainable` subclass: the one named by `--trainable`, else
  the only one (classes the file defines win over those it imports); otherwise a
  `ConfigError` that lists those found.
- `module_setting(module, "space")` reads `space`, else `SPACE`, else the default (a dict of
  domains becomes a `popbt.Space`).
Only the commands that train import the user's file; the ones that read never do.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from popbt.errors import ConfigError


def load_file(path: str) -> ModuleType:
    """The module of the Python file `path`.

    Raises:
        ConfigError: the file cannot be found or imported (the message names the error).
    """
    from popbt._refs import load_file as load

    try:
        return load(path)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any error in the user's file, reported in one line
        raise ConfigError(f"cannot load {path!r}: {type(exc).__name__}: {exc}") from None


def find_trainable(module: ModuleType, path: str, name: str | None) -> type:
    """The `Trainable` subclass of `module` named `name`, else the one its setting
    `trainable` names (a file that defines several), else its only one.

    Raises:
        ConfigError: none of that name, or no or several to choose from without a name.
    """
    from popbt.trainable import Trainable

    setting = vars(module).get("trainable")
    if name is None and isinstance(setting, type) and issubclass(setting, Trainable):
        return setting
    found = {k: v for k, v in vars(module).items() if isinstance(v, type)
             and issubclass(v, Trainable) and v is not Trainable and k != "trainable"}
    defined = {k: v for k, v in found.items() if v.__module__ == module.__name__}
    if defined and name is None:
        found = defined  # classes the file defines win over those it imports
    if name is not None:
        if name not in found:
            raise ConfigError(f"{path!r} defines no Trainable named {name!r}; it defines "
                              f"{sorted(found) or 'none'}")
        return found[name]
    if len(found) != 1:
        raise ConfigError(f"{path!r} must define exactly one popbt.Trainable subclass, found "
                          f"{sorted(found) or 'none'}; pick one with --trainable NAME")
    return next(iter(found.values()))


def module_setting(module: ModuleType, name: str, default: Any = None) -> Any:
    """`module.name`, else `module.NAME`, else `default`; a `space` given as a dict of
    name → domain comes back as the `popbt.Space` it makes.

    Raises:
        ConfigError: a `space` dict that is not one of domains.
    """
    value = getattr(module, name, getattr(module, name.upper(), default))
    if name == "space" and isinstance(value, dict):
        from popbt.space import Space

        return Space(value)
    return value
