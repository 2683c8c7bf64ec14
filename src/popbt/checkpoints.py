"""Immutable checkpoint files: written once under a temporary name, renamed, checksummed.

A state of torch tensors and plain Python values (dicts, lists, tuples, str, int, float,
bool, None) is written with `torch.save` and read with `torch.load(weights_only=True)`, onto
the CPU wherever it was written (a checkpoint saved on a GPU loads without one). Any
other state is written in a safe format that never unpickles: a NumPy `.npz` archive (read
with `allow_pickle=False`) holding the arrays, plus the structure as JSON, plus (when the
state holds tensors beside NumPy values) one `torch.save` blob of its tensors alone. That
format takes dicts, lists, tuples, str, int, float, bool, None, bytes, NumPy arrays, NumPy
scalars and torch tensors; anything else raises `ConfigError` when the checkpoint is saved,
so no checkpoint is ever written that cannot be read back (`popbt._serialize`). A state of
plain values alone (records, see `popbt.datastate`) is JSON in the archive, at most
`popbt.datastate.data_limit()` bytes of it (32 MiB by default): a larger one raises
`ConfigError` when it is saved. A missing or corrupt file raises `CheckpointError`.

The root is a local directory, or any fsspec URL ("s3://bucket/prefix", "gs://...",
"file:///abs/dir", "memory://x"; extra `remote`). Messages never show a URL's credentials.

Every path is confined to the root: a relative path that is absolute, has an empty, "." or
".." component, a backslash or a NUL, or (local folders, file://) leads outside the root
through a symlink, is never written, read or deleted (see `unsafe_path`): `load` raises
`CheckpointError` naming it, `delete` skips it with a warning on the "popbt.checkpoints"
logger. A checkpoint is written as `<folder>/s<step>-<12 hex>.<npz|pt>` under a temporary
name `.tmp-<that name>` in the same folder first (`CHECKPOINT_NAME` matches both).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import stat
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from popbt import _secrets
from popbt._serialize import deserialize, serialize
from popbt.errors import CheckpointError, ConfigError

logger = logging.getLogger("popbt.checkpoints")
CHECKPOINT_NAME = re.compile(r"(?P<tmp>\.tmp-)?s\d{10,}-[0-9a-f]{12}\.(npz|pt)")


class StoredFile(NamedTuple):
    """A file under a checkpoint root: its path relative to the root, size in bytes, and
    modification time (seconds since the epoch; None where the filesystem does not say)."""

    rel: str
    size: int
    mtime: float | None


def unsafe_path(rel: Any) -> str | None:
    """Why `rel` is not a plain relative path under a checkpoint root (None when it is): it
    must be a non-empty string of "/"-separated names, none empty, "." or "..", without a
    backslash or NUL, and not absolute."""
    if not isinstance(rel, str) or not rel:
        return "is empty or not a string"
    if "\x00" in rel or "\\" in rel:
        return "holds a NUL or a backslash"
    if rel.startswith("/"):
        return "is absolute"
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "has an empty, '.' or '..' component"
    return None


def _mtime(info: dict[str, Any]) -> float | None:
    """The modification time in an fsspec `info` dict, whatever the backend calls it."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "created",
                "timeCreated"):
        value = info.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


def hide_credentials(text: str, url: str) -> str:
    """`text` (a message, or the URL itself) with every secret of `url` hidden: its
    userinfo's password, a userinfo without one (often a token), secret query parameters
    (see `popbt._secrets`)."""
    return _secrets.redact(text, url, hide_user=True)


