"""How a resource's faults reach Dagster: transient ones retried, permanent ones failing at once.

One policy for every raw step (see ``RAW_RETRY_POLICY`` in :mod:`data_platform.loading.raw_asset`):
an error is classified by :func:`data_platform.core.errors.is_transient`, and its message is
redacted (no password of a URL, no given secret) before Dagster records it:

- :class:`TransientFault` (a connection reset or refused, a timeout, the DuckDB file locked by
  another process): raised as a plain error, so the step's ``RetryPolicy`` retries it;
- :class:`PermanentFault` (credentials refused, a missing object or bucket, bad input, a full
  disk): a ``dagster.Failure`` with ``allow_retries=False``, so no retry is spent on it.

Both are :class:`~data_platform.core.errors.PlatformError`: outside a run (the command line)
they print as a message, exit code 1. The original error is dropped from the chain (``from
None``): its text, and the driver's, may hold the secret the message had masked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from dagster import Failure

from data_platform.core.errors import PlatformError, is_transient, one_line, redact


class TransientFault(PlatformError):
    """A fault that may pass: the step's retry policy retries it."""


class PermanentFault(PlatformError, Failure):
    """A fault no retry will mend: fails the step at once (``allow_retries=False``)."""

    def __init__(self, message: str):
        # Failure's initializer sets the message (Exception's args) and the retry switch;
        # PlatformError's exit code is its class default.
        Failure.__init__(self, description=message, allow_retries=False)


def fault(what: str, error: BaseException, secrets: Iterable[str] = ()) -> PlatformError:
    """``error`` met while doing ``what``, as a :class:`TransientFault` or a
    :class:`PermanentFault` whose message (``"<what>: <error's first line>"``) is redacted of URL passwords and ``secrets``."""
    if isinstance(error, PlatformError | Failure):
        return error
    message = redact(f"{what}: {one_line(error)}", secrets)
    if is_transient(error):
        return TransientFault(f"{message} (transient: retried with backoff)")
    return PermanentFault(message)


@contextmanager
def faults(what: str, secrets: Iterable[str] = ()) -> Iterator[None]:
    """Translate every error raised inside into a redacted fault (see :func:`fault`)."""
    try:
        yield
    except Failure:
        raise  # already what Dagster should see (its own retry switch, its metadata)
    except Exception as error:  # noqa: BLE001 - every error is classified: that is the policy
        raise fault(what, error, secrets) from None
