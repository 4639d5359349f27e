"""``data-platform seed``: real jafgen data in, the same input twice changes nothing, an empty
field is NULL, and a file that cannot be used fails the seed, naming file, line and column,
before anything is written."""

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_platform.core.sources import SeedError
from data_platform.sources.landing import seed as landing_seed
from data_platform.sources.shop_db import seed as shop_seed
from tests.conftest import BIN

# A failing seed reads its input and stops: the time is the command's start (loading Dagster).
FAILS_WITHIN_SECONDS = 30


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


def copy_of(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def edit_line(path: Path, number: int, edit) -> str:
    """Replace line ``number`` (1-based) of the text file ``path`` by ``edit(line)``; return
    the line as it was."""
    lines = path.read_text().split("\n")
    original = lines[number - 1]
    lines[number - 1] = edit(original)
    path.write_text("\n".join(lines))
    return original


def first_id(line: str) -> str:
    return line.split(",")[0]


def assert_nothing_written(home: Path) -> None:
    """No shop table holds a row and the lake holds no landing file."""
    database = home / "shop.db"
    if database.exists():
        engine = sa.create_engine(f"sqlite:///{database}")
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            counts = {
                t: conn.execute(sa.text(f"select count(*) from {t}")).scalar() for t in tables
            }
        engine.dispose()
        assert not any(counts.values()), counts
    landing = home / "lake" / "landing"
    assert not landing.exists() or not [p for p in landing.rglob("*") if p.is_file()]


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


@pytest.fixture(scope="module")
def blank_fields(tmp_path_factory, small_csv_dir):
    """The small CSVs with empty fields (a customer's name, an item's sku, a tweet's content)
    and a short customer row without its trailing name, seeded once into a home of their own.
    Yields the home, the blanked ids and the first seed's result."""
    root = tmp_path_factory.mktemp("blank-fields")
    data = copy_of(small_csv_dir, root / "csv")
    blanked = {
        "empty name": first_id(
            edit_line(data / "raw_customers.csv", 2, lambda line: f"{first_id(line)},")
        ),
        "short row": first_id(edit_line(data / "raw_customers.csv", 3, first_id)),
        "sku": first_id(
            edit_line(data / "raw_items.csv", 2, lambda line: line.rsplit(",", 1)[0] + ",")
        ),
    }
    tweet = edit_line(data / "raw_tweets.csv", 2, lambda line: ",".join(line.split(",")[:3]) + ",")
    blanked["tweet"] = first_id(tweet)
    home = root / "home"
    result = seed(home, "--from-csv", str(data))
    assert result.returncode == 0, result.stderr
    yield home, blanked, result


def test_an_empty_field_is_null_never_the_text_none(blank_fields):
    home, blanked, _ = blank_fields
    engine = sa.create_engine(f"sqlite:///{home / 'shop.db'}")
    with engine.connect() as conn:
        names = dict(conn.execute(sa.text("select id, name from customers")).all())
        skus = dict(conn.execute(sa.text("select id, sku from order_items")).all())
    engine.dispose()
    assert names[blanked["empty name"]] is None and names[blanked["short row"]] is None
    assert skus[blanked["sku"]] is None
    assert not {"None", ""} & {*names.values(), *skus.values()}
    tweets = [
        json.loads(line)
        for path in (home / "lake" / "landing" / "tweets").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert [t["content"] for t in tweets if t["id"] == blanked["tweet"]] == [None]


def test_seeding_twice_changes_nothing(blank_fields):
    home, _, first = blank_fields
    before = snapshot(home)
    assert len(before["tables"]["orders"]) > 0
    assert any(name.endswith(".jsonl") for name in before["files"])
    assert {
        "lake/landing/products/products.csv",
        "lake/landing/stores/stores.csv",
        "lake/landing/supplies/supplies.csv",
    } <= set(before["files"])

    second = seed(home, "--from-csv", first.args[-1])
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
    assert_nothing_written(tmp_path / "home")


def test_seed_years_uses_jafgen(jafgen_home):
    """--years runs jafgen itself (the session's ``jafgen_home`` was seeded so), and a second
    --years call reuses what it generated."""
    home = jafgen_home
    generated = home / "generated" / "jafgen-1y" / "jaffle-data" / "raw_orders.csv"
    assert generated.exists()
    assert sum(1 for _ in generated.open()) > 10_000  # a year of orders, not a stub
    before = snapshot(home)
    second = seed(home, "--years", "1")
    assert second.returncode == 0 and "0 landing files written" in second.stdout
    assert snapshot(home) == before


def oversized_field(data: Path) -> None:
    edit_line(data / "raw_orders.csv", 9, lambda line: line.replace(",", "," + "x" * 140_000, 1))


def latin1_byte(data: Path) -> None:
    raw = (data / "raw_items.csv").read_bytes().split(b"\n")
    raw[2] = raw[2][:12] + b"\xe9" + raw[2][13:]  # line 3, byte 12 counted from 0
    (data / "raw_items.csv").write_bytes(b"\n".join(raw))


def tweets_without_id(data: Path) -> None:
    edit_line(data / "raw_tweets.csv", 1, lambda line: line.replace("id,", "tweet_id,", 1))


UNUSABLE = {
    # The tweets file is the last one read: before, the shop database was already written.
    "tweets without id": (tweets_without_id, "raw_tweets.csv: missing column id"),
    "field over the csv limit": (
        oversized_field,
        "raw_orders.csv, line 9: a field is over 131072 characters",
    ),
    "latin-1 byte": (
        latin1_byte,
        "raw_items.csv, line 3: not UTF-8 (byte 0xe9 at position 12 of the line)",
    ),
}


@pytest.mark.parametrize("case", UNUSABLE, ids=list(UNUSABLE))
def test_an_unusable_file_fails_the_seed_and_writes_nothing(tmp_path, small_csv_dir, case):
    breaks, first_line = UNUSABLE[case]
    data = copy_of(small_csv_dir, tmp_path / "csv")
    breaks(data)
    started = time.monotonic()
    result = seed(tmp_path / "home", "--from-csv", str(data))
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[0].startswith(f"seed: {data}/{first_line}"), result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < FAILS_WITHIN_SECONDS
    assert_nothing_written(tmp_path / "home")


# The other refusals, on the read step of each source's seed in this process (no command
# start to pay): the same SeedError the command prints.
def _line_edit(name: str, number: int, edit):
    return lambda data: edit_line(data / name, number, edit)


def _cell(name: str, number: int, column: int, value: str):
    def edit(line: str) -> str:
        fields = line.split(",")
        fields[column] = value
        return ",".join(fields)

    return _line_edit(name, number, edit)


def _append_copy(path: Path, number: int) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[number - 1]]) + "\n")


