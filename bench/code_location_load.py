"""Seconds to load the code location in a fresh interpreter, against bare baselines.

Every run process, code server and ``data-platform`` command pays this before any work:
``python -c pass``, ``import dagster, dagster_dbt`` (the libraries alone), and importing
``data_platform.definitions`` then building the definitions (``defs()``). Prints the median of
``--repeat`` runs of each, and each as a ratio of the libraries-alone baseline, in one go.

    .venv/bin/python bench/code_location_load.py --repeat 5

Needs a prepared manifest (``data-platform prepare``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": "pass",
    "import dagster, dagster_dbt": "import dagster, dagster_dbt",
    "import data_platform.definitions": "import data_platform.definitions",
    "import + defs()": "import data_platform.definitions as d; d.defs()",
}


def seconds(code: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    medians = {}
    for name, code in CASES.items():
        runs = [seconds(code) for _ in range(args.repeat)]
        medians[name] = statistics.median(runs)
        print(f"  measured {name}: {', '.join(f'{r:.2f}' for r in runs)} s", file=sys.stderr)
    baseline = medians["import dagster, dagster_dbt"]
    print(f"{'case':36} {'median s':>9} {'x libraries':>12}")
    for name, value in medians.items():
        print(f"{name:36} {value:9.2f} {value / baseline:12.2f}")


if __name__ == "__main__":
    main()
