"""Secrets in URLs (storage and checkpoint URLs alike): finding them, and hiding them.

Contract:
- A URL's secrets are the password of its userinfo ("scheme://user:PASSWORD@host/..."), and
  the value of every query parameter whose name looks secret (`secret_name`: password,
  sslpassword, passphrase, token, secret, any name holding "key", ...). Each counts both as
  written (percent-encoded) and decoded. With `hide_user=True` (checkpoint URLs, whose
  userinfo without a password is often a token) a userinfo without a password is a secret
  too.
- `redact_url` shows a URL with each secret replaced by "***"; `redact(text, url)` replaces
  every occurrence of a URL's secrets in any text (a driver's message that quotes them, a
  log line, a URL written another way).
- The userinfo is what precedes the last "@" before the first "/", "?" or "#" after the
  scheme (RFC 3986, as fsspec reads it); the part before the first "@" counts as well (as
  SQLAlchemy reads an unencoded "@" in a password), so either reading is hidden.
- `redact_run(text, storage=..., checkpoints=...)` hides the secrets of a run's two URLs at
  once (a checkpoint URL's userinfo counts as a secret even without a password). This
  module is the only place that finds or hides secrets: the storage, the checkpoint store
  and the command line call it.
- Pure string work, no parser: it also serves a URL that no library can parse. Only
  `safe_url` and `password_of`, for storage URLs, also read the URL as SQLAlchemy (and so the
  database driver) reads it, so that what the driver sees as the password is hidden too.

Examples:
    >>> redact_url("postgresql://app@db/run?sslmode=require&password=hunter2")
    'postgresql://app@db/run?sslmode=require&password=***'
    >>> redact("login as app:hunter2 failed", "postgresql://app:hunter2@db/run")
    'login as app:*** failed'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, unquote_plus

HIDDEN = "***"
_WORDS = ("password", "passwd", "passphrase", "pwd", "secret", "token", "key", "credential",
          "auth", "signature", "cookie", "session")
_NAMES = frozenset({"pass", "pw", "sig", "sas", "sastoken"})


def secret_name(name: str) -> bool:
    """Whether a query parameter named `name` holds a secret ("password", "sslpassword",
    "api_key", "X-Amz-Security-Token", "sig", ...)."""
    plain = re.sub(r"[^a-z0-9]", "", unquote_plus(name).lower())
    return plain in _NAMES or any(word in plain for word in _WORDS)


def _split(url: str) -> tuple[str, str, str, str] | None:
    """(scheme + "://", authority, path, "?query#fragment" or "") of a URL; None without
    "://"."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    tail = rest[len(authority):]
    cut = min((i for i in (tail.find("?"), tail.find("#")) if i >= 0), default=len(tail))
    return scheme + sep, authority, tail[:cut], tail[cut:]


def _variants(value: str) -> set[str]:
    return {v for v in (value, unquote(value), unquote_plus(value)) if v}


def secrets_of(url: str, *, hide_user: bool = False) -> frozenset[str]:
    """Every secret string in `url` (see the module contract); empty for a plain path."""
    parts = _split(url)
    if parts is None:
        return frozenset()
    _, authority, _, tail = parts
    found: set[str] = set()
    for userinfo in {authority.rpartition("@")[0], authority.partition("@")[0]}:
        if "@" not in authority or not userinfo:
            continue
        _, colon, password = userinfo.partition(":")
        found |= _variants(password) if colon else _variants(userinfo) if hide_user else set()
    query = tail.partition("#")[0].removeprefix("?")
    for pair in query.split("&") if query else ():
        name, eq, value = pair.partition("=")
        if eq and secret_name(name):
            found |= _variants(value)
    return frozenset(found)


def hide(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret (longest first) replaced by "***"."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret and secret != HIDDEN:
            text = text.replace(secret, HIDDEN)
    return text


def redact(text: str, url: str | None, *, hide_user: bool = False) -> str:
    """`text` without any of the secrets of `url` (None: `text` unchanged)."""
    return text if not url else hide(text, secrets_of(url, hide_user=hide_user))


def redact_run(text: str, *, storage: str | None = None, checkpoints: str | None = None,
               also: Iterable[str] = ()) -> str:
    """`text` without the secrets of a `storage` URL, nor the credentials of a `checkpoints`
    URL (its userinfo too, as with `hide_user=True`), nor any string in `also` (a password
    as the database driver reads the URL, say); None for either URL: nothing of it to hide.

    Examples:
        >>> redact_run("s3://tok@b/x and pw", storage="postgresql://u:pw@h/d",
        ...            checkpoints="s3://tok@b/x")
        's3://***@b/x and ***'
    """
    secrets = set(secrets_of(checkpoints or "", hide_user=True))
    secrets |= secrets_of(storage or "") | set(also)
    return hide(text, secrets)


def redact_url(url: str, *, hide_user: bool = False) -> str:
    """`url` safe to show: its userinfo's password, and the values of its secret query
    parameters, become "***" ("s3://KEY:SECRET@b/x" → "s3://KEY:***@b/x"; with
    `hide_user`, "https://TOKEN@h/x" → "https://***@h/x"). Anything else is kept as written.
    """
    parts = _split(url)
    if parts is None:
        return url
    scheme, authority, path, tail = parts
    userinfo, at, host = authority.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        if colon:
            authority = f"{user.partition('@')[0]}:{HIDDEN}@{host}"
        elif hide_user:
            authority = f"{HIDDEN}@{host}"
    query, hash_, fragment = tail.removeprefix("?").partition("#")
    if tail.startswith("?"):
        pairs = []
        for pair in query.split("&"):
            name, eq, _ = pair.partition("=")
            pairs.append(f"{name}={HIDDEN}" if eq and secret_name(name) else pair)
        tail = "?" + "&".join(pairs) + hash_ + fragment
    return scheme + authority + path + tail


def has_secrets(url: str) -> bool:
    """Whether `url` carries a password in its userinfo or a secret query parameter."""
    return bool(secrets_of(url))


def safe_url(url: str) -> str:
    """A storage URL with its password and secret query parameters (`?password=`,
    `?sslpassword=`, ...) replaced by ***, for messages and logs; "<unparseable storage URL>"
    for one SQLAlchemy cannot parse.

    Examples:
        >>> safe_url("postgresql+psycopg://app:hunter2@db/run?sslpassword=pw")
        'postgresql+psycopg://app:***@db/run?sslpassword=***'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        rendered = make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        return "<unparseable storage URL>"
    return hide(redact_url(rendered), secrets_of(url))


def password_of(url: str) -> str:
    """The password in a storage URL as the database driver reads it: its userinfo's, else a
    `?password=` parameter's ("" if none or unparseable). `secrets_of` finds every secret,
    not only this one.

    Examples:
        >>> password_of("postgresql+psycopg://app@db/run?password=hunter2")
        'hunter2'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return ""
    return str(parsed.password or parsed.query.get("password") or "")
