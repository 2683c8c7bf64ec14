"""A live, read-only dashboard of every population in a storage (standard library only).

Routes (GET only; anything else is refused by `http.server`):
- `/`: the page (the report's page without data; its script polls the two below);
- `/api/populations`: [{"name", "size", "metric", "mode", "target_steps", "error"}];
- `/api/population?name=NAME[&since=VERSION]`: {"name", "version", "data"} with the data of
  `popbt.report.data`, or {"name", "version", "unchanged": true} when VERSION is current.

Each population's data is extracted once per change and cached (with its gzip): a poll
reads the population's row and its members (two short queries), fingerprints them, and
extracts again only when the fingerprint changed. Every report, decision, failure and
claim changes a member's record, so the fingerprint changes whenever events or scores do.

It binds 127.0.0.1 by default and answers only requests addressed to a loopback name (a
web page elsewhere cannot read it through DNS rebinding); another interface, which exposes
every population in the storage without authentication, needs `allow_remote=True`. No page,
response or log line shows the storage's password.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from popbt.errors import ConfigError, PopbtError
from popbt.report.data import stored_data
from popbt.report.html import CSP, render_html
from popbt.storage import Storage, get_storage
from popbt.storage.base import PopulationRow

log = logging.getLogger("popbt.report")

_LOOPBACK_NAMES = ("localhost",)


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Cached:
    """One population's extracted data at one fingerprint, as response bodies."""

    def __init__(self, version: str, body: bytes) -> None:
        self.version = version
        self.body = body
        self._gzip: bytes | None = None

    def gzipped(self) -> bytes:
        if self._gzip is None:
            self._gzip = gzip.compress(self.body, compresslevel=1)
        return self._gzip


class Dashboard(ThreadingHTTPServer):
    """The dashboard's HTTP server, bound on construction; `serve_forever()` answers.

    `port=0` picks a free port (see `url`). `poll_s`: how often the page polls.

    Examples:
        >>> board = Dashboard("sqlite:///popbt.db", port=0)
        >>> board.url
        'http://127.0.0.1:.../'
        >>> [p["name"] for p in board.populations()]
        ['toy']
        >>> board.server_close()

    Raises:
        ConfigError: `host` is not a loopback address and `allow_remote` is False, or a bad
            `port`/`poll_s`.
        StorageError: the storage cannot be opened.
        OSError: the address cannot be bound (in use, say).
    """

    daemon_threads = True

    def __init__(self, storage: str | Storage, *, host: str = "127.0.0.1", port: int = 8765,
                 allow_remote: bool = False, poll_s: float = 2.0) -> None:
        if not allow_remote and not _is_loopback(host):
            raise ConfigError(
                f"host {host!r} is not a loopback address: the dashboard would show every "
                f"population in the storage, without authentication, to other machines; "
                f"pass allow_remote=True (popbt dashboard --allow-remote) to allow that")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"port={port!r}: must be an integer in 0..65535")
        if isinstance(poll_s, bool) or not isinstance(poll_s, int | float) or poll_s <= 0:
            raise ConfigError(f"poll_s={poll_s!r}: must be a number of seconds > 0")
        self.storage = get_storage(storage, create=False)  # a reader creates nothing
        self.allow_remote = allow_remote
        self.page = render_html(None, live={"poll_ms": int(poll_s * 1000)}).encode()
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        if ":" in host.strip("[]"):
            self.address_family = socket.AF_INET6
        try:
            super().__init__((host.strip("[]"), port), _Handler)
        except OSError:
            self.storage.close()
            raise

    @property
    def url(self) -> str:
        """The page's address, with the port actually bound."""
        host, port = str(self.server_address[0]), int(self.server_address[1])
        return f"http://[{host}]:{port}/" if ":" in str(host) else f"http://{host}:{port}/"

    def populations(self) -> list[dict[str, Any]]:
        """The populations in the storage, oldest first."""
        return [{"name": p.name, "size": p.settings.size, "metric": p.settings.metric,
                 "mode": p.settings.mode, "target_steps": p.target_steps, "error": p.error}
                for p in self.storage.list_populations()]

    def population(self, name: str, since: str | None = None) -> bytes | _Cached | None:
        """The response body for a population: a short "unchanged" body when `since` is its
        current version, else its cached data (extracted again if it changed); None when
        no population has that name. While one request extracts a population again, others
        get its previous data at once rather than wait."""
        row = self.storage.get_population(name)
        if row is None:
            return None
        with self._locks_lock:
            lock = self._locks.setdefault(name, threading.Lock())
        cached = self._cache.get(name)
        if cached is not None and not lock.acquire(blocking=False):
            # another request is extracting it again: answer at once with what there is
            return self._answer(name, cached, since)
        if cached is None:
            lock.acquire()
        try:
            return self._refresh(name, row, since)
        finally:
            lock.release()

    @staticmethod
    def _answer(name: str, cached: _Cached, since: str | None) -> bytes | _Cached:
        if since == cached.version:
            return json.dumps({"name": name, "version": since, "unchanged": True}).encode()
        return cached

    def _refresh(self, name: str, row: PopulationRow, since: str | None) -> bytes | _Cached:
        """The population's answer, extracted again when its members changed (the caller
        holds the population's lock)."""
        members = self.storage.members(row)
        digest = hashlib.blake2b(repr((row.id, row.target_steps, row.error, members))
                                 .encode(), digest_size=10)
        version = digest.hexdigest()
        cached = self._cache.get(name)
        if cached is None or cached.version != version:
            data = stored_data(self.storage, row, members=members)
            body = json.dumps({"name": name, "version": version, "data": data},
                              allow_nan=False, separators=(",", ":")).encode()
            cached = self._cache[name] = _Cached(version, body)
        return self._answer(name, cached, since)

    def server_close(self) -> None:
        """Stop listening and release the storage's pooled connections."""
        super().server_close()
        self.storage.close()


