"""Access control on the server warehouse: ``data-platform grants`` through the real command
line on the machine's PostgreSQL, then people logged in as members of its roles.

A small warehouse of its own (a fresh database: a table in each of ``raw``, ``quarantine``
and ``marts``, a view in ``marts``) owned by the platform role, the URL's ``postgres``. Roles
are cluster-wide, so every name carries this run's random suffix, and the roles are dropped
at the end (after the database, which takes their privileges with it). Relations re-created
after the grants, by hand the way dbt does and by dbt-postgres itself (a two-model project of
its own, built twice), stay readable.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_platform import cli
from data_platform.core.settings import Settings, SettingsError
from data_platform.core.warehouse_grants import Roles, grant_statements
from tests.conftest import BIN
from tests.servers import POSTGRES_ADMIN_URL, postgres_database
from tests.test_cli_faults import SECRET, data_platform

SUFFIX = uuid.uuid4().hex[:8]
ANALYST, ENGINEER = f"analyst_{SUFFIX}", f"engineer_{SUFFIX}"
ALICE, BOB = f"alice_{SUFFIX}", f"bob_{SUFFIX}"  # people: alice an analyst, bob an engineer
PLATFORM = f"platform_{SUFFIX}"  # a platform role without CREATEROLE
DENIED = sa.exc.ProgrammingError  # psycopg's InsufficientPrivilege, wrapped by SQLAlchemy


def _admin(url: str) -> sa.engine.Engine:
    return sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")


def _run(conn, sql: str) -> None:
    for statement in sql.split(";"):
        if statement.strip():
            conn.exec_driver_sql(statement)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Iterator[dict]:
    """The warehouse's URL with the password ``SECRET`` in it (trust auth accepts any), the
    settings naming this run's roles, and the state folder of the command."""
    with postgres_database() as url:
        with _admin(url).connect() as conn:
            _run(
                conn,
                """
                create schema raw; create schema quarantine; create schema marts;
                create table raw.orders (id int, customer text);
                insert into raw.orders values (1, 'Ada');
                create table quarantine.orders (id int, reason text);
                insert into quarantine.orders values (2, 'negative amount');
                create table marts.fct_orders (id int, amount numeric);
                insert into marts.fct_orders values (1, 9.5);
                create view marts.daily as select count(*) as orders from marts.fct_orders
                """,
            )
        location = sa.engine.make_url(url).set(drivername="postgresql", password=SECRET)
        yield {
            "url": url,
            "tmp": tmp_path_factory.mktemp("grants"),
            "settings": {
                "DATA_PLATFORM_WAREHOUSE_URL": location.render_as_string(hide_password=False),
                "DATA_PLATFORM_ANALYST_ROLE": ANALYST,
                "DATA_PLATFORM_ENGINEER_ROLE": ENGINEER,
            },
        }
    # The database is gone, and the roles' privileges in it with it: the roles can go.
    with _admin(POSTGRES_ADMIN_URL).connect() as conn:
        for role in (ALICE, BOB, PLATFORM, ENGINEER, ANALYST):
            conn.exec_driver_sql(f'drop role if exists "{role}"')


def grants(warehouse: dict, **settings: str):
    """Run ``data-platform grants``; the completed process (the password checked absent)."""
    result, _ = data_platform(warehouse["tmp"], "grants", **{**warehouse["settings"], **settings})
    assert SECRET not in result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def granted(warehouse) -> dict:
    """The warehouse after one ``grants``, with alice in the analyst role and bob in the
    engineer role."""
    result = grants(warehouse)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{ANALYST} (group role) reads marts;" in result.stdout
    with _admin(warehouse["url"]).connect() as conn:
        conn.exec_driver_sql(f'create role "{ALICE}" login in role "{ANALYST}"')
        conn.exec_driver_sql(f'create role "{BOB}" login in role "{ENGINEER}"')
    return warehouse


def person(warehouse: dict, role: str) -> sa.engine.Engine:
    """An engine logged in as ``role`` (no password: the test server trusts loopback)."""
    url = sa.engine.make_url(warehouse["url"]).set(username=role, password=None)
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def read(engine: sa.engine.Engine, relation: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"select * from {relation}")]


def refusal(engine: sa.engine.Engine, sql: str) -> str:
    """PostgreSQL's message refusing ``sql`` (its first line)."""
    with pytest.raises(DENIED) as refused, engine.connect() as conn:
        conn.exec_driver_sql(sql)
    assert type(refused.value.orig).__name__ == "InsufficientPrivilege"
    return str(refused.value.orig).splitlines()[0]


