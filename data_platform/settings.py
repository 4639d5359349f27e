"""Where the platform keeps its state, and which backends it talks to.

Every setting is an environment variable. This module is the only place that knows their
defaults: :func:`apply_defaults` fills in the ones that are unset, all derived from one
state folder (``DATA_PLATFORM_HOME``, default ``./.data`` at the project root), so that
resources can be configured with ``EnvVar`` and dbt's ``profiles.yml`` reads the same values.

Settings (name: default):

- ``DATA_PLATFORM_HOME``: ``<project>/.data``; the state folder.
- ``DATA_PLATFORM_LAKE_URL``: ``$DATA_PLATFORM_HOME/lake``; root of the lake
  (``landing/`` and ``raw/`` zones).
- ``DATA_PLATFORM_WAREHOUSE_URL``: ``duckdb:///$DATA_PLATFORM_HOME/warehouse.duckdb``; the
  warehouse engine and where it is (``postgresql://user:password@host:port/database`` for
  PostgreSQL). It also picks the dbt target of the same engine; :func:`apply_defaults` derives
  the variables ``dbt_project/profiles.yml`` reads (``DATA_PLATFORM_DBT_TARGET``,
  ``DATA_PLATFORM_WAREHOUSE_PATH`` or ``DATA_PLATFORM_WAREHOUSE_HOST``, ``_PORT``, ``_USER``,
  ``_PASSWORD``, ``_DATABASE``): they are outputs, not settings.
- ``DATA_PLATFORM_SHOP_DB_URL``: ``sqlite:///$DATA_PLATFORM_HOME/shop.db``; any SQLAlchemy URL.
- ``DATA_PLATFORM_PARTITION_START``: ``2018-09-01``; first daily partition (jafgen's epoch).
- ``DAGSTER_HOME``: ``$DATA_PLATFORM_HOME/dagster``; Dagster's instance state.
- ``DATA_PLATFORM_DAGSTER_CONFIG``: ``dagster.yaml``; the instance configuration copied to
  ``$DAGSTER_HOME`` (``dagster.production.yaml`` for PostgreSQL storage).
- ``DATA_PLATFORM_RUN_RETENTION_DAYS``: ``90``; runs (and their event logs) older than this are
  deleted by the ``run_retention`` schedule.
- ``DATA_PLATFORM_QUARANTINE_MAX_PERCENT``: ``10``; the largest share (percent, integer) of a
  raw partition's rows that may be quarantined while the rest loads (see
  :mod:`data_platform.quality.quarantine`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from data_platform.resources.warehouse import parse_warehouse_url

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

# jafgen's simulation starts on this day (jafgen.curves.Day.EPOCH).
JAFGEN_EPOCH = "2018-09-01"

HOME = "DATA_PLATFORM_HOME"
LAKE_URL = "DATA_PLATFORM_LAKE_URL"
WAREHOUSE_URL = "DATA_PLATFORM_WAREHOUSE_URL"
SHOP_DB_URL = "DATA_PLATFORM_SHOP_DB_URL"
PARTITION_START = "DATA_PLATFORM_PARTITION_START"
DBT_TARGET = "DATA_PLATFORM_DBT_TARGET"
DAGSTER_CONFIG = "DATA_PLATFORM_DAGSTER_CONFIG"
RUN_RETENTION_DAYS = "DATA_PLATFORM_RUN_RETENTION_DAYS"
QUARANTINE_MAX_PERCENT = "DATA_PLATFORM_QUARANTINE_MAX_PERCENT"


def state_home() -> Path:
    """The state folder: ``$DATA_PLATFORM_HOME`` or ``<project>/.data``, as an absolute path."""
    return Path(os.environ.get(HOME) or PROJECT_ROOT / ".data").resolve()


def defaults(home: Path) -> dict[str, str]:
    """The default value of every setting for a given state folder (pure; unit-tested)."""
    return {
        HOME: str(home),
        LAKE_URL: str(home / "lake"),
        WAREHOUSE_URL: f"duckdb:///{home / 'warehouse.duckdb'}",
        SHOP_DB_URL: f"sqlite:///{home / 'shop.db'}",
        PARTITION_START: JAFGEN_EPOCH,
        DAGSTER_CONFIG: "deploy/dagster.yaml",
        RUN_RETENTION_DAYS: "90",
        QUARANTINE_MAX_PERCENT: "10",
        "DAGSTER_HOME": str(home / "dagster"),
        # dbt and Dagster send no telemetry from this platform.
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def warehouse_dbt_env(url: str) -> dict[str, str]:
    """The dbt target and connection variables for a warehouse URL (pure; unit-tested).

    Raises ``ValueError`` for a URL of an unsupported engine.
    """
    location = parse_warehouse_url(url)
    return {DBT_TARGET: location.dbt_target, **location.dbt_env()}


def apply_defaults() -> Path:
    """Set every unset setting to its default, create the state folder, and return it."""
    home = state_home()
    for name, value in defaults(home).items():
        if not os.environ.get(name):
            os.environ[name] = value
    # Derived, always recomputed: what dbt's profile needs to reach the configured warehouse.
    os.environ.update(warehouse_dbt_env(os.environ[WAREHOUSE_URL]))
    # The platform runs without an activated virtualenv (.venv/bin/data-platform, dagster dev
    # from make): dbt, which dagster-dbt calls by name, sits beside this interpreter.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    home.mkdir(parents=True, exist_ok=True)
    return home


def prepare_dagster_home() -> Path:
    """Make ``$DAGSTER_HOME/dagster.yaml`` the selected instance configuration; return the home.

    Dagster reads its instance configuration from ``$DAGSTER_HOME/dagster.yaml``; the files
    under version control are ``dagster.yaml`` (local) and ``dagster.production.yaml``, chosen
    by ``DATA_PLATFORM_DAGSTER_CONFIG`` (a path, relative to the project root or absolute).
    Raises ``FileNotFoundError`` if the selected file does not exist.
    """
    apply_defaults()
    source = PROJECT_ROOT / os.environ[DAGSTER_CONFIG]
    if not source.is_file():
        raise FileNotFoundError(f"{DAGSTER_CONFIG}: no instance configuration at {source}")
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
    return dagster_home
