"""Incidents: what is wrong now, kept until it clears, so one incident is one message.

The store is a JSON file, ``$DATA_PLATFORM_HOME/alerts/incidents.json``: by incident key, when
it opened, how often it repeated and when last (UTC ISO-8601 times), its first line and link.
Written atomically (a temporary file renamed over it) under a file lock, so sensors ticking at
once never lose an update.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock


@dataclass(frozen=True)
class Incident:
    """One open incident; ``since`` and ``latest`` are UTC ISO-8601 times."""

    key: str
    what: str  # the first line of its alert
    link: str
    since: str
    latest: str
    count: int = 1


class IncidentStore:
    """The open incidents kept in the folder ``state_dir`` (``$DATA_PLATFORM_HOME/alerts``)."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / "incidents.json"

    def read(self) -> dict[str, Incident]:
        """The open incidents by key (none when the file does not exist)."""
        if not self.path.exists():
            return {}
        return {key: Incident(**value) for key, value in json.loads(self.path.read_text()).items()}

    @contextmanager
    def _editing(self) -> Iterator[dict[str, Incident]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock"):
            incidents = self.read()
            yield incidents
            text = json.dumps({k: asdict(v) for k, v in incidents.items()}, indent=1)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(handle, "w") as file:
                file.write(text)
            os.replace(temporary, self.path)

    def open(self, key: str, what: str, link: str, at: dt.datetime) -> Incident | None:
        """Record ``key`` as failing at ``at``: the new incident when it was not open (send
        it), else ``None`` after adding one to its count and moving its latest time."""
        stamp = at.astimezone(dt.UTC).isoformat(timespec="seconds")
        with self._editing() as incidents:
            known = incidents.get(key)
            if known is not None:
                incidents[key] = Incident(
                    key, known.what, known.link, known.since, stamp, known.count + 1
                )
                return None
            incidents[key] = Incident(key, what, link, stamp, stamp)
            return incidents[key]

    def clear(self, key: str) -> Incident | None:
        """Close ``key``: the incident it was (send its recovery), or ``None`` when not open."""
        with self._editing() as incidents:
            return incidents.pop(key, None)