def test_an_analyst_reads_the_marts_and_is_refused_raw_and_quarantine(granted):
    alice = person(granted, ALICE)
    assert read(alice, "marts.fct_orders") == [(1, 9.5)]
    assert read(alice, "marts.daily") == [(1,)]
    assert refusal(alice, "select * from raw.orders") == "permission denied for schema raw"
    assert refusal(alice, "select * from quarantine.orders") == (
        "permission denied for schema quarantine"
    )
    # Reading is all: the marts are written by the platform role alone.
    assert refusal(alice, "insert into marts.fct_orders values (3, 1)") == (
        "permission denied for table fct_orders"
    )


def test_an_engineer_reads_raw_quarantine_and_the_marts_and_writes_nothing(granted):
    bob = person(granted, BOB)
    assert read(bob, "raw.orders") == [(1, "Ada")]
    assert read(bob, "quarantine.orders") == [(2, "negative amount")]
    assert read(bob, "marts.daily") == [(1,)]
    assert refusal(bob, "delete from raw.orders") == "permission denied for table orders"


# Everything the grants decide: the roles' attributes and memberships, the database's, the
# schemas' and the relations' access lists, the default privileges.
ACCESS_QUERIES = (
    (
        "select rolname, rolcanlogin, rolinherit, rolsuper from pg_roles "
        "where rolname = any(:roles) order by 1"
    ),
    (
        "select r.rolname, m.rolname from pg_auth_members a join pg_roles r on r.oid = a.roleid "
        "join pg_roles m on m.oid = a.member where r.rolname = any(:roles) order by 1, 2"
    ),
    "select datacl::text from pg_database where datname = current_database()",
    "select nspname, nspacl::text from pg_namespace order by 1",
    (
        "select n.nspname, c.relname, c.relacl::text from pg_class c join pg_namespace n "
        "on n.oid = c.relnamespace where n.nspname in ('raw', 'quarantine', 'marts', 'staging') "
        "order by 1, 2"
    ),
    (
        "select defaclrole::regrole::text, defaclnamespace::regnamespace::text, defaclobjtype, "
        "defaclacl::text from pg_default_acl order by 1, 2, 3"
    ),
)


def _access(url: str) -> list[tuple]:
    """The rows of :data:`ACCESS_QUERIES` on the warehouse of ``url``."""
    with _admin(url).connect() as conn:
        return [
            tuple(r)
            for query in ACCESS_QUERIES
            for r in conn.execute(sa.text(query), {"roles": [ANALYST, ENGINEER]})
        ]


def test_running_grants_again_succeeds_and_changes_nothing(granted):
    before = _access(granted["url"])
    assert any(ANALYST in str(row) for row in before)
    result = grants(granted)
    assert result.returncode == 0, result.stderr
    assert _access(granted["url"]) == before


def test_relations_rebuilt_after_grants_as_dbt_does_stay_readable(granted):
    # dbt-postgres's table materialization: build <name>__dbt_tmp, move the old one aside,
    # rename the new one in, drop the old; a view is dropped and created again.
    with _admin(granted["url"]).connect() as conn:
        _run(
            conn,
            """
            create table marts.fct_orders__dbt_tmp as select id, amount * 2 as amount
              from marts.fct_orders;
            drop view marts.daily;
            alter table marts.fct_orders rename to fct_orders__dbt_backup;
            alter table marts.fct_orders__dbt_tmp rename to fct_orders;
            drop table marts.fct_orders__dbt_backup;
            create view marts.daily as select count(*) as orders from marts.fct_orders;
            create table marts.dim_new as select 1 as id;
            create table raw.customers as select 1 as id
            """,
        )
    alice, bob = person(granted, ALICE), person(granted, BOB)
    assert read(alice, "marts.fct_orders") == [(1, 19)]
    assert read(alice, "marts.daily") == [(1,)]
    assert read(alice, "marts.dim_new") == [(1,)]
    assert read(bob, "raw.customers") == [(1,)]
    assert refusal(alice, "select * from raw.customers") == "permission denied for schema raw"


def _dbt_project(folder: Path, url: str) -> dict[str, str]:
    """A dbt project of two marts (a table and a view of it) on the warehouse of ``url``;
    the environment dbt runs it with."""
    server = sa.engine.make_url(url)
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(
        "name: grants_probe\nversion: '1.0'\nprofile: grants_probe\nmodel-paths: [models]\n"
    )
    (folder / "profiles.yml").write_text(
        "grants_probe:\n  target: pg\n  outputs:\n    pg:\n      type: postgres\n"
        f"      host: {server.host}\n      port: {server.port}\n      user: {server.username}\n"
        f"      password: ''\n      dbname: {server.database}\n      schema: marts\n"
        "      threads: 1\n"
    )
    (folder / "models" / "dbt_orders.sql").write_text(
        "{{ config(materialized='table') }} select id, amount from marts.fct_orders"
    )
    (folder / "models" / "dbt_daily.sql").write_text(
        "{{ config(materialized='view') }} select count(*) as orders from {{ ref('dbt_orders') }}"
    )
    return {**os.environ, "DBT_PROFILES_DIR": str(folder), "DO_NOT_TRACK": "1"}