def redact_url(url: str) -> str:
    """`url` safe to show: "s3://KEY:SECRET@bucket/x" → "s3://KEY:***@bucket/x",
    "https://TOKEN@host/x" → "https://***@host/x", "...?token=T" → "...?token=***"."""
    return _secrets.redact_url(url, hide_user=True)


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
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, final)
        except BaseException:  # a full disk, say: leave no partial file (a kill still may)
            tmp.unlink(missing_ok=True)
            raise

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink(missing_ok=True)

    def escapes(self, rel: str) -> bool:
        """Whether `rel`, symlinks followed, leads outside the root."""
        root = self.root.resolve()
        return not (root / rel).resolve().is_relative_to(root)

    def listing(self, folder: str) -> Iterator[StoredFile]:
        """The regular files under `folder` (symlinks neither followed nor listed)."""
        for where, _, names in os.walk(self.root / folder):
            for name in names:
                path = Path(where) / name
                try:
                    st = path.lstat()
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    yield StoredFile(path.relative_to(self.root).as_posix(), st.st_size,
                                     st.st_mtime)


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

    def escapes(self, rel: str) -> bool:
        """Whether `rel` leads outside the root through a symlink (file:// only; object
        stores have no links)."""
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (
            self.fs.protocol,)
        if "file" not in protocols:
            return False
        root = os.path.realpath(self.base or "/")
        return os.path.commonpath([root, os.path.realpath(self._path(rel))]) != root

    def listing(self, folder: str) -> Iterator[StoredFile]:
        """The files under `folder` (links neither followed nor listed); none if it is
        missing."""
        with self._failing("list", folder):
            found = self.fs.find(self._path(folder), detail=True)
        prefix = f"{self.base}/"
        for path, info in sorted(found.items()):
            if info.get("type") == "file" and not info.get("islink") and \
                    path.startswith(prefix):
                yield StoredFile(path[len(prefix):], int(info.get("size") or 0), _mtime(info))


class CheckpointStore:
    """Checkpoint files under one root, a local directory or an fsspec URL; paths handed out
    are relative to it.

    A root containing "://" is an fsspec URL (extra `remote`); anything else is a local
    directory. `root` is the directory as a `Path`, or the URL as given.

    Examples:
        >>> import numpy as np
        >>> store = CheckpointStore("ckpts")  # or "s3://bucket/prefix"
        >>> rel, sha, size = store.save("run/m00003", 400, {"w": np.zeros(3)})
        >>> rel
        'run/m00003/s0000000400-....npz'
        >>> store.load(rel, sha)["w"]
        array([0., 0., 0.])

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
        why = self._unsafe(rel)
        if why is not None:
            raise ConfigError(f"checkpoint folder {folder!r} {why}; checkpoints are written "
                              f"only inside the root {self.shown_root()}")
        self._files.write(rel, data)
        return rel, hashlib.sha256(data).hexdigest(), len(data)

    def load(self, rel: str, checksum: str) -> dict[str, Any]:
        """Read a checkpoint, verifying its checksum.

        Raises:
            CheckpointError: the file is missing or its content does not match the checksum;
                the message names its full path or URL (credentials hidden). Or `rel` is
                not a path inside the root (see `unsafe_path`): nothing is read.
        """
        why = self._unsafe(rel)
        if why is not None:
            raise CheckpointError(f"checkpoint path {rel!r} recorded in the database {why}; "
                                  f"refusing to read outside the checkpoint root "
                                  f"{self.shown_root()}")
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
        """Remove files no row points at any more; files already gone are ignored. A path
        that is not inside the root (see `unsafe_path`) is skipped, with a warning on the
        "popbt.checkpoints" logger: nothing outside the root is ever removed."""
        for rel in rels:
            why = self._unsafe(rel)
            if why is not None:
                logger.warning("not deleting checkpoint path %r: it %s, outside the root %s",
                               rel, why, self.shown_root())
                continue
            self._files.remove(rel)

    def files(self, folder: str) -> list[StoredFile]:
        """Every file under `folder` (a relative path, such as a population's name), sorted
        by path; empty if the folder does not exist. Symlinks are not listed.

        Raises:
            ConfigError: `folder` is not a path inside the root (see `unsafe_path`).
            CheckpointError: the filesystem of a URL root failed (credentials hidden).
        """
        why = self._unsafe(folder)
        if why is not None:
            raise ConfigError(f"checkpoint folder {folder!r} {why}")
        return sorted(self._files.listing(folder))

    def _unsafe(self, rel: Any) -> str | None:
        why = unsafe_path(rel)
        if why is None and self._files.escapes(rel):
            why = "leads outside the root through a symlink"
        return why

    def shown_root(self) -> str:
        """The root, as messages show it (credentials hidden)."""
        return redact_url(self.root) if isinstance(self.root, str) else str(self.root)
