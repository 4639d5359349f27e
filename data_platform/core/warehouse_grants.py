"""Who may read what in a PostgreSQL warehouse: the roles the platform manages, as SQL.

- the *analyst* role (``DATA_PLATFORM_ANALYST_ROLE``, default ``analyst``): a ``NOLOGIN``
  group role that reads the schema ``marts`` (``USAGE`` on it, ``SELECT`` on its tables and
  views) and nothing else;
- the *engineer* role (``DATA_PLATFORM_ENGINEER_ROLE``, default ``engineer``): a ``NOLOGIN``
  group role, a member of the analyst role, that also reads ``raw``, ``quarantine``,
  ``staging``, ``operations`` (the platform's run history and service levels) and ``audit``
  (the erasure requests: pseudonyms and counts, no personal data);
- neither reads ``private`` (the pseudonym key's pads);
- the platform's own role (the user of ``DATA_PLATFORM_WAREHOUSE_URL``) keeps ownership of
  every schema and relation, and so the only right to write.

People log in as roles of their own made members of one of the group roles
(``CREATE ROLE alice LOGIN IN ROLE analyst``).

dbt drops and re-creates its tables and views on every build (a table: created as
``<name>__dbt_tmp``, renamed over the old one), so a grant on today's relations alone would
be lost at the next build: ``ALTER DEFAULT PRIVILEGES FOR ROLE <platform role>`` gives each
relation the platform creates later the same ``SELECT``.

:func:`grant_statements` is pure (no connection); :func:`apply_grants` runs them in one
transaction. Every statement is idempotent: the roles are created when missing, privileges
outside the policy (a group role reading a schema it should not) are revoked, so running it
again changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

ANALYST_SCHEMAS = ("marts",)
ENGINEER_SCHEMAS = ("raw", "quarantine", "staging", "operations", "audit")
# The pseudonym key's pads (core/pseudonyms.py): the platform role's alone, no group reads it.
PRIVATE_SCHEMAS = ("private",)
SCHEMAS = ANALYST_SCHEMAS + ENGINEER_SCHEMAS + PRIVATE_SCHEMAS

# A role name the settings accept: an unquoted PostgreSQL identifier, lower case (so the name
# a person types in psql is the name the platform created), at most 63 bytes.
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_$]{0,62}")


@dataclass(frozen=True)
class Roles:
    """The three roles of the policy: ``owner`` is the platform's own (it creates and writes
    every relation), ``analyst`` and ``engineer`` the group roles it manages."""

    owner: str
    analyst: str
    engineer: str

    def __post_init__(self):
        names = (self.owner, self.analyst, self.engineer)
        if len(set(names)) != len(names):
            raise ValueError(
                f"the platform role {self.owner!r}, the analyst role {self.analyst!r} and the "
                f"engineer role {self.engineer!r} must be three different roles"
            )


def quote_identifier(name: str) -> str:
    """``name`` as a PostgreSQL quoted identifier (``"a""b"`` for ``a"b``)."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _create_role(name: str) -> str:
    # PostgreSQL has no CREATE ROLE IF NOT EXISTS; an existing role keeps its attributes.
    return (
        "DO $grants$ BEGIN "
        f"IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {_literal(name)}) THEN "
        f"CREATE ROLE {quote_identifier(name)} NOLOGIN; "
        "END IF; END $grants$"
    )


def _reads(schema: str, role: str, owner: str) -> list[str]:
    s, r, o = quote_identifier(schema), quote_identifier(role), quote_identifier(owner)
    return [
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r}",  # tables, views, materialized views
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} GRANT SELECT ON TABLES TO {r}",
    ]


def _no_access(schema: str, role: str, owner: str) -> list[str]:
    s, r, o = quote_identifier(schema), quote_identifier(role), quote_identifier(owner)
    return [
        f"REVOKE ALL ON SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} REVOKE ALL ON TABLES FROM {r}",
    ]


def grant_statements(roles: Roles, database: str) -> list[str]:
    """The SQL statements, in order, that make ``database`` follow the policy of this module
    for ``roles``: create the group roles when missing, create the schemas when missing
    (owned by the platform role, as dbt and the raw loads would), grant reads, revoke any
    other right of the group roles on those schemas, and set the default privileges."""
    owner = quote_identifier(roles.owner)
    analyst, engineer = quote_identifier(roles.analyst), quote_identifier(roles.engineer)
    statements = [_create_role(roles.analyst), _create_role(roles.engineer)]
    # The engineer reads whatever the analyst reads, through membership.
    statements.append(f"GRANT {analyst} TO {engineer}")
    statements.append(f"GRANT CONNECT ON DATABASE {quote_identifier(database)} TO {analyst}")
    for schema in SCHEMAS:
        statements.append(
            f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)} AUTHORIZATION {owner}"
        )
    for schema in SCHEMAS:
        # A clean slate on every schema of the policy (revoking what is not granted is a
        # no-op), then exactly the reads each role has.
        statements += _no_access(schema, roles.analyst, roles.owner)
        statements += _no_access(schema, roles.engineer, roles.owner)
        if schema in PRIVATE_SCHEMAS:
            continue
        reader = roles.analyst if schema in ANALYST_SCHEMAS else roles.engineer
        statements += _reads(schema, reader, roles.owner)
    return statements


def apply_grants(engine: sa.engine.Engine, analyst: str, engineer: str) -> Roles:
    """Run :func:`grant_statements` on ``engine``'s database in one transaction, the platform
    role being the one ``engine`` connects as; return the roles. Raises SQLAlchemy's
    ``DBAPIError`` when PostgreSQL refuses a statement (the platform role needs
    ``CREATEROLE`` for the first run), and ``ValueError`` when two roles are the same."""
    with engine.begin() as conn:
        owner, database = conn.execute(sa.text("select current_user, current_database()")).one()
        roles = Roles(owner=owner, analyst=analyst, engineer=engineer)
        for statement in grant_statements(roles, database):
            conn.exec_driver_sql(statement)
    return roles
