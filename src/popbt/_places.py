"""Where a population lives: its name, checked before anything is created, and the checkpoint
root recorded for it (a folder or an fsspec URL, never one carrying credentials)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from popbt.errors import ConfigError
from popbt.storage import Storage


def checkpoint_root(store: Storage, checkpoints: str | Path | None) -> str:
    """The checkpoint root to record: an fsspec URL (a string with "://") as given, less a
    trailing "/", after checking that it can be opened; a directory made absolute; by default
    a folder beside the SQLite file.

    A URL carrying credentials (a password in its userinfo, or a secret query parameter
    such as `?secret=` or `?token=`) is refused before anything is opened or stored: the root
    is written to the database in clear, and shown by every status and report.

    Raises:
        ConfigError: the URL carries credentials (shown hidden), or cannot be opened (see
            `CheckpointStore`), or there is no default because the storage is not a SQLite
            file.
    """
    from popbt import _secrets
    from popbt.checkpoints import CheckpointStore

    if isinstance(checkpoints, str) and "://" in checkpoints:
        if _secrets.has_secrets(checkpoints):
            raise ConfigError(
                f"checkpoints={_secrets.redact_url(checkpoints, hide_user=True)!r} carries "
                f"credentials, which would be stored in the database in clear; remove them "
                f"from the URL and give them as the filesystem's package reads them: for "
                f"s3:// the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or "
                f"~/.aws/credentials (s3fs), for gs:// GOOGLE_APPLICATION_CREDENTIALS (gcsfs), "
                f"for az:// AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_CONNECTION_STRING "
                f"(adlfs), for others fsspec's configuration (~/.config/fsspec/*.json or "
                f"FSSPEC_<PROTOCOL>_<OPTION> variables), on every machine that runs workers")
        scheme, _, rest = checkpoints.partition("://")
        url = f"{scheme}://{rest.rstrip('/') or rest[:1]}"  # "file:///" keeps its root
        CheckpointStore(url)
        return url
    if checkpoints is not None:
        return str(Path(checkpoints).resolve())
    if store.sqlite_path is None:
        raise ConfigError(f"storage {store.safe_url!r} is not a SQLite file; pass "
                          f"checkpoints= a directory or fsspec URL that every worker can reach")
    db = Path(store.sqlite_path).resolve()
    return str(db.with_name(f"{db.stem}_checkpoints"))


def check_name(name: Any) -> str:
    """`name`, if it can name a population: 1 to 200 characters (the storage's column), at
    most 255 bytes in UTF-8 (it names the checkpoint folder), not blank, `.` or `..`, without
    `/`, `\\`, NUL or other characters a terminal acts on (see `popbt._text`).

    Raises:
        ConfigError: naming the value (shortened) and the rule.
    """
    from popbt._text import shorten, unsafe

    rule = ("a population name is 1 to 200 characters, at most 255 bytes in UTF-8 (it names "
            "the checkpoint folder), not blank, '.' or '..', without '/', '\\' or control "
            "characters")
    if not isinstance(name, str):
        raise ConfigError(f"name={name!r}: {rule}")
    bad = unsafe(name)
    size = len(name.encode("utf-8", "surrogatepass"))
    problem = None
    if any("\ud800" <= c <= "\udfff" for c in bad):
        problem = "is not UTF-8 text (a command-line argument in another encoding?)"
    elif bad:
        problem = f"holds {''.join(bad)!r}"
    elif "/" in name or "\\" in name:
        problem = f"holds {'/' if '/' in name else chr(92)!r}"
    elif not name.strip() or name in (".", ".."):
        problem = "is blank" if not name.strip() else f"is {name!r}"
    elif len(name) > 200 or size > 255:
        problem = f"is too long ({len(name)} characters, {size} bytes in UTF-8)"
    if problem is not None:
        raise ConfigError(f"name={shorten(name)!r} {problem}: {rule}")
    return name
