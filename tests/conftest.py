"""Shared fixtures: a fresh SQLite file per test, a PostgreSQL server for the session (a fresh
database per test), and a helper to build small populations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import popbt
from pgserver import PostgresServer
from trainables import SPACE


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """A PostgreSQL server of the tests' own, started once; tests may stop and start it."""
    server = PostgresServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty PostgreSQL database (with a password in it)."""
    postgres_server.start_if_stopped()
    return postgres_server.new_database()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A storage URL of a new SQLite file in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'popbt.db'}"


@pytest.fixture
def make_pop(db_url: str) -> Callable[..., popbt.Population]:
    """create_population with small defaults; keyword arguments override them."""

    def make(**overrides: Any) -> popbt.Population:
        kwargs: dict[str, Any] = {
            "name": "test", "storage": db_url, "space": SPACE, "size": 6, "metric": "score",
            "seed": 0, "ready": popbt.Every(steps=5), "exploit": popbt.Truncation(0.25),
            "explore": popbt.Perturb(),
        }
        kwargs.update(overrides)
        return popbt.create_population(**kwargs)

    return make
