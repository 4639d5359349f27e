"""Faults of the run's own process, through the real command line: a ``data-platform run``
killed with SIGKILL during its dbt build takes dbt with it and leaves the warehouse free; the
next run marks the dead run failed; two runs on one state folder wait for each other.

One state folder of its own (seeded from the session's small CSVs), shared by the tests in
order: the killed run, then two runs at once (the first of which meets the dead run).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import psutil
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from data_platform.core.child_process import DBT_WRAPPER, PARENT_PID
from data_platform.core.errors import PlatformError
from data_platform.headless import LOCK_HOLDER_FILE, PID_TAG, run_lock
from tests import in_process
from tests.conftest import BIN, STATE

DAY = "2018-09-10"
KILLED_DAY = "2018-09-11"


@pytest.fixture(scope="module")
def env(seeded: Path) -> dict[str, str]:
    """The environment of a state folder of its own, seeded from the session's small CSVs."""
    home = STATE / "process-faults"
    environ = {
        **os.environ,
        "DATA_PLATFORM_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
    }
    result = subprocess.run(
        [str(BIN / "data-platform"), "seed", "--from-csv", str(seeded)],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return environ


def start_run(env: dict[str, str], day: str, log: Path) -> subprocess.Popen:
    """``data-platform run --partition DAY`` in its own session, output to ``log``."""
    with log.open("w") as output:
        return subprocess.Popen(
            [str(BIN / "data-platform"), "run", "--partition", day],
            env=env,
            start_new_session=True,  # the test's own clean-up can kill the whole group
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_for(condition, seconds: float, process: subprocess.Popen, log: Path):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    return found


def dbt_build_of(process: subprocess.Popen) -> psutil.Process | None:
    """The ``dbt build`` below ``process`` once it is dbt itself (the wrapper exec'd)."""
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            arguments = child.cmdline()
        except psutil.Error:
            continue
        if any(a.endswith("/dbt") for a in arguments) and "build" in arguments:
            return child
    return None


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    living = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                living.append(process)
        except psutil.NoSuchProcess:
            pass
    return living


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


@pytest.fixture(scope="module")
def killed_run(env, tmp_path_factory) -> dict:
    """A run SIGKILLed during its dbt build: its pid, its children then, and how long they
    outlived it (seconds)."""
    log = tmp_path_factory.mktemp("killed") / "run.log"
    run = start_run(env, KILLED_DAY, log)
    try:
        dbt = wait_for(lambda: dbt_build_of(run), 180, run, log)
        time.sleep(1)  # dbt has opened the warehouse
        children = psutil.Process(run.pid).children(recursive=True)
        os.kill(run.pid, signal.SIGKILL)  # the run's process only: not its group
        run.wait()
        killed = time.monotonic()
        while alive(children) and time.monotonic() - killed < 10:
            time.sleep(0.05)
        return {
            "pid": run.pid,
            "dbt": dbt,
            "children": children,
            "outlived": time.monotonic() - killed,
            "log": log,
        }
    finally:
        kill_group(run)


def test_sigkill_during_dbt_takes_dbt_along_and_frees_the_warehouse(env, killed_run):
    assert killed_run["dbt"] in killed_run["children"]
    assert alive(killed_run["children"]) == [], [p.cmdline() for p in alive(killed_run["children"])]
    assert killed_run["outlived"] < 3, killed_run["outlived"]
    # The warehouse opens read-write at once: no orphan writer holds its lock.
    warehouse = Path(env["DATA_PLATFORM_HOME"]) / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()


def test_next_runs_fail_the_dead_run_and_wait_for_each_other(
    env, killed_run, tmp_path, monkeypatch
):
    home = Path(env["DATA_PLATFORM_HOME"])
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_run(env, DAY, first_log)
    second = None
    try:
        # The first holds the state folder once it has written who holds it.
        wait_for(lambda: _holder_pid(home) == first.pid, 60, first, first_log)
        started = time.monotonic()
        second = start_run(env, DAY, second_log)
        wait_for(lambda: "run: waiting" in second_log.read_text(), 30, second, second_log)
        waited_after = time.monotonic() - started
        assert first.wait(timeout=300) == 0, first_log.read_text()[-3000:]
        assert second.wait(timeout=300) == 0, second_log.read_text()[-3000:]
    finally:
        kill_group(first)
        if second:
            kill_group(second)
    first_out, second_out = first_log.read_text(), second_log.read_text()

    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    with DagsterInstance.get() as instance:
        dead = instance.get_runs(filters=RunsFilter(tags={PID_TAG: str(killed_run["pid"])}))
        (dead_run,) = dead
        assert dead_run.status == DagsterRunStatus.FAILURE
        (first_run,) = instance.get_runs(filters=RunsFilter(tags={PID_TAG: str(first.pid)}))
        assert first_run.status == DagsterRunStatus.SUCCESS  # the waiting run left it alone
    assert (
        f"run: marked run {dead_run.run_id} failed: its process {killed_run['pid']} on "
        in first_out
    )
    assert "marked run" not in second_out
    waiting = next(line for line in second_out.splitlines() if line.startswith("run: waiting"))
    assert waiting.startswith(
        f"run: waiting for the run in progress on {home} (run {first_run.run_id}, pid {first.pid}"
    ), waiting
    # Promptly: the command's own start (imports) and no more.
    assert waited_after < 20, waited_after
    assert "run: the run in progress ended; starting after" in second_out


def _holder_pid(home: Path) -> int | None:
    try:
        return json.loads((home / LOCK_HOLDER_FILE).read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def test_a_run_that_cannot_get_the_state_folder_in_time_fails_with_a_message(tmp_path, capsys):
    home = tmp_path / "home"
    hold = (
        "import time; from pathlib import Path; from data_platform.headless import run_lock\n"
        f"with run_lock(Path({str(home)!r}), 'holder-run'):\n"
        f"    print({in_process.READY!r}, flush=True); time.sleep(120)"
    )
    with in_process.held_by_another_process(hold) as holder:
        started = time.monotonic()
        with pytest.raises(PlatformError) as raised, run_lock(home, "waiter", wait_seconds=1):
            pass
        seconds = time.monotonic() - started
    assert 1 <= seconds < 3, seconds
    assert str(raised.value).startswith(
        f"the run in progress on {home} (run holder-run, pid {holder.pid}, started "
    ), raised.value
    assert str(raised.value).endswith("after 1 s of waiting: let it finish and run again")
    assert capsys.readouterr().out.startswith(f"run: waiting for the run in progress on {home} (")
    # Once the holder is gone (killed: no clean-up), the state folder is free at once.
    with run_lock(home, "next", wait_seconds=0):
        pass


def test_the_dbt_wrapper_refuses_to_start_when_its_parent_is_gone():
    result = subprocess.run(
        [str(BIN / DBT_WRAPPER), "--version"],
        env={**os.environ, PARENT_PID: "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"{DBT_WRAPPER}: the process that started dbt (1) is gone")
