"""Strict reading of the URLs and paths the settings hold (pure: no connection is made).

- :func:`database_url`: a SQLAlchemy URL of a supported driver, with a host, a port in range
  and a database for a server, a file for SQLite;
- :func:`local_path`: a bare path that must not look like a mistyped URL
  (``postgresql//user:pw@host/db`` is not a file name);
- :func:`lake_location`: a lake folder or ``s3://bucket/prefix`` with a valid bucket name;
- :func:`http_endpoint`: ``http(s)://host[:port]`` (``AWS_ENDPOINT_URL``); :func:`web_url`;
- :func:`nats_url` (``nats://host:port``) and :func:`nats_stream_name`: the event broker's.

Each raises ``ValueError`` whose message gives the value (passwords as ``***``), the expected
form and an example; the settings prefix it with the variable's name.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa

from data_platform.core.errors import redact

# A scheme as RFC 3986 has it, then a colon: "postgresql:", "s3:", "C:" is not one (one letter).
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")
# S3 bucket naming rules (3-63 of a-z 0-9 . -, starting and ending with a letter or digit).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
SQLITE_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite"})
POSTGRES_DRIVERS = frozenset({"postgresql", "postgresql+psycopg", "postgresql+psycopg2"})


def shown(value: str) -> str:
    """``value`` as a message may quote it: ``repr``, any password in it as ``***``."""
    return repr(redact(value))


def database_url(url: str, drivers: Collection[str], example: str) -> sa.engine.URL:
    """Parse a SQLAlchemy database URL whose driver is one of ``drivers``.

    Server URLs need a host, a port (when given) from 1 to 65535 and a database; SQLite URLs a
    file (``sqlite:///relative.db``, ``sqlite:////absolute/path.db``). Raises ``ValueError``.
    """
    expected = f"expected {' or '.join(_forms(drivers))}, e.g. {example}"
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise ValueError(f"{shown(url)} is not a URL: {expected}") from None
    except ValueError:  # make_url's int() of a port that is not a number
        raise ValueError(f"{shown(url)}: the port is not a number: {expected}") from None
    if parsed.drivername not in drivers:
        raise ValueError(
            f"{shown(url)}: unsupported engine {parsed.drivername!r}: {expected}"
        ) from None
    if parsed.drivername in SQLITE_DRIVERS:
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError(f"{shown(url)} names no database file: {expected}")
        return parsed
    if not parsed.host:
        raise ValueError(f"{shown(url)} names no host: {expected}")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ValueError(f"{shown(url)}: port {parsed.port} is not from 1 to 65535: {expected}")
    if not parsed.database:
        raise ValueError(f"{shown(url)} names no database: {expected}")
    return parsed


def _forms(drivers: Collection[str]) -> list[str]:
    forms = []
    if SQLITE_DRIVERS & set(drivers):
        forms.append("sqlite:///<path to the file>")
    if POSTGRES_DRIVERS & set(drivers):
        # No password in the form: any user:password@ in a message is masked as ***.
        forms.append("postgresql://user@host:port/database")
    return forms


def local_path(text: str, expected: str) -> str:
    """``text`` as a bare file or folder path; raises ``ValueError`` when it is empty or looks
    like a URL (a scheme, ``//`` or ``@``), which a path this platform writes never does."""
    if not text.strip():
        raise ValueError(f"empty path: {expected}")
    if _SCHEME.match(text) or "//" in text or "@" in text:
        raise ValueError(f"{shown(text)} looks like a URL, not a path: {expected}")
    return text


@dataclass(frozen=True)
class LakeLocation:
    """Where the lake is: a local ``folder``, or an S3 ``bucket`` and ``prefix``."""

    folder: str | None = None
    bucket: str | None = None
    prefix: str = ""


_LAKE_FORMS = "a folder path or s3://bucket/prefix, e.g. /srv/lake or s3://jaffle-lake/prod"


def lake_location(url: str) -> LakeLocation:
    """Parse ``DATA_PLATFORM_LAKE_URL``: a folder (bare path or ``file:///path``) or
    ``s3://bucket[/prefix]`` with a valid bucket name. Raises ``ValueError``."""
    if url.startswith("file://"):
        return LakeLocation(folder=local_path(url.removeprefix("file://"), _LAKE_FORMS))
    if not url.startswith("s3://"):
        if "://" in url:
            scheme = url.split("://", 1)[0]
            raise ValueError(f"{shown(url)}: unsupported scheme {scheme!r}: expected {_LAKE_FORMS}")
        return LakeLocation(folder=local_path(url, f"expected {_LAKE_FORMS}"))
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket or _IP_ADDRESS.match(bucket):
        raise ValueError(
            f"{shown(url)}: {bucket!r} is not a valid S3 bucket name (3 to 63 lowercase "
            f"letters, digits, dots and hyphens): expected {_LAKE_FORMS}"
        )
    return LakeLocation(bucket=bucket, prefix=prefix.strip("/"))


def http_endpoint(url: str) -> str:
    """``url`` if it is ``http(s)://host[:port]`` (a trailing ``/`` allowed); raises
    ``ValueError``."""
    expected = "expected http(s)://host[:port], e.g. http://127.0.0.1:9000"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when not a number from 0 to 65535
    except ValueError:
        raise ValueError(f"{shown(url)}: the port is not a number from 1 to 65535: {expected}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown(url)}: {expected}")
    if port == 0 or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{shown(url)}: {expected}")
    return url


def web_url(url: str, secret_path: bool = False) -> str:
    """``url`` if it is ``http(s)://host/...`` (a repository's page, the UI; with
    ``secret_path``, an incoming webhook whose path is its secret, quoted as ``***`` in the
    message); raises ``ValueError``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        quoted = shown(url)
        if secret_path and webhook_secret(url):
            quoted = shown(url.replace(webhook_secret(url), "/***"))
        example = (
            "https://hooks.example.com/services/..."
            if secret_path
            else ("https://github.com/owner/repository")
        )
        raise ValueError(f"{quoted}: expected an http(s) URL, e.g. {example}")
    return url


def webhook_secret(url: str) -> str:
    """The part of an incoming webhook's URL that is its secret (pure): everything from the
    first ``/`` after the host (Slack's ``/services/T.../B.../token``, Teams' and
    Mattermost's keys), ``""`` when there is none."""
    scheme, separator, rest = url.partition("://")
    tail = rest if separator else scheme
    slash = tail.find("/")
    secret = tail[slash:] if slash >= 0 else ""
    return secret if secret.strip("/") else ""


_SMTP_FORM = "expected smtp://[user:password@]host[:port] or smtps://..., e.g. smtp://127.0.0.1:25"


def smtp_url(url: str) -> str:
    """``url`` if it is ``smtp(s)://[user[:password]@]host[:port]`` (port 1-65535) with no
    path; raises ``ValueError``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"{shown(url)}: the port is not a number from 1 to 65535: {_SMTP_FORM}")
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == 0:
        raise ValueError(f"{shown(url)}: {_SMTP_FORM}")
    if parts.path not in ("", "/"):
        raise ValueError(f"{shown(url)}: no path expected: {_SMTP_FORM}")
    return url


_NATS_FORM = "expected nats://host:port, e.g. nats://127.0.0.1:4222"
# What NATS allows in a stream name, narrowed to what is safe in a subject and a file name
# (the server stores each stream in a folder of that name).
_STREAM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def nats_url(url: str) -> str:
    """``url`` if it is ``nats://[user[:password]@]host[:port]`` (port 1-65535; NATS's 4222
    when left out) with no path; raises ``ValueError``."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - ValueError when not a number from 0 to 65535
    except ValueError:
        raise ValueError(f"{shown(url)}: the port is not a number from 1 to 65535: {_NATS_FORM}")
    if parts.scheme != "nats" or not parts.hostname:
        raise ValueError(f"{shown(url)}: {_NATS_FORM}")
    if parts.port == 0 or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{shown(url)}: {_NATS_FORM}")
    return url


def nats_stream_name(name: str) -> str:
    """``name`` if it is a JetStream stream name this platform accepts (letters, digits, ``_``
    and ``-``, 1 to 255 of them: no ``.``, ``*``, ``>``, space or path separator); raises
    ``ValueError``."""
    if not _STREAM_NAME.match(name):
        raise ValueError(
            f"{name!r} is not a stream name: expected letters, digits, _ and -, e.g. SHOP_EVENTS"
        )
    return name
