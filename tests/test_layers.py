"""The package's architecture, checked: layers import only downward (import-linter's contract
in pyproject.toml), no import cycle anywhere (grimp), no import hidden in a function but those
a heavy optional dependency justifies, and importing the code location changes nothing."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import grimp

from tests.conftest import BIN

PACKAGE = Path(__file__).resolve().parents[1] / "data_platform"
# Function-level imports with a reason (a comment at the import says why).
LAZY_IMPORTS = {
    ("resources/warehouse.py", "adbc_driver_postgresql.dbapi"),
    # The command line checks its settings, state folder and servers in well under 3 s, then
    # loads Dagster and the code location for the command that needs them.
    ("cli.py", "dagster"),
    ("cli.py", "data_platform.core.partitions"),
    ("cli.py", "data_platform.erasure"),
    ("cli.py", "data_platform.headless"),
    ("cli.py", "data_platform.loading.raw_asset"),
    ("cli.py", "data_platform.resources"),
    ("cli.py", "data_platform.resources.dbt"),
    ("cli.py", "data_platform.seed"),
    ("cli.py", "data_platform.seed_history"),
    ("cli.py", "data_platform.simulate"),
    # Made-up contact details are needed only where the shop is seeded or simulated; every
    # other process (runs, code servers) would pay faker's 35 ms import for nothing.
    ("sources/shop_db/people.py", "faker"),
    # nats-py and aiohttp (about 0.1 s, an SSL context among them) where the broker is NATS.
    ("resources/events.py", "data_platform.resources.nats_broker"),
}


def test_layers_import_only_downward():
    result = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_import_cycles():
    graph = grimp.build_graph("data_platform")
    packages = sorted(m for m in graph.modules if graph.find_children(m))
    assert "data_platform.sources.shop_db" in packages
    assert "data_platform.alerts" in packages  # beside sources and transformation
    cycles = {p: graph.nominate_cycle_breakers(p) for p in packages}
    assert {p: c for p, c in cycles.items() if c} == {}


def test_no_imports_hidden_in_functions():
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(function):
                    if isinstance(node, ast.Import):
                        names = [alias.name for alias in node.names]
                    elif isinstance(node, ast.ImportFrom):
                        names = [node.module or ""]
                    else:
                        continue
                    found |= {(path.relative_to(PACKAGE).as_posix(), n) for n in names}
    assert found == LAZY_IMPORTS


def test_importing_the_code_location_changes_nothing():
    # Checked in a fresh interpreter: this one has imported everything already.
    code = (
        "import os, pandera.pandas, dagster_dbt\n"  # libraries that set variables of their own
        "before = dict(os.environ)\n"
        "import data_platform.definitions, data_platform.cli\n"
        "changed = {k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)}\n"
        "assert not changed, changed\n"
        "import warnings, dagster\n"
        "assert not [f for f in warnings.filters if f[2] is dagster.BetaWarning], 'filters'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
