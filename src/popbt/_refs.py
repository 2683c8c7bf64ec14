"""Importable references to user objects ("module:qualname" or "/path/file.py:qualname").

Worker processes and resumed runs rebuild trainables and custom strategies from these.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from popbt.errors import ConfigError

_FILE_PREFIX = "popbt_file_"


def load_file(path: str | Path) -> ModuleType:
    """Import a Python file as a module (once per path per process), with its folder on
    `sys.path` as when it runs as a script, so it can import its neighbours.

    An error the file raises while it is imported propagates, except two that would end the
    process without a word: `SystemExit` (the file calls `sys.exit()` at import) and a
    `BaseException` that is neither an `Exception` nor a `KeyboardInterrupt`; both become a
    `ConfigError` that names the file.

    Raises:
        ConfigError: the file does not exist, is not a `.py` file, or exits (or raises a
            bare `BaseException`) while it is imported.
    """
    p = Path(path).resolve()
    if not p.is_file() or p.suffix != ".py":
        raise ConfigError(f"{str(path)!r} is not a Python file")
    for loaded in ("__main__", "__mp_main__"):
        module = sys.modules.get(loaded)
        file = getattr(module, "__file__", None)
        if module is not None and file is not None and Path(file).resolve() == p:
            return module
    name = _FILE_PREFIX + hashlib.sha1(str(p).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    if str(p.parent) not in sys.path:  # as when the file runs as a script
        sys.path.insert(0, str(p.parent))
    spec = importlib.util.spec_from_file_location(name, p)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        if isinstance(exc, SystemExit):
            code = "" if exc.code is None else repr(exc.code)
            raise ConfigError(f"{str(path)!r} called sys.exit({code}) while being imported; "
                              f"popbt imports the file to find its Trainable, so the part that "
                              f"runs it as a script belongs under `if __name__ == "
                              f"'__main__':`") from None
        if isinstance(exc, Exception | KeyboardInterrupt):
            raise
        raise ConfigError(f"{str(path)!r} raised {type(exc).__name__}({exc}) while being "
                          f"imported; a file popbt loads must import cleanly") from None
    return module


def object_ref(obj: Any) -> str:
    """A reference that `resolve_ref` turns back into `obj` in another process."""
    module = sys.modules.get(obj.__module__)
    qualname = obj.__qualname__
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise ConfigError(f"{qualname!r} is defined inside a function; define it at module "
                          f"level so worker processes can import it")
    if module is not None and (obj.__module__ == "__main__" or
                               obj.__module__.startswith(_FILE_PREFIX)):
        file = getattr(module, "__file__", None)
        if file is None:
            raise ConfigError(f"{qualname!r} is defined in an interactive session; define it "
                              f"in a file so worker processes can import it")
        return f"{Path(file).resolve()}:{qualname}"
    return f"{obj.__module__}:{qualname}"


def resolve_ref(ref: str) -> Any:
    """The object a reference names.

    Raises:
        ConfigError: the module or file cannot be imported or lacks the name.
    """
    where, _, qualname = ref.rpartition(":")
    if not where or not qualname:
        raise ConfigError(f"bad object reference {ref!r}; expected 'module:name' or "
                          f"'/path/file.py:name'")
    try:
        module = load_file(where) if where.endswith(".py") else importlib.import_module(where)
    except ImportError as exc:
        raise ConfigError(f"cannot import {where!r} for {ref!r}: {exc}") from exc
    obj: Any = module
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{where!r} has no {qualname!r}")
        obj = getattr(obj, part)
    return obj
