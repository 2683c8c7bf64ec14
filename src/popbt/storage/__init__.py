"""Persistence: the storage contract (`Storage`), its data (`base`), its SQL implementation
(`sql`, imported on first use), and `get_storage`, which opens one."""

from __future__ import annotations

from popbt.errors import ConfigError
from popbt.storage.contract import Storage

__all__ = ["Storage", "get_storage"]


def get_storage(storage: str | Storage, *, create: bool = True) -> Storage:
    """The storage `storage` names: a `Storage` object as it is, a URL opened as `SQLStorage`.

    With `create=False` nothing is created (no file, no table): for readers, and anything that
    joins an existing population.

    Examples:
        >>> storage = get_storage("sqlite:///popbt.db", create=False)
        >>> get_storage(storage) is storage
        True
        >>> storage.close()

    Raises:
        ConfigError: `storage` is neither a URL string nor a `Storage`.
        StorageError: the URL cannot be parsed or opened; with `create=False`, it holds no
            popbt storage (see `SQLStorage`).
    """
    if isinstance(storage, Storage):
        return storage
    if not isinstance(storage, str):
        raise ConfigError(f"storage={storage!r}: expected a URL such as 'sqlite:///popbt.db' "
                          f"or 'postgresql+psycopg://user@host:5432/db', or a "
                          f"popbt.storage.Storage object")
    from popbt.storage.sql import SQLStorage

    return SQLStorage(storage, create=create)

