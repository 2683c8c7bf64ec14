"""What a worker process started with `spawn` needs of this process's `__main__`, checked
before any worker process starts.

A spawned process is a fresh interpreter. Before it runs the worker it runs the parent's main
script again (as `__mp_main__`), as `multiprocessing.spawn.get_preparation_data` decides:
every main module run from a file or by module name, except a package's `__main__` and
IPython. So:

- a program read from stdin (`python - < script.py`) names a main file, `<stdin>`, that no
  worker process can run again: every one dies before it starts;
- a trainable defined in a `__main__` without a file (an interactive session, a notebook,
  `python -c`) cannot be imported by a worker process at all;
- a script whose training call is not under `if __name__ == "__main__":` would start the
  training again in every worker process (where multiprocessing refuses to start processes:
  every worker dies with a traceback, and the run gives up after its restarts).

Contract: `check_spawnable` raises one `ConfigError` for each, naming the class and the
fix. It only refuses what is sure to fail: a script whose source cannot be read, or whose
training call lies under any `if` that tests `__name__`, passes.
"""

from __future__ import annotations

import ast
import multiprocessing.process
import os
import sys
import tokenize
from types import FrameType, ModuleType

from popbt.errors import ConfigError

__all__ = ["check_spawnable", "rerun_main_path"]


def rerun_main_path() -> str | None:
    """The file of the main script a spawned process runs again before its target, or None
    when it runs none (no `__main__` file, a package's `__main__`, IPython)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if spec_name is not None:
        if spec_name == "__main__" or spec_name.endswith(".__main__"):
            return None
    elif path is None or os.path.splitext(os.path.basename(path))[0] == "ipython":
        return None
    if not isinstance(path, str):
        return None
    # spawn joins a relative path to the working directory multiprocessing was imported in
    start = getattr(multiprocessing.process, "ORIGINAL_DIR", None)
    if not os.path.isabs(path) and start is not None:
        path = os.path.join(start, path)
    return os.path.normpath(path)


def _main_frames(main: ModuleType) -> list[FrameType]:
    """The frames of code of `main` on the stack now, innermost first."""
    frames, frame = [], sys._getframe(1)
    namespace = vars(main)
    while frame is not None:
        if frame.f_globals is namespace:
            frames.append(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return frames


def _tests_name(node: ast.If) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test))


def _guarded(path: str, lines: list[int]) -> bool:
    """Whether any of `lines` of the file `path` lies in an `if` that tests `__name__`;
    True when the file cannot be read or parsed (nothing is sure then)."""
    try:
        with tokenize.open(path) as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return True
    guards = [n for n in ast.walk(tree) if isinstance(n, ast.If) and _tests_name(n)]
    return any(g.lineno <= line <= (g.end_lineno or g.lineno) for g in guards for line in lines)


def _unguarded_script() -> str | None:
    """The main script, when this call comes from its top level (it is running now) outside
    an `if __name__ == "__main__":` block, so that a spawned process would make it again."""
    path = rerun_main_path()
    main = sys.modules.get("__main__")
    if path is None or main is None:
        return None
    frames = _main_frames(main)
    if not any(f.f_code.co_name == "<module>" for f in frames):
        return None  # the script's top level is not running: a spawned process stops there
    return None if _guarded(path, [f.f_lineno for f in frames]) else path


def check_spawnable(trainable: type | str) -> None:
    """Refuse, before any worker process starts, a run whose worker processes would fail:
    a main script that is not a file, a trainable class defined in a `__main__` that has no
    file, or training called from the unguarded top level of the main script. `trainable`:
    the class, or an import reference to it.

    Raises:
        ConfigError: naming the class, the script, and the fix.
    """
    name = trainable if isinstance(trainable, str) else trainable.__qualname__
    main = sys.modules.get("__main__")
    rerun = rerun_main_path()
    if rerun is not None and not os.path.isfile(rerun):
        raise ConfigError(
            f"this program's main script ({getattr(main, '__file__', rerun)}) is not a file, "
            f"and each worker process starts by running it again, so none could train "
            f"{name}: save the program as a file and run that (training under "
            f"`if __name__ == \"__main__\":`), or train in this process (workers=1)")
    if not isinstance(trainable, str) and trainable.__module__ == "__main__" \
            and getattr(main, "__file__", None) is None:
        raise ConfigError(
            f"{name} is defined in __main__ without a file (an interactive session, a "
            f"notebook or `python -c`), which worker processes cannot import: move {name} "
            f"to a module file and import it from there, or train in this process "
            f"(workers=1)")
    script = _unguarded_script()
    if script is not None:
        raise ConfigError(
            f"{script} starts the training of {name} with worker processes from its top "
            f"level: each worker process imports {os.path.basename(script)} again and would "
            f"start the training again; put the code that trains under "
            f"`if __name__ == \"__main__\":`, or train in this process (workers=1)")
