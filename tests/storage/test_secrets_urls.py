"""Secrets anywhere in a URL stay hidden: a PostgreSQL password given as a query parameter
(`?password=`, `?sslpassword=`) in every output of the CLI, the HTML report and the live
dashboard, on a real server; and a checkpoints URL that carries credentials is refused before
anything reaches the database."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import popbt
from pgserver import PASSWORD, PostgresServer
from popbt import _secrets
from popbt.storage.sql import SQLStorage, safe_url

ROOT = Path(__file__).parent.parent.parent
TOY = str(ROOT / "examples" / "toy.py")
SSL_SECRET = "sslpw-Kq77-secret"  # noqa: S105 - a throwaway secret the tests look for
CKPT_SECRET = "ck-Vb42-secret"  # noqa: S105


def _query_url(pg_url: str, password: str = PASSWORD) -> str:
    """The same database with the password as a query parameter, not in the userinfo."""
    return (pg_url.replace(f":{PASSWORD}@", "@")
            + f"?password={password}&sslpassword={SSL_SECRET}&application_name=popbt-test")


def _shown(text: str) -> None:
    assert PASSWORD not in text and SSL_SECRET not in text, text


def _popbt(*args: str, cwd: Path | None = None, timeout: float = 180,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "popbt", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env={**os.environ, **(env or {})})
    _shown(done.stdout + done.stderr)
    return done


def test_storage_urls_are_shown_without_any_secret():
    cases = {
        "postgresql+psycopg://app@db:5432/run?password=hunter2&sslmode=require":
            "postgresql+psycopg://app@db:5432/run?password=***&sslmode=require",
        "postgresql://app:hunter2@db/run?sslpassword=k3y&sslkey=/k.pem":
            "postgresql://app:***@db/run?sslkey=***&sslpassword=***",  # SQLAlchemy sorts
        "postgresql://app:p%40ss@db/run?api_token=t0k&Secret=s3c":
            "postgresql://app:***@db/run?Secret=***&api_token=***",
        "sqlite:////tmp/popbt.db": "sqlite:////tmp/popbt.db",
    }
    for url, shown in cases.items():
        assert safe_url(url) == shown
    assert safe_url("no url at all") == "<unparseable storage URL>"
    # free text quoting a secret in any spelling (as written, or decoded) loses it
    url = "postgresql://app:p%40ss@db/run?password=a%26b"
    for secret in ("p%40ss", "p@ss", "a%26b", "a&b"):
        assert secret not in _secrets.redact(f"driver said: {secret}!", url)
    assert _secrets.has_secrets("s3://b/x?X-Amz-Security-Token=abc")
    assert not _secrets.has_secrets("abfs://container@account.dfs.core.windows.net/x")


@pytest.mark.postgres
def test_a_query_parameter_password_is_never_shown(pg_url: str, tmp_path: Path):
    url = _query_url(pg_url)
    run = _popbt("run", TOY, "--storage", url, "--checkpoints", str(tmp_path / "ckpt"),
                 "--steps", "8", "--population", "2", "--json")
    assert run.returncode == 0, run.stderr
    assert "password=***" in json.loads(run.stdout)["storage"]
    again = _popbt("run", TOY, "--storage", url, "--checkpoints", str(tmp_path / "ckpt"),
                   "--steps", "12", "--population", "2")
    assert again.returncode == 0 and again.stdout.startswith("best: member"), again.stderr
    for args in (["status"], ["status", "--json"], ["best"], ["best", "--json"],
                 ["schedule", "0"], ["gc", "--dry-run"]):
        done = _popbt(*args, "--storage", url)
        assert done.returncode == 0, (args, done.stderr)
    status = _popbt("status", env={"POPBT_STORAGE": url})
    assert "population toy in postgresql+psycopg://popbt@127.0.0.1:" in status.stdout
    assert "?application_name=popbt-test&password=***&sslpassword=***" in status.stdout

    report = tmp_path / "report.html"
    done = _popbt("report", "--storage", url, "-o", str(report))
    assert done.returncode == 0, done.stderr
    page = report.read_text()
    _shown(page)
    assert "password=***" in page


@pytest.mark.postgres
def test_the_dashboard_never_shows_a_query_parameter_password(pg_url: str, tmp_path: Path):
    url = _query_url(pg_url)
    popbt.create_population(name="dash", storage=url, space=popbt.Space(
        {"lr": popbt.Uniform(0, 1)}), size=2, metric="score", ready=popbt.Every(steps=5),
        checkpoints=str(tmp_path / "ckpt"))
    proc = subprocess.Popen([sys.executable, "-m", "popbt", "dashboard", "--storage", url,
                             "--port", "0"], stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        _shown(first)
        assert "password=***" in first, first
        base = first.split(" at ", 1)[1].split(" ", 1)[0]
        bodies = []
        for path in ("", "api/populations", "api/population?name=dash"):
            with urllib.request.urlopen(base + path, timeout=30) as response:
                bodies.append(response.read().decode())
    finally:
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=30)[1]
    for body in [*bodies, rest]:
        _shown(body)
    assert json.loads(bodies[2])["data"]["storage"].endswith(
        "?application_name=popbt-test&password=***&sslpassword=***")


@pytest.mark.postgres
def test_errors_and_retry_logs_never_show_a_query_parameter_password(
        pg_url: str, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture):
    wrong = _query_url(pg_url, password="wrong-Zx9-secret")
    done = _popbt("status", "--storage", wrong)
    assert done.returncode == 2 and "password authentication failed" in done.stderr
    assert "wrong-Zx9-secret" not in done.stderr and "Traceback" not in done.stderr

    store = SQLStorage(_query_url(pg_url), retry_s=1.0)
    pop = popbt.create_population(name="s", storage=store, space=popbt.Space(
        {"lr": popbt.Uniform(0, 1)}), size=2, metric="score", ready=popbt.Every(steps=5),
        checkpoints="/tmp/unused")
    postgres_server.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="popbt.storage"), \
                pytest.raises(popbt.StorageError, match="stayed unreachable") as info:
            pop.members  # noqa: B018 - the read is the test
    finally:
        postgres_server.start()
    _shown(str(info.value))
    assert caplog.records and "password=***" in caplog.records[0].getMessage()
    for record in caplog.records:
        _shown(record.getMessage())


# ---------------------------------------------------------------------------------------------
# credentials in a checkpoints URL


@pytest.mark.parametrize(("checkpoints", "shown"), [
    (f"s3://AKIAEXAMPLE:{CKPT_SECRET}@bucket/runs", "s3://AKIAEXAMPLE:***@bucket/runs"),
    (f"memory://bucket/runs?secret={CKPT_SECRET}", "memory://bucket/runs?secret=***"),
    (f"gs://bucket/runs?token={CKPT_SECRET}&x=1", "gs://bucket/runs?token=***&x=1"),
])
def test_a_checkpoints_url_with_credentials_is_refused_and_never_stored(
        tmp_path: Path, checkpoints: str, shown: str):
    db = tmp_path / "popbt.db"
    done = subprocess.run([sys.executable, "-m", "popbt", "run", TOY, "--storage",
                           f"sqlite:///{db}", "--checkpoints", checkpoints, "--steps", "4"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert CKPT_SECRET not in done.stdout + done.stderr
    assert shown in done.stderr and "carries credentials" in done.stderr
    assert "AWS_SECRET_ACCESS_KEY" in done.stderr and "Traceback" not in done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM popbt_populations").fetchone() == (0,)
    for path in tmp_path.iterdir():
        if path.is_file():
            assert CKPT_SECRET.encode() not in path.read_bytes(), path


def test_the_python_api_refuses_credentials_in_checkpoints(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with pytest.raises(popbt.ConfigError, match="carries credentials") as info:
        popbt.create_population(name="p", storage=url, space=popbt.Space(
            {"lr": popbt.Uniform(0, 1)}), size=2, metric="score",
            ready=popbt.Every(steps=5), checkpoints=f"memory://admin:{CKPT_SECRET}@x/y")
    assert CKPT_SECRET not in str(info.value) and "memory://admin:***@x/y" in str(info.value)
    with pytest.raises(popbt.ConfigError, match="no population 'p'"):
        popbt.load_population(name="p", storage=url)
