"""Expected failures and their messages: what the platform tells a person, and what it hides.

- :class:`PlatformError`: a failure the platform expects (a setting it cannot use, a server it
  cannot reach, a state folder not yet seeded). The command line prints its message, without
  a traceback (``--debug`` keeps it), and exits with its ``exit_code``.
- :func:`redact`: every message, log line and metadata value the platform writes goes through
  it, so no password or secret key appears in the console, the Dagster event logs or the
  compute logs; a secret becomes ``***``.
- :func:`is_transient`: the one retry policy's classification. Connection resets, timeouts,
  refused connections and a held lock may pass and are retried with backoff; refused
  credentials, missing objects and bad input will not, and fail at once.

Pure and standard-library only: importing it costs nothing, so the command line can validate
its settings before loading Dagster.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "***"

# Environment variables whose whole value is a secret (beside the passwords inside URLs).
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD")

# scheme://user:password@host -> the password part, up to the last @ of the URL (a password
# may hold an unescaped @; masking too much is harmless, too little is a leak). "scheme//"
# (a colon missing) counts too: that is how a mistyped URL reaches a message.
_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*:?//[^/:@\s'\"]*:)(?P<secret>[^\s'\"]+)@"
)


class PlatformError(Exception):
    """A failure the platform expects; its message says what went wrong and what to do.

    ``exit_code`` is what the command line exits with (2: a setting or usage to correct,
    1: the work failed).
    """

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


def url_password(url: str) -> str | None:
    """The password inside ``url`` (``scheme://user:password@host/...``), or ``None``."""
    match = _URL_PASSWORD.search(url or "")
    return match.group("secret") if match else None


def secrets_of(environ: Mapping[str, str]) -> frozenset[str]:
    """Every secret value in ``environ``: passwords inside any URL-valued variable and the
    values of :data:`SECRET_VARIABLES` (short values are kept: masking "a" would mask text)."""
    found = {environ[name] for name in SECRET_VARIABLES if environ.get(name)}
    for value in environ.values():
        password = url_password(value)
        if password:
            found.add(password)
    return frozenset(s for s in found if len(s) >= 3)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every password of a URL in it, and every one of ``secrets``, as ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    # Longest first, so a secret containing another is masked whole.
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """A one-line account of ``error`` (an exception or a message): its first non-empty line (drivers add hints and the
    statement on the following lines), at most ``limit`` characters; its class name if it
    says nothing. Not redacted: pass the result through :func:`redact`."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else (type(error).__name__ if isinstance(error, BaseException) else "")
    return text if len(text) <= limit else text[: limit - 3] + "..."


_TRANSIENT_NAMES = {
    "ConnectionResetError",
    "ConnectionRefusedError",
    "ConnectionAbortedError",
    "BrokenPipeError",
    "TimeoutError",
    "timeout",
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ServerDisconnectedError",
    "ClientConnectorError",
}
_TRANSIENT_TEXT = (
    "connection refused",
    "connection reset",
    "timed out",
    "timeout expired",
    "could not set lock",  # DuckDB: another process holds the database file
    "server closed the connection",
    "too many connections",
    "slowdown",
    "throttl",
    "service unavailable",
    "internal error",
)
_PERMANENT_TEXT = (
    "password authentication failed",
    "authentication failed",
    "invalidaccesskeyid",
    "signaturedoesnotmatch",
    "accessdenied",
    "access denied",
    "forbidden",
    "nosuchbucket",
    "nosuchkey",
    "does not exist",
    "no such file",
)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) may pass on a retry: see the module docstring.
    Classified by class name and message, so no driver needs importing here."""
    seen = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).lower()
        if any(p in text for p in _PERMANENT_TEXT) or isinstance(
            current, PermissionError | FileNotFoundError
        ):
            return False
        if type(current).__name__ in _TRANSIENT_NAMES or any(t in text for t in _TRANSIENT_TEXT):
            return True
        current = current.__cause__ or current.__context__
    return False