class _Handler(BaseHTTPRequestHandler):
    server: Dashboard
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, raw: bytes, ctype: str, *, gz: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if not self.server.allow_remote and not _is_loopback(host):
            self._json(403, {"error": f"host {host!r} refused: the dashboard answers only "
                                      f"loopback names unless started with --allow-remote"})
            return
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            if url.path in ("/", "/index.html"):
                self._send(200, self.server.page, "text/html; charset=utf-8")
            elif url.path == "/api/populations":
                self._json(200, self.server.populations())
            elif url.path == "/api/population" and query.get("name"):
                name = query["name"][0]
                since = query.get("since")
                body = self.server.population(name, since[0] if since else None)
                if body is None:
                    self._json(404, {"error": f"no population {name!r} in "
                                              f"{self.server.storage.safe_url}"})
                elif isinstance(body, _Cached) and "gzip" in self.headers.get("Accept-Encoding",
                                                                               ""):
                    self._send(200, body.gzipped(), "application/json", gz=True)
                else:
                    self._send(200, body.body if isinstance(body, _Cached) else body,
                               "application/json")
            else:
                self._json(404, {"error": f"no such page {url.path!r}"})
        except PopbtError as exc:
            self._json(503, {"error": self.server.storage.redact(str(exc))})

    do_HEAD = do_GET


def serve(storage_url: str, host: str = "127.0.0.1", port: int = 8765, *,
          allow_remote: bool = False, poll_s: float = 2.0) -> None:
    """Serve the dashboard of every population in `storage_url` until interrupted
    (KeyboardInterrupt is raised to the caller after the server is closed).

    Raises:
        ConfigError: a non-loopback `host` without `allow_remote=True`; see `Dashboard`.
    """
    board = Dashboard(storage_url, host=host, port=port, allow_remote=allow_remote,
                      poll_s=poll_s)
    try:
        board.serve_forever()
    finally:
        board.server_close()
