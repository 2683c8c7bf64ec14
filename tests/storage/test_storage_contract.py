"""The storage contract, on every backend: `popbt.testing`'s shipped suite on SQLite and on
PostgreSQL (claims, leases, reports, decisions, failures, GC)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from popbt.storage import Storage
from popbt.storage.sql import SQLStorage
from popbt.testing import StorageContract


class TestSQLStorage(StorageContract):
    @pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
    def storage_factory(self, request: pytest.FixtureRequest,
                        tmp_path: Path) -> Callable[[], Storage]:
        if request.param == "postgres":
            url = request.getfixturevalue("pg_url")
        else:
            url = f"sqlite:///{tmp_path / 'contract.db'}"
        return lambda: SQLStorage(url)
