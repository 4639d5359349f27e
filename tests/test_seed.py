"""``data-platform seed``: real jafgen data in, and the same input twice changes nothing."""

import hashlib
import os
import subprocess
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import BIN


def seed(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATA_PLATFORM_", "DAGSTER_HOME"))
    }
    env["DATA_PLATFORM_HOME"] = str(home)
    return subprocess.run(
        [str(BIN / "data-platform"), "seed", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def snapshot(home: Path) -> dict:
    """Every shop table's rows and every landing file's content hash and modification time."""
    engine = sa.create_engine(f"sqlite:///{home / 'shop.db'}")
    with engine.connect() as conn:
        tables = {
            name: sorted(conn.execute(sa.text(f"select * from {name}")).all())
            for name in ("customers", "orders", "order_items")
        }
    engine.dispose()
    files = {
        str(p.relative_to(home)): (hashlib.md5(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted((home / "lake" / "landing").rglob("*"))
        if p.is_file()
    }
    return {"tables": tables, "files": files}


def test_seeding_twice_changes_nothing(tmp_path, small_csv_dir):
    home = tmp_path / "home"
    first = seed(home, "--from-csv", str(small_csv_dir))
    assert first.returncode == 0, first.stderr
    before = snapshot(home)
    assert len(before["tables"]["orders"]) > 0
    assert any(name.endswith(".jsonl") for name in before["files"])
    assert {
        "lake/landing/products/products.csv",
        "lake/landing/stores/stores.csv",
        "lake/landing/supplies/supplies.csv",
    } <= set(before["files"])

    second = seed(home, "--from-csv", str(small_csv_dir))
    assert second.returncode == 0, second.stderr
    assert "0 landing files written" in second.stdout
    assert snapshot(home) == before


def test_seed_rejects_incomplete_input(tmp_path, small_csv_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("raw_customers.csv", "raw_orders.csv"):
        (broken / name).write_bytes((small_csv_dir / name).read_bytes())
    result = seed(tmp_path / "home", "--from-csv", str(broken))
    assert result.returncode == 2
    assert "raw_items.csv" in result.stderr


def test_seed_names_the_bad_line_and_column(tmp_path, small_csv_dir):
    bad = tmp_path / "bad"
    bad.mkdir()
    for path in small_csv_dir.iterdir():
        (bad / path.name).write_bytes(path.read_bytes())
    lines = (bad / "raw_orders.csv").read_text().splitlines()
    fields = lines[3].split(",")
    fields[4] = "12.5O"  # subtotal with a letter O
    lines[3] = ",".join(fields)
    (bad / "raw_orders.csv").write_text("\n".join(lines) + "\n")
    result = seed(tmp_path / "home", "--from-csv", str(bad))
    assert result.returncode == 2
    assert "raw_orders.csv, line 4, column subtotal" in result.stderr
    assert "'12.5O'" in result.stderr


def test_seed_years_uses_jafgen(tmp_path):
    """--years runs jafgen itself, and a second --years call reuses what it generated."""
    home = tmp_path / "home"
    first = seed(home, "--years", "1")
    assert first.returncode == 0, first.stderr
    generated = home / "generated" / "jafgen-1y" / "jaffle-data" / "raw_orders.csv"
    assert generated.exists()
    before = snapshot(home)
    second = seed(home, "--years", "1")
    assert second.returncode == 0 and "0 landing files written" in second.stdout
    assert snapshot(home) == before
