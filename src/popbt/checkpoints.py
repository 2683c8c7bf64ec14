"""Immutable checkpoint files: written once under a temporary name, renamed, checksummed.

A state holding torch tensors is written with `torch.save` and read with
`torch.load(weights_only=True)`. Any other state is written in a safe format that never
unpickles: a NumPy `.npz` archive (read with `allow_pickle=False`) holding the arrays, plus
the structure as JSON. That format takes dicts, lists, tuples, str, int, float, bool, None,
bytes, NumPy arrays and NumPy scalars; anything else raises `ConfigError`. A missing or
corrupt file raises `CheckpointError`.

The root is a local directory, or any fsspec URL ("s3://bucket/prefix", "gs://...",
"file:///abs/dir", "memory://x"; extra `remote`). Messages never show a URL's credentials.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
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


def _credentials(url: str) -> tuple[str, str] | None:
    """("userinfo@", the form to show) of a URL with a userinfo part, else None.

    The password becomes "***" ("KEY:***@"); a userinfo without a password (often a token) is
    hidden whole ("***@"). As in RFC 3986 (and fsspec), the userinfo is what precedes the last
    "@" before the first "/", "?" or "#" after the scheme.
    """
    _, sep, rest = url.partition("://")
    userinfo, at, _ = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")
    if not sep or not at:
        return None
    user, colon, _ = userinfo.partition(":")
    return f"{userinfo}@", f"{user}:***@" if colon else "***@"


def hide_credentials(text: str, url: str) -> str:
    """`text` (a message, or the URL itself) with every copy of `url`'s userinfo hidden."""
    found = _credentials(url)
    return text if found is None else text.replace(*found)


def redact_url(url: str) -> str:
    """`url` safe to show: "s3://KEY:SECRET@bucket/x" → "s3://KEY:***@bucket/x"."""
    return hide_credentials(url, url)


def _open_url(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, root path inside it) of an fsspec URL.

    Raises:
        ConfigError: fsspec is not installed, or the URL's protocol is unknown to it or needs
            a package that is not installed.
    """
    shown = redact_url(url)
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise ConfigError(f"checkpoints={shown!r} is a URL, which needs fsspec: "
                          f"pip install 'popbt[remote]'") from None
    protocol = url.partition("://")[0]
    try:
        return url_to_fs(url)
    except ImportError as exc:  # fsspec's message names the package ("Install s3fs ...")
        raise ConfigError(f"checkpoints={shown!r}: protocol {protocol!r} needs a package "
                          f"that is not installed: {hide_credentials(str(exc), url)}") from None
    except ValueError as exc:  # "Protocol not known: ..."
        raise ConfigError(f"checkpoints={shown!r}: fsspec cannot open protocol {protocol!r} "
                          f"({hide_credentials(str(exc), url)}); install the package that "
                          f"implements it (e.g. s3fs for s3://, gcsfs for gs://, adlfs for "
                          f"az://)") from None


class _LocalFiles:
    """Files under a local directory, published by `os.replace` (an atomic rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def show(self, rel: str) -> str:
        return str(self.root / rel)

    def write(self, rel: str, data: bytes) -> None:
        final = self.root / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".tmp-{final.name}")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, final)

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink(missing_ok=True)


