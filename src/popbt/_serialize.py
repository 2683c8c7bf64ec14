"""How a checkpoint's state becomes bytes and back, never unpickling arbitrary objects.

A state of torch tensors and plain Python values (dicts, lists, tuples, str, int, float,
bool, None) is written with `torch.save` and read with `torch.load(weights_only=True)` ("pt").
Tensors are always read onto the CPU (`map_location="cpu"`), wherever they were saved, so a
checkpoint written on a GPU loads on a machine without one; the trainable moves them.
Any other state is written in a safe format ("npz"): a NumPy `.npz` archive (read with
`allow_pickle=False`) holding the arrays, plus the structure as JSON, plus (when the state
holds tensors beside NumPy values) one `torch.save` blob of its tensors alone. That format
takes dicts, lists, tuples, str, int, float, bool, None, bytes, NumPy arrays, NumPy scalars
and torch tensors; anything else raises `ConfigError` when the state is serialised, so no
checkpoint is ever written that cannot be read back. A state of plain values alone (records,
see `popbt.datastate`) is JSON in the archive; the JSON of a state may take at most
`popbt.datastate.data_limit()` bytes, or `ConfigError` is raised when it is serialised.
"""

from __future__ import annotations

import io
import json
import sys
from collections import OrderedDict
from typing import Any

import numpy as np

from popbt.datastate import LIMIT_VARIABLE, data_limit
from popbt.errors import CheckpointError, ConfigError

_MARK = "__popbt__"
_TREE = "__tree__"
_TENSORS = "__tensors__"
_PLAIN = (type(None), bool, int, float, str)


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.tensors: dict[str, Any] = {}

    def array(self, value: np.ndarray, kind: str) -> dict[str, Any]:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = value
        return {_MARK: kind, "key": key}

    def encode(self, obj: Any, where: str) -> Any:
        if isinstance(obj, np.generic):  # before float/str: np.float64 and np.str_ subclass them
            return self.array(np.asarray(obj), "scalar")
        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                raise ConfigError(f"{where} is an object array, which cannot be stored "
                                      f"without pickle")
            return self.array(obj, "ndarray")
        if isinstance(obj, bytes):
            return self.array(np.frombuffer(obj, dtype=np.uint8), "bytes")
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(obj, torch.Tensor):
            key = f"t{len(self.tensors)}"
            self.tensors[key] = obj
            return {_MARK: "tensor", "key": key}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {_MARK: "tuple",
                    "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj) and _MARK not in obj:
                return {k: self.encode(v, f"{where}[{k!r}]") for k, v in obj.items()}
            return {_MARK: "dict", "items": [[self.encode(k, f"{where} key"),
                                              self.encode(v, f"{where}[{k!r}]")]
                                             for k, v in obj.items()]}
        raise ConfigError(f"{where} is a {type(obj).__name__}, which popbt cannot store "
                              f"safely; use numbers, strings, lists, dicts, NumPy arrays or "
                              f"torch tensors")


def _decode(obj: Any, arrays: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    kind = obj.get(_MARK)
    if kind is None:
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if kind in ("ndarray", "tensor"):
        return arrays[obj["key"]]
    if kind == "scalar":
        return arrays[obj["key"]][()]
    if kind == "bytes":
        return arrays[obj["key"]].tobytes()
    if kind == "tuple":
        return tuple(_decode(v, arrays) for v in obj["items"])
    return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["items"]}


def _kinds(obj: Any) -> tuple[bool, bool]:
    """(holds a torch tensor, holds only what `torch.load(weights_only=True)` reads back:
    tensors and plain Python values in dicts, lists and tuples)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        return True, type(obj) in (torch.Tensor, torch.nn.Parameter)
    containers: tuple[type, ...] = (dict, OrderedDict, list, tuple)
    leaves: tuple[type, ...] = _PLAIN
    if torch is not None:
        containers, leaves = (*containers, torch.Size), (*leaves, torch.dtype, torch.device)
    if isinstance(obj, dict):
        parts = [_kinds(k) for k in obj] + [_kinds(v) for v in obj.values()]
    elif isinstance(obj, list | tuple):
        parts = [_kinds(v) for v in obj]
    else:
        return False, type(obj) in leaves
    return any(t for t, _ in parts), type(obj) in containers and all(p for _, p in parts)


def serialize(state: dict[str, Any]) -> tuple[bytes, str]:
    """The bytes of a state and its format: "pt" (torch), or "npz" (safe format, with the
    tensors of a state that mixes them with NumPy values in one embedded torch blob).

    Raises:
        ConfigError: `state` is not a dict, or holds a value neither format reads back, or
            its JSON (all but arrays and tensors) is over `popbt.datastate.data_limit()`.
    """
    if not isinstance(state, dict):
        raise ConfigError(f"state_dict() must return a dict, got {type(state).__name__}")
    buf = io.BytesIO()
    tensors, plain = _kinds(state)
    if tensors and plain:
        import torch

        torch.save(state, buf)
        return buf.getvalue(), "pt"
    enc = _Encoder()
    tree = json.dumps(enc.encode(state, "state")).encode()
    limit = data_limit()
    if len(tree) > limit:
        raise ConfigError(
            f"state_dict() holds {len(tree):,} bytes of data as JSON (all but NumPy arrays and "
            f"torch tensors), over the limit of {limit:,} bytes; keep fewer records (prune "
            f"them), hold bulk numbers in NumPy arrays (stored beside the JSON, not counted), "
            f"or raise the limit with the environment variable {LIMIT_VARIABLE} (set for "
            f"every worker)")
    enc.arrays[_TREE] = np.frombuffer(tree, dtype=np.uint8)
    if enc.tensors:
        import torch

        blob = io.BytesIO()
        torch.save({k: v.detach() for k, v in enc.tensors.items()}, blob)
        enc.arrays[_TENSORS] = np.frombuffer(blob.getvalue(), dtype=np.uint8)
    np.savez(buf, **enc.arrays)  # type: ignore[arg-type]  # NumPy's stub types **kwds badly
    return buf.getvalue(), "npz"


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise CheckpointError("this checkpoint holds torch tensors; install torch "
                              "(pip install 'popbt[torch]')") from exc
    return torch


def deserialize(data: bytes, fmt: str) -> dict[str, Any]:
    """The state `serialize` wrote, read without unpickling arbitrary objects; its tensors are
    on the CPU, whatever device they were saved from."""
    if fmt == "pt":
        return _torch().load(io.BytesIO(data), weights_only=True, map_location="cpu")
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    tree = json.loads(arrays.pop(_TREE).tobytes().decode())
    if _TENSORS in arrays:
        arrays.update(_torch().load(io.BytesIO(arrays.pop(_TENSORS).tobytes()),
                                    weights_only=True, map_location="cpu"))
    return _decode(tree, arrays)
