"""Immutable checkpoint files: written once under a temporary name, renamed, checksummed.

A state holding torch tensors is written with `torch.save` and read with
`torch.load(weights_only=True)`. Any other state is written in a safe format that never
unpickles: a NumPy `.npz` archive (read with `allow_pickle=False`) holding the arrays, plus
the structure as JSON. That format takes dicts, lists, tuples, str, int, float, bool, None,
bytes, NumPy arrays and NumPy scalars; anything else raises `ConfigError`. A missing or
corrupt file raises `CheckpointError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from popbt.errors import CheckpointError, ConfigError

_MARK = "__popbt__"
_TREE = "__tree__"


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

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
    if kind == "ndarray":
        return arrays[obj["key"]]
    if kind == "scalar":
        return arrays[obj["key"]][()]
    if kind == "bytes":
        return arrays[obj["key"]].tobytes()
    if kind == "tuple":
        return tuple(_decode(v, arrays) for v in obj["items"])
    return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["items"]}


def _holds_tensor(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    if isinstance(obj, torch.Tensor):
        return True
    if isinstance(obj, dict):
        return any(_holds_tensor(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return any(_holds_tensor(v) for v in obj)
    return False


def serialize(state: dict[str, Any]) -> tuple[bytes, str]:
    """The bytes of a state and its format: "pt" (torch) or "npz" (safe format)."""
    if not isinstance(state, dict):
        raise ConfigError(f"state_dict() must return a dict, got {type(state).__name__}")
    buf = io.BytesIO()
    if _holds_tensor(state):
        import torch

        torch.save(state, buf)
        return buf.getvalue(), "pt"
    enc = _Encoder()
    tree = enc.encode(state, "state")
    enc.arrays[_TREE] = np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8)
    np.savez(buf, **enc.arrays)
    return buf.getvalue(), "npz"


def deserialize(data: bytes, fmt: str) -> dict[str, Any]:
    """The state `serialize` wrote, read without unpickling arbitrary objects."""
    if fmt == "pt":
        try:
            import torch
        except ImportError as exc:
            raise CheckpointError("this checkpoint holds torch tensors; install torch "
                                  "(pip install 'popbt[torch]')") from exc
        return torch.load(io.BytesIO(data), weights_only=True)
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    tree = json.loads(arrays.pop(_TREE).tobytes().decode())
    return _decode(tree, arrays)


class CheckpointStore:
    """Checkpoint files under one root directory; paths handed out are relative to it.

    Example:
        >>> store = CheckpointStore("/tmp/ckpts")  # doctest: +SKIP
        >>> rel, sha, size = store.save("run/m00003", 400, {"w": np.zeros(3)})  # doctest: +SKIP
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def save(self, folder: str, step: int, state: dict[str, Any]) -> tuple[str, str, int]:
        """Write `state` as a new immutable file; return (relative path, sha256, size).

        The file is complete (written under a temporary name, flushed, renamed) before this
        returns, so a row may point at it.
        """
        data, fmt = serialize(state)
        rel = f"{folder}/s{step:010d}-{uuid.uuid4().hex[:12]}.{fmt}"
        final = self.root / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".tmp-{final.name}")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, final)
        return rel, hashlib.sha256(data).hexdigest(), len(data)

    def load(self, rel: str, checksum: str) -> dict[str, Any]:
        """Read a checkpoint, verifying its checksum.

        Raises:
            CheckpointError: the file is missing or its content does not match the checksum.
        """
        path = self.root / rel
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint file {str(path)!r} is missing") from None
        if hashlib.sha256(data).hexdigest() != checksum:
            raise CheckpointError(f"checkpoint file {str(path)!r} is corrupt (checksum "
                                  f"mismatch)")
        try:
            return deserialize(data, rel.rsplit(".", 1)[-1])
        except Exception as exc:  # noqa: BLE001 - whatever the format's reader refuses
            raise CheckpointError(f"checkpoint file {str(path)!r} cannot be read safely: "
                                  f"{exc}") from None

    def delete(self, rels: Iterable[str]) -> None:
        """Remove files no row points at any more; files already gone are ignored."""
        for rel in rels:
            (self.root / rel).unlink(missing_ok=True)
