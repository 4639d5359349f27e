"""Warehouse URLs: which engine a ``DATA_PLATFORM_WAREHOUSE_URL`` names and how to reach it.

Pure (no connection is made): used by the settings, the warehouse resource and dbt's profile.

- ``duckdb:///<path>`` (or a bare path): DuckDB, the dbt target ``duckdb``;
- ``postgresql://user:password@host:port/database``: PostgreSQL, the dbt target ``postgres``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from data_platform.core.urls import POSTGRES_DRIVERS, database_url, local_path, shown

DUCKDB = "duckdb"
POSTGRES = "postgres"
_POSTGRES_DRIVERS = {"postgres", *POSTGRES_DRIVERS}
_EXAMPLE = "postgresql://dbt@127.0.0.1:5432/warehouse"
_FORMS = f"duckdb:///<path> or postgresql://user@host:port/database, e.g. {_EXAMPLE}"


@dataclass(frozen=True)
class WarehouseLocation:
    """A parsed warehouse URL: the engine and how to reach it."""

    engine: str
    path: str | None = None  # DuckDB: the database file (or ``md:<database>`` for MotherDuck)
    server: sa.engine.URL | None = None  # PostgreSQL: user, password, host, port, database

    @property
    def dbt_target(self) -> str:
        """The output of ``dbt_project/profiles.yml`` for this engine."""
        return self.engine

    def dbt_env(self) -> dict[str, str]:
        """The variables ``profiles.yml`` reads for this location (all strings)."""
        if self.server is None:
            return {"DATA_PLATFORM_WAREHOUSE_PATH": self.path or ""}
        return {
            "DATA_PLATFORM_WAREHOUSE_HOST": self.server.host or "localhost",
            "DATA_PLATFORM_WAREHOUSE_PORT": str(self.server.port or 5432),
            "DATA_PLATFORM_WAREHOUSE_USER": self.server.username or "",
            "DATA_PLATFORM_WAREHOUSE_PASSWORD": self.server.password or "",
            "DATA_PLATFORM_WAREHOUSE_DATABASE": self.server.database or "",
        }

    def libpq_url(self) -> str:
        """PostgreSQL only: the URI libpq (and so ADBC) understands."""
        return self.server.set(drivername="postgresql").render_as_string(hide_password=False)

    def sqlalchemy_url(self) -> str:
        """PostgreSQL only: the URL SQLAlchemy connects with (psycopg 3)."""
        return self.server.set(drivername="postgresql+psycopg").render_as_string(
            hide_password=False
        )


def parse_warehouse_url(url: str) -> WarehouseLocation:
    """Parse ``DATA_PLATFORM_WAREHOUSE_URL``.

    ``duckdb:///<path>`` (``duckdb:////abs/file.duckdb`` for an absolute path) or a bare path
    select DuckDB; ``postgresql://``, ``postgres://``, ``postgresql+psycopg://`` and
    ``postgresql+psycopg2://`` select PostgreSQL (a host, a port from 1 to 65535 when given,
    a database). Raises ``ValueError`` for any other scheme, a URL missing one of its parts,
    or a bare path that looks like a mistyped URL (``postgresql//user:pw@host/db``); the
    message never holds the password.
    """
    if "://" not in url:
        return WarehouseLocation(DUCKDB, path=local_path(url, f"expected {_FORMS}"))
    scheme, rest = url.split("://", 1)
    if scheme == "duckdb":
        # As SQLAlchemy's file URLs: duckdb:///relative.duckdb, duckdb:////abs/path.duckdb.
        if not rest.startswith("/") or not rest[1:]:
            raise ValueError(
                f"warehouse URL {shown(url)}: expected duckdb:///<path to the file>, "
                "e.g. duckdb:////srv/state/warehouse.duckdb"
            )
        return WarehouseLocation(DUCKDB, path=rest[1:])
    if scheme == "postgres":  # libpq's alias, which SQLAlchemy 2 no longer accepts
        url = "postgresql" + url.removeprefix("postgres")
    if scheme in _POSTGRES_DRIVERS:
        try:
            parsed = database_url(url, POSTGRES_DRIVERS, _EXAMPLE)
        except ValueError as error:
            raise ValueError(f"warehouse URL {error}") from None
        return WarehouseLocation(POSTGRES, server=parsed)
    raise ValueError(
        f"warehouse URL {shown(url)}: unsupported engine {scheme!r}: expected {_FORMS}"
    )
