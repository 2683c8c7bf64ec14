"""A password in a storage URL never appears in the CLI's output, its errors, logs, or the
status a program reads back, on a real PostgreSQL server that asks for it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import popbt
from pgserver import PASSWORD, PostgresServer
from popbt.storage.sql import SQLStorage

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).parent.parent.parent


def _popbt(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "popbt", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})
    assert PASSWORD not in done.stdout + done.stderr
    return done


def test_cli_never_shows_the_password(pg_url: str, tmp_path: Path):
    run = _popbt("run", str(ROOT / "examples" / "toy.py"), "--storage", pg_url, "--checkpoints",
                 str(tmp_path / "ckpt"), "--steps", "8", "--population", "2", "--json")
    assert run.returncode == 0, run.stderr
    assert "popbt:***@" in json.loads(run.stdout)["storage"]
    for args in (["status"], ["status", "--json"], ["best"], ["best", "--json"],
                 ["schedule", "0"], ["schedule", "0", "--json"]):
        done = _popbt(*args, "--storage", pg_url)
        assert done.returncode == 0, (args, done.stderr)
    # the URL may come from the environment instead of the command line (and `ps`)
    done = _popbt("status", env={"POPBT_STORAGE": pg_url})
    assert done.returncode == 0 and "population toy in postgresql+psycopg://popbt:***@" in \
        done.stdout


def test_errors_never_show_the_password(pg_url: str, postgres_server: PostgresServer,
                                        tmp_path: Path):
    wrong = postgres_server.url("postgres", password=PASSWORD + "-wrong")
    cases = [
        (["status", "--storage", wrong], "password authentication failed"),
        (["status", "--storage", pg_url.rsplit("/", 1)[0] + "/nosuchdb"], "nosuchdb"),
        (["status", "--storage", pg_url, "--name", "nope"], "no popbt storage at "
         "postgresql+psycopg://popbt:***@"),  # a reader creates no tables
        (["run", str(ROOT / "examples" / "toy.py"), "--storage", pg_url, "--steps", "4"],
         "checkpoints"),
    ]
    for args, expected in cases:
        done = _popbt(*args)
        assert done.returncode == 2, (args, done.stdout)
        assert expected in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert (PASSWORD + "-wrong") not in done.stderr


def test_an_unreachable_database_is_retried_then_reported_without_the_password(
        pg_url: str, postgres_server: PostgresServer, caplog):
    store = SQLStorage(pg_url, retry_s=1.0)
    pop = popbt.create_population(name="s", storage=store, space=popbt.Space(
        {"lr": popbt.Uniform(0, 1)}), size=2, metric="score", ready=popbt.Every(steps=5),
        checkpoints="/tmp/unused")
    postgres_server.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="popbt.storage"), \
                pytest.raises(popbt.StorageError, match="stayed unreachable for 1 s") as info:
            pop.members  # noqa: B018 - the read is the test
    finally:
        postgres_server.start()
    assert PASSWORD not in str(info.value) and "popbt:***@" in str(info.value)
    assert caplog.records, "no retry was logged"
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)
    assert "retrying members" in caplog.records[0].getMessage()
    assert [m.step for m in pop.members] == [0, 0]  # the same object works once it is back
