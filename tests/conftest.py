"""Shared fixtures: a fresh SQLite file per test, a PostgreSQL server for the session (a fresh
database per test), and a helper to build small populations."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
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


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bucket on a moto S3 server on 127.0.0.1, reached by s3fs through AWS_* variables."""
    import s3fs
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {"AWS_ENDPOINT_URL": f"http://{host}:{port}",
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    bucket = f"popbt-{uuid.uuid4().hex[:8]}"
    fs.mkdir(bucket)
    try:
        yield bucket
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()