REFUSED = {
    "more fields than the header": (
        _line_edit("raw_orders.csv", 5, lambda line: line + ",7"),
        "raw_orders.csv, line 5: 8 fields where the header has 7",
    ),
    "unclosed quote": (
        _cell("raw_supplies.csv", 4, 1, '"cutlery'),
        "raw_supplies.csv, line 4: broken CSV",
    ),
    "empty primary key": (
        _cell("raw_customers.csv", 6, 0, ""),
        "raw_customers.csv, line 6, column id: empty; it is the primary key",
    ),
    "primary key twice": (
        lambda data: _append_copy(data / "raw_items.csv", 2),
        "again (first on line 2); a key names one row",
    ),
    "order without a time": (
        _cell("raw_orders.csv", 3, 2, ""),
        "raw_orders.csv, line 3, column ordered_at: empty; the row would belong to no day",
    ),
    "time with a zone": (
        _cell("raw_orders.csv", 3, 2, "2018-09-01T14:57:00+02:00"),
        "raw_orders.csv, line 3, column ordered_at: '2018-09-01T14:57:00+02:00' has a time zone",
    ),
    "item of no order": (
        _cell("raw_items.csv", 4, 1, "no-such-order"),
        "raw_items.csv, line 4, column order_id: 'no-such-order' is no order of raw_orders.csv",
    ),
    "name longer than the shop column": (
        _cell("raw_customers.csv", 2, 1, "n" * 300),
        "raw_customers.csv, line 2, column name: 300 characters, more than the 255",
    ),
    "landing value that does not parse": (
        _cell("raw_stores.csv", 3, 3, "6 %"),
        "raw_stores.csv, line 3, column tax_rate: could not convert string to float",
    ),
    "tweet without a time": (
        _cell("raw_tweets.csv", 4, 2, ""),
        "raw_tweets.csv, line 4, column tweeted_at: empty; a tweet's time decides its day's file",
    ),
    "empty file": (
        lambda data: (data / "raw_products.csv").write_bytes(b""),
        "raw_products.csv: empty file, no header",
    ),
}


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory, small_csv_dir) -> Path:
    return copy_of(small_csv_dir, tmp_path_factory.mktemp("refused") / "clean")


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_the_seed_refuses_what_no_source_could_hold(tmp_path, clean_copy, case):
    breaks, message = REFUSED[case]
    data = copy_of(clean_copy, tmp_path / "csv")
    breaks(data)
    with pytest.raises(SeedError) as raised:
        for source_seed in (shop_seed.seed, landing_seed.seed):
            source_seed(data)
    assert str(raised.value).startswith(str(data)), raised.value
    assert message in str(raised.value), raised.value
    assert raised.value.exit_code == 2


def test_the_clean_input_reads_and_a_byte_order_mark_is_removed(tmp_path, clean_copy):
    data = copy_of(clean_copy, tmp_path / "csv")
    (data / "raw_orders.csv").write_bytes(b"\xef\xbb\xbf" + (data / "raw_orders.csv").read_bytes())
    with (data / "raw_customers.csv").open("a") as handle:
        handle.write("\n,\n")  # a blank line and one of empty fields are no records
    assert callable(shop_seed.seed(data)) and callable(landing_seed.seed(data))