def test_marts_dbt_builds_and_rebuilds_after_grants_are_readable(granted):
    # dbt-postgres itself: the first build creates the relations, the second replaces them
    # (a table through <name>__dbt_tmp and a rename, a view likewise).
    folder = granted["tmp"] / "dbt_probe"
    env = _dbt_project(folder, granted["url"])
    alice = person(granted, ALICE)
    for build in ("first", "rebuild"):
        result = subprocess.run(
            [str(BIN / "dbt"), "run", "--project-dir", str(folder)],
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, f"{build}: {result.stdout[-3000:]}"
        assert read(alice, "marts.dbt_daily") == [(1,)], build
    assert len(read(alice, "marts.dbt_orders")) == 1


def test_a_platform_role_that_may_not_create_roles_is_refused_and_nothing_changes(warehouse):
    with _admin(warehouse["url"]).connect() as conn:
        conn.exec_driver_sql(f'create role "{PLATFORM}" login')
    url = sa.engine.make_url(warehouse["settings"]["DATA_PLATFORM_WAREHOUSE_URL"])
    result = grants(
        warehouse,
        DATA_PLATFORM_WAREHOUSE_URL=url.set(username=PLATFORM).render_as_string(False),
        DATA_PLATFORM_ANALYST_ROLE=f"other_{SUFFIX}",
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("grants: PostgreSQL refused (permission denied to create role")
    assert "Traceback" not in result.stderr
    with _admin(warehouse["url"]).connect() as conn:
        found = conn.exec_driver_sql(
            f"select count(*) from pg_roles where rolname = 'other_{SUFFIX}'"
        ).scalar()
    assert found == 0  # one transaction: nothing of it remains


def test_a_duckdb_warehouse_is_told_what_a_single_file_cannot_enforce(tmp_path):
    result, took = data_platform(
        tmp_path, "grants", DATA_PLATFORM_WAREHOUSE_URL=f"duckdb:///{tmp_path / 'w.duckdb'}"
    )
    assert result.returncode == 2
    assert result.stderr == f"grants: {cli.DUCKDB_NO_ROLES}\n"
    assert "file permissions" in result.stderr
    assert took < 5


def test_the_statements_grant_reads_and_default_privileges_per_role():
    statements = grant_statements(Roles('dbt "main"', "analyst", "engineer"), "analytics")
    owner = '"dbt ""main"""'
    assert f'CREATE SCHEMA IF NOT EXISTS "marts" AUTHORIZATION {owner}' in statements
    assert (
        f'ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA "marts" GRANT SELECT ON TABLES '
        'TO "analyst"'
    ) in statements
    for schema in ("raw", "quarantine", "staging", "operations", "audit"):
        assert f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "engineer"' in statements
        assert f'GRANT USAGE ON SCHEMA "{schema}" TO "analyst"' not in statements
        # A revocation precedes every grant, so a right granted by hand does not survive.
        assert f'REVOKE ALL ON SCHEMA "{schema}" FROM "analyst"' in statements
    assert 'GRANT "analyst" TO "engineer"' in statements
    # The pseudonym key: revoked from both, granted to neither.
    assert 'REVOKE ALL ON SCHEMA "private" FROM "engineer"' in statements
    assert not [s for s in statements if '"private"' in s and s.startswith("GRANT")]
    assert not [s for s in statements if "DROP" in s.upper() or "LOGIN " in s]


@pytest.mark.parametrize(
    "settings",
    [
        {"DATA_PLATFORM_ANALYST_ROLE": "Analyst"},
        {"DATA_PLATFORM_ENGINEER_ROLE": "eng; drop table x"},
        {"DATA_PLATFORM_ANALYST_ROLE": "team", "DATA_PLATFORM_ENGINEER_ROLE": "team"},
    ],
)
def test_role_settings_are_checked(settings, tmp_path: Path):
    with pytest.raises(SettingsError, match="DATA_PLATFORM_"):
        Settings.from_environ({"DATA_PLATFORM_HOME": str(tmp_path), **settings})


def test_roles_must_differ_from_the_platform_role():
    with pytest.raises(ValueError, match="three different roles"):
        Roles("analyst", "analyst", "engineer")
