"""A private PostgreSQL server for the tests: its own data folder, on a free loopback port.

Uses the server binaries of Debian's `postgresql` package (installed by
`tests/system-deps.sh`). As root, the server runs as the `postgres` system user (PostgreSQL
refuses to run as root). Clients log in with a password, so the tests see real credentials in
their URLs.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

USER = "popbt"
PASSWORD = "pw-Zq81-secret"  # noqa: S105 - a throwaway password the secrecy tests look for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL's server binaries are missing: run "
                           "`bash tests/system-deps.sh` (it installs Debian's postgresql)")
    return Path(found[-1]).parent


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder, started and stopped by the tests.

    Example:
        >>> server = PostgresServer()  # doctest: +SKIP
        >>> server.start(); url = server.new_database()  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="popbt-pg-"))
        self.data = self.root / "data"
        self._databases = 0
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD)
        if self._as:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
                  "--auth=scram-sha-256", "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, str(self.bindir / tool), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.root)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   f"-c fsync=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.root / "log"), "-w", "start")

    def running(self) -> bool:
        """Whether the server is up."""
        return subprocess.run([*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.data),
                               "status"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, check=False).returncode == 0

    def start_if_stopped(self) -> None:
        """Start the server unless it runs (a test that stopped it may have failed)."""
        if not self.running():
            self.start()

    def stop(self) -> None:
        """Stop the server at once, ending every open session (`pg_ctl stop -m fast`)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str, *, password: str = PASSWORD) -> str:
        """A SQLAlchemy URL of `database` on this server."""
        return f"postgresql+psycopg://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database; its URL."""
        self._databases += 1
        name = f"t{self._databases}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def close(self) -> None:
        """Stop the server if it runs and remove its folder."""
        subprocess.run([*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
