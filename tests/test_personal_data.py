"""Personal data: classified in the contracts and the dbt YAML, kept out of the marts (keyed
pseudonyms, generalised values), and a scan on every mart that catches an unclassified
e-mail or phone column. Real dbt builds on real DuckDB files and a real PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from dagster import AssetKey

from data_platform.core.pseudonyms import hmac_pads, load_or_create_key, pseudonym
from data_platform.core.settings import DBT_PROJECT_DIR, dbt_profile_env
from data_platform.resources.warehouse import WarehouseResource
from data_platform.sources.shop_db.datasets import CUSTOMERS
from data_platform.sources.shop_db.people import contact_details
from tests.conftest import BIN, SETTINGS

SCAN = "no_unclassified_personal_data"
KEYS = [b"k" * 16, b"a much longer secret than one SHA-256 block of sixty-four bytes" * 2]
VALUES = ["3a1c7e0e-7b0f-4d2c-9a55-0c5f6a7c1b2e", "", "Zoë ü ß 🍩"]


def marts(manifest: dict) -> list[dict]:
    return [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["original_file_path"].startswith("models/marts/")
    ]


def test_every_mart_is_scanned_and_holds_no_direct_identifier(manifest):
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    scanned = {n["attached_node"] for n in tests if n.get("test_metadata", {}).get("name") == SCAN}
    for mart in marts(manifest):
        assert mart["unique_id"] in scanned, f"{mart['name']} has no {SCAN} test"
        direct = [c for c, col in mart["columns"].items() if col["meta"].get("pii") == "direct"]
        assert direct == [], f"{mart['name']} holds direct identifiers {direct}"
    assert len(scanned) >= 9


def test_the_contracts_and_staging_classify_the_customers_personal_data(manifest):
    assert CUSTOMERS.personal_columns == {
        "id": "direct",
        "name": "direct",
        "email": "direct",
        "phone": "direct",
        "street": "direct",
        "city": "quasi",
        "postcode": "quasi",
    }
    shown = {c.name: c.tags for c in CUSTOMERS.table_schema.columns}
    assert shown["email"] == {"pii": "direct"} and shown["updated_at"] == {}
    staging = manifest["nodes"]["model.data_platform.stg_customers"]["columns"]
    assert {c: col["meta"].get("pii") for c, col in staging.items() if col["meta"]} == {
        "customer_id": "direct",
        "customer_name": "direct",
        "email": "direct",
        "phone": "direct",
        "street": "direct",
        "city": "quasi",
        "postcode": "quasi",
    }


def test_the_ui_shows_the_classification_as_column_tags(graph):
    node = graph.get(AssetKey(["marts", "dim_customers"]))
    tags = {c.name: c.tags for c in node.metadata["dagster/column_schema"].columns}
    assert tags["customer_key"] == {"pii": "quasi"} and tags["lifetime_spend"] == {}


def test_contact_details_are_deterministic_per_customer_and_version():
    first = contact_details("c-1", "Ann Example")
    assert first == contact_details("c-1", "Ann Example")
    assert first["email"].startswith("ann.example") and "@" in first["email"]
    assert contact_details("c-1", "Ann Example", version=1) != first
    assert contact_details("c-2", "Ann Example") != first


def test_the_key_file_is_made_once_owner_readable(tmp_path):
    path = tmp_path / "home" / "pseudonym.key"
    key = load_or_create_key(path)
    assert len(key) == 64 and load_or_create_key(path) == key
    assert path.stat().st_mode & 0o777 == 0o600


def duckdb_pseudonyms(key: bytes, values: list[str]) -> list[str]:
    inner, outer = hmac_pads(key)
    with duckdb.connect() as conn:
        return [
            conn.execute(
                "select sha256(unhex(?) || unhex(sha256(unhex(?) || encode(?))))",
                [outer, inner, value],
            ).fetchone()[0]
            for value in values
        ]


@pytest.mark.parametrize("key", KEYS, ids=["short key", "key longer than a block"])
def test_the_sql_pseudonym_is_hmac_sha256_on_both_engines(key, postgres_url, tmp_path):
    expected = [hmac.new(key, v.encode(), hashlib.sha256).hexdigest() for v in VALUES]
    assert [pseudonym(key, v) for v in VALUES] == expected
    # The dbt macro's SQL, from the pads the platform stores, on each engine.
    for url in (f"duckdb:///{tmp_path / 'w.duckdb'}", postgres_url):
        warehouse = WarehouseResource(url=url)
        warehouse.store_pseudonym_pads(*hmac_pads(key))
        warehouse.store_pseudonym_pads(*hmac_pads(key))  # again: still one row
        macro = (DBT_PROJECT_DIR / "macros" / "pseudonym.sql").read_text()
        engine = "duckdb" if url.startswith("duckdb") else "postgres"
        body = macro.split(f"macro {engine}__pseudonym(expression) -%}}")[1].split("{%-")[0]
        got = []
        for value in VALUES:
            literal = "'" + value.replace("'", "''") + "'"
            got.append(
                warehouse.query(f"select {body.replace('{{ expression }}', literal)} as p")[0]["p"]
            )
        assert got == expected, engine
        assert warehouse.query("select count(*) as n from private.pseudonym_key")[0]["n"] == 1


def test_the_marts_pseudonym_is_stable_and_changes_with_the_key(full_run, tmp_path):
    """The session's marts hold HMAC(key file, shop id) for every customer; a copy of the
    warehouse rebuilt by dbt under another key holds other pseudonyms, those of the new key;
    and a planted mart with an unclassified e-mail and phone column fails the scan, naming
    both columns, never their values."""
    assert full_run.returncode == 0, full_run.stdout[-2000:]
    key = SETTINGS.pseudonym_secret()
    with duckdb.connect(SETTINGS.warehouse.path, read_only=True) as conn:
        ids = [r[0] for r in conn.sql("select customer_id from staging.stg_customers").fetchall()]
        before = {r[0] for r in conn.sql("select customer_key from marts.dim_customers").fetchall()}
    assert before == {pseudonym(key, i) for i in ids}

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models" / "marts" / "fct_planted.sql").write_text(
        "select 'ann.example12@gmail.com' as contact, '(345)780-7302' as reach_at,\n"
        "    'ann.example12@gmail.com' as classified_email, 'S-1' as store_code\n"
    )
    (project / "models" / "marts" / "_planted.yml").write_text(
        json.dumps(
            {
                "version": 2,
                "models": [
                    {
                        "name": "fct_planted",
                        "description": "A mart a careless change would add.",
                        "data_tests": [SCAN],
                        "columns": [
                            {"name": "contact", "data_type": "text"},
                            {"name": "reach_at", "data_type": "text"},
                            {
                                "name": "classified_email",
                                "data_type": "text",
                                "meta": {"pii": "direct"},
                            },
                            {"name": "store_code", "data_type": "text"},
                        ],
                    }
                ],
            }
        )
    )
    copy = tmp_path / "w" / Path(SETTINGS.warehouse.path).name  # same name: same catalog
    copy.parent.mkdir()
    shutil.copyfile(SETTINGS.warehouse.path, copy)
    other = b"another secret, not the state folder's"
    WarehouseResource(url=f"duckdb:///{copy}").store_pseudonym_pads(*hmac_pads(other))
    env = {
        **dbt_profile_env(f"duckdb:///{copy}"),
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [
            str(BIN / "dbt"),
            "build",
            "--select",
            "dim_customers fct_planted",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,  # the planted mart fails its scan: dbt exits 1
    )
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    by_id = {r["unique_id"].split(".")[2]: r for r in results}
    planted = next(r for u, r in by_id.items() if u.startswith(f"{SCAN}_fct_planted"))
    assert planted["status"] == "fail" and planted["failures"] == 2, done.stdout[-3000:]
    assert "ann.example12" not in planted.get("message", "")
    with duckdb.connect(str(copy)) as conn:
        flagged = conn.execute(planted["compiled_code"]).fetchall()
        after = {r[0] for r in conn.sql("select customer_key from marts.dim_customers").fetchall()}
    assert sorted((c, what) for c, what, _ in flagged) == [
        ("contact", "an e-mail address"),
        ("reach_at", "a phone number"),
    ]
    clean = next(r for u, r in by_id.items() if u.startswith(f"{SCAN}_dim_customers"))
    assert clean["status"] == "pass"
    assert after == {pseudonym(other, i) for i in ids} and not after & before
    assert "ann.example12" not in done.stdout


def test_no_mart_column_of_the_session_run_holds_a_customers_contact(full_run):
    """Every text value of every mart table, searched for the names, e-mail addresses, phone
    numbers and streets of the shop's customers: none is there."""
    assert full_run.returncode == 0
    engine = sa.create_engine(SETTINGS.shop_db_url)
    with engine.connect() as conn:
        people = conn.execute(sa.text("select name, email, phone, street from customers")).all()
    engine.dispose()
    secrets = {v for row in people for v in row if v}
    assert len(secrets) > 100
    with duckdb.connect(SETTINGS.warehouse.path, read_only=True) as conn:
        columns = conn.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'marts' and data_type = 'VARCHAR'"
        ).fetchall()
        found = [
            (table, column)
            for table, column in columns
            if conn.execute(
                f'select count(*) from marts."{table}" where "{column}" in '
                "(select unnest(?::varchar[]))",
                [sorted(secrets)],
            ).fetchone()[0]
        ]
    assert columns and found == []


def test_every_column_that_names_a_customer_is_a_classified_direct_identifier(manifest):
    from data_platform.sources.landing.datasets import DATASETS as LANDING
    from data_platform.sources.shop_db.datasets import DATASETS as SHOP
    from data_platform.sources.web_events.datasets import DATASETS as EVENTS

    naming = {"customer", "customer_id", "user_id"}
    for dataset in (*SHOP, *LANDING, *EVENTS):
        for column in dataset.columns:
            if column.name in naming:
                assert column.pii == "direct", f"{dataset.name}.{column.name}"
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["original_file_path"].startswith(
            "models/staging/"
        ):
            for name, column in node["columns"].items():
                if name in naming:
                    assert column["meta"].get("pii") == "direct", f"{node['name']}.{name}"
