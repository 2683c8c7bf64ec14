"""Exact comparison of a trainable's values, for `popbt.check`: where two states (or two live
objects) first differ.

Contract: `difference(a, b)` is None when `a` and `b` hold the same values: numbers (an int
equal to a float included, NaN equal to NaN), strings, bytes, NumPy arrays and torch tensors
(same shape, same elements), containers of them, modules and optimizers (by their
`state_dict()`), random generators (by their state), and other objects by their attributes.
Otherwise it is the path of the first difference (`"optimizer.state[0].momentum_buffer"`).
Objects it cannot look into compare by `==` when that gives a bool, and as the same
otherwise; recursion stops at `MAX_DEPTH`.
"""

from __future__ import annotations

import math
import random
import sys
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["MAX_DEPTH", "difference", "same_number"]

MAX_DEPTH = 8


def same_number(x: float, y: float) -> bool:
    """`x == y`, NaN equal to NaN."""
    return x == y or (math.isnan(x) and math.isnan(y))


def _torch_view(obj: Any) -> Any:
    """What stands for a torch object's values (a module's or optimizer's state dict, a
    generator's state), or `obj` itself."""
    torch = sys.modules.get("torch")
    if torch is None:
        return obj
    if isinstance(obj, torch.nn.Module | torch.optim.Optimizer):
        return obj.state_dict()
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    return obj


def _tensor_difference(a: Any, b: Any) -> bool:
    """True when two tensors differ in shape or in an element (NaN equal to NaN)."""
    a, b = a.detach().cpu(), b.detach().cpu()
    if a.shape != b.shape or a.dtype != b.dtype:
        return True
    if a.is_floating_point() or a.is_complex():
        return not bool(((a == b) | (a.isnan() & b.isnan())).all())
    return not bool((a == b).all())


def _array_difference(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return True
    try:
        return not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc" and b.dtype.kind in "fc")
    except TypeError:
        return not np.array_equal(a, b)


def _plain(obj: Any) -> Any:
    """Random generators as their state; NumPy scalars as Python numbers."""
    if isinstance(obj, np.random.Generator):
        return obj.bit_generator.state
    if isinstance(obj, random.Random):
        return obj.getstate()
    if isinstance(obj, np.generic):
        return obj.item()
    return _torch_view(obj)


def difference(a: Any, b: Any, path: str = "") -> str | None:
    """The path where `a` and `b` first differ, or None (see the module's contract); `path`
    names `a` and `b` in it."""
    return _difference(a, b, path, 0, set())


def _difference(a: Any, b: Any, path: str, depth: int,
                seen: set[tuple[int, int]]) -> str | None:
    if a is b or depth > MAX_DEPTH:
        return None
    a, b = _plain(a), _plain(b)
    torch = sys.modules.get("torch")
    here = path or "the value"
    if isinstance(a, bool | int | float) and isinstance(b, bool | int | float):
        return None if same_number(float(a), float(b)) else here
    if torch is not None and (isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor)):
        both = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
        return here if not both or _tensor_difference(a, b) else None
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        both = isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        return here if not both or _array_difference(a, b) else None
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b):
            return f"{here} (keys {sorted(map(str, set(a) ^ set(b)))})"
        for key in a:
            found = _difference(a[key], b[key], f"{path}[{key!r}]" if path else repr(key),
                                depth + 1, seen)
            if found:
                return found
        return None
    if isinstance(a, list | tuple | deque) and isinstance(b, list | tuple | deque):
        if len(a) != len(b):
            return f"{here} (length {len(a)} against {len(b)})"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _difference(x, y, f"{path}[{i}]", depth + 1, seen)
            if found:
                return found
        return None
    if type(a) is not type(b):
        return here
    if isinstance(a, str | bytes) or a is None:
        return None if a == b else here
    if hasattr(a, "__dict__") and hasattr(b, "__dict__") and not isinstance(a, type):
        if (id(a), id(b)) in seen:  # objects of the trainable's graph: alive all along
            return None
        seen.add((id(a), id(b)))
        for key in sorted(set(vars(a)) | set(vars(b))):
            if key not in vars(a) or key not in vars(b):
                return f"{path}.{key}" if path else key
            found = _difference(vars(a)[key], vars(b)[key], f"{path}.{key}" if path else key,
                                depth + 1, seen)
            if found:
                return found
        return None
    try:
        equal = a == b
    except Exception:  # noqa: BLE001 - an object that cannot be compared is taken as equal
        return None
    return here if isinstance(equal, bool) and not equal else None
