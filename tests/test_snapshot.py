"""The code location against its committed snapshot (``tests/snapshots/definitions.json``).

Any change to asset keys, groups, kinds, owners, pools, partitions, lineage, freshness, checks
(and their blocking flag), jobs, schedules, sensors or resource keys fails here until the
snapshot is regenerated on purpose: ``UPDATE_SNAPSHOT=1 .venv/bin/pytest tests/test_snapshot.py``
and the diff of the JSON file reviewed with the change.
"""

import json
import os
from pathlib import Path

from tests.definitions_snapshot import describe

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def test_definitions_match_the_snapshot(defs):
    current = describe(defs)
    if os.environ.get("UPDATE_SNAPSHOT"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    for section in expected:
        assert _ordered(section, current[section]) == _ordered(section, expected[section]), (
            f"{section} differ from {SNAPSHOT.name}; if on purpose, regenerate it "
            "(UPDATE_SNAPSHOT=1) and review the diff"
        )


def _ordered(section, value):
    # describe() sorts the checks' dict items, which compare as sets (a partial order), so
    # their order follows the process's hash seed: compare them by asset and name.
    if section == "checks":
        return sorted(value, key=lambda check: (check["asset"], check["name"]))
    return value