class _RemoteFiles:
    """Objects under an fsspec URL, each written under a temporary name then moved.

    Why temporary name + `fs.mv` on every filesystem, rather than a direct write where the
    store publishes atomically: it needs no knowledge of the backend. On file systems (file://,
    sftp, ftp, hdfs) `mv` is a rename, atomic like `os.replace`; on object stores (S3, GCS,
    Azure) it is a server-side copy, and a copied object becomes visible only once complete;
    in memory:// it is one dict assignment. So the final name never holds a partial object,
    at the price of one server-side copy per checkpoint on object stores. A crash between the
    two steps can leave a `.tmp-` object that no row ever points at.

    A missing folder is created only when a write fails for lack of it (file systems); note
    that fsspec's object stores (s3fs, gcsfs) create a missing bucket then. Errors of the
    filesystem other than a missing file become `CheckpointError` with credentials hidden.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, base = _open_url(url)
        self.base = base.rstrip("/")

    def _path(self, rel: str) -> str:
        return f"{self.base}/{rel}"

    def show(self, rel: str) -> str:
        return f"{redact_url(self.url)}/{rel}"

    @contextlib.contextmanager
    def _failing(self, action: str, rel: str,
                 passed: tuple[type[Exception], ...] = ()) -> Iterator[None]:
        """Re-raise an error of the filesystem (but those in `passed`) as `CheckpointError`,
        without the original, whose message may quote the URL's credentials."""
        try:
            yield
        except passed:
            raise
        except Exception as exc:  # noqa: BLE001 - each fsspec backend raises its own errors
            raise CheckpointError(f"cannot {action} checkpoint file {self.show(rel)!r}: "
                                  f"{type(exc).__name__}: "
                                  f"{hide_credentials(str(exc), self.url)}") from None

    def write(self, rel: str, data: bytes) -> None:
        final = self._path(rel)
        folder, name = final.rsplit("/", 1)
        tmp = f"{folder}/.tmp-{name}"
        with self._failing("write", rel):
            try:
                self.fs.pipe_file(tmp, data)
            except FileNotFoundError:  # a file system (not an object store) lacking the folder
                self.fs.makedirs(folder, exist_ok=True)
                self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, final)

    def read(self, rel: str) -> bytes:
        """The object's bytes; FileNotFoundError if it is missing."""
        with self._failing("read", rel, passed=(FileNotFoundError,)):
            return self.fs.cat_file(self._path(rel))

    def remove(self, rel: str) -> None:
        with self._failing("delete", rel), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(rel))


class CheckpointStore:
    """Checkpoint files under one root, a local directory or an fsspec URL; paths handed out
    are relative to it.

    A root containing "://" is an fsspec URL (extra `remote`); anything else is a local
    directory. `root` is the directory as a `Path`, or the URL as given.

    Example:
        >>> store = CheckpointStore("/tmp/ckpts")  # or "s3://bucket/prefix"  # doctest: +SKIP
        >>> rel, sha, size = store.save("run/m00003", 400, {"w": np.zeros(3)})  # doctest: +SKIP

    Raises:
        ConfigError: the root is a URL that fsspec cannot open (fsspec or the protocol's
            package missing, or an unknown protocol).
    """

    def __init__(self, root: str | Path) -> None:
        text = str(root)
        self.root: Path | str
        self._files: _LocalFiles | _RemoteFiles
        if "://" in text:
            self.root, self._files = text, _RemoteFiles(text)
        else:
            self.root = Path(root)
            self._files = _LocalFiles(self.root)

    def save(self, folder: str, step: int, state: dict[str, Any]) -> tuple[str, str, int]:
        """Write `state` as a new immutable file; return (relative path, sha256, size).

        The file is complete (written under a temporary name, then renamed or moved) before
        this returns, so a row may point at it; nothing ever reads a partial file at its
        final name.
        """
        data, fmt = serialize(state)
        rel = f"{folder}/s{step:010d}-{uuid.uuid4().hex[:12]}.{fmt}"
        self._files.write(rel, data)
        return rel, hashlib.sha256(data).hexdigest(), len(data)

    def load(self, rel: str, checksum: str) -> dict[str, Any]:
        """Read a checkpoint, verifying its checksum.

        Raises:
            CheckpointError: the file is missing or its content does not match the checksum;
                the message names its full path or URL (credentials hidden).
        """
        shown = self._files.show(rel)
        try:
            data = self._files.read(rel)
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint file {shown!r} is missing") from None
        if hashlib.sha256(data).hexdigest() != checksum:
            raise CheckpointError(f"checkpoint file {shown!r} is corrupt (checksum mismatch)")
        try:
            return deserialize(data, rel.rsplit(".", 1)[-1])
        except Exception as exc:  # noqa: BLE001 - whatever the format's reader refuses
            raise CheckpointError(f"checkpoint file {shown!r} cannot be read safely: "
                                  f"{exc}") from None

    def delete(self, rels: Iterable[str]) -> None:
        """Remove files no row points at any more; files already gone are ignored."""
        for rel in rels:
            self._files.remove(rel)
