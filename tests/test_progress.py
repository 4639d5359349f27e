"""What a headless run prints: its progress, a log file with Dagster's lines, the summary."""

import datetime as dt
import io
import re
import time
from pathlib import Path

from dagster import (
    DagsterEventType,
    DagsterInstance,
    Definitions,
    asset,
    define_asset_job,
    validate_run_config,
)

from data_platform.progress import RUN_CONFIG, RunProgress

DAYS = (dt.date(2018, 9, 1), dt.date(2018, 9, 10))


def test_the_run_prints_progress_and_logs_dagster_lines_to_a_file(full_run, defs):
    assert full_run.returncode == 0, full_run.stdout[-3000:] + full_run.stderr[-3000:]
    lines = full_run.stdout.splitlines()
    assert not any(" - DEBUG - " in line for line in lines + full_run.stderr.splitlines())
    [start] = [line for line in lines if "full log: " in line]
    log = Path(start.split("full log: ", 1)[1])
    steps = len(defs.resolve_job_def("all_assets_job").nodes)
    assert f"run: step {steps}/{steps} done" in full_run.stdout
    assert len(lines) < steps + 20  # a line a step, a few more; not thousands
    # The summary as before, last.
    assert re.search(r"^run \S+: SUCCESS in [\d.]+ s$", lines[-4])
    assert lines[-3].startswith("  partitions: ") and lines[-2].startswith("  materializations: ")

    text = log.read_text()
    assert " - dagster - DEBUG - all_assets_job - " in text and "RUN_SUCCESS" in text
    assert "Running with dbt=" in text  # what dbt printed went to the log too
    assert text.count("STEP_SUCCESS") == steps


def test_the_run_keeps_its_events_and_can_be_re_executed_as_launched(full_run, defs):
    (run_id,) = re.findall(r"^run ([0-9a-f-]{36}): SUCCESS", full_run.stdout, re.MULTILINE)
    instance = DagsterInstance.get()
    run = instance.get_run_by_id(run_id)
    assert run.run_config == RUN_CONFIG
    # The UI re-executes with the same config against the code location's own job.
    assert validate_run_config(defs.resolve_job_def("all_assets_job"), run.run_config)
    steps = len(defs.resolve_job_def("all_assets_job").nodes)
    events = instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS)
    assert len(events) == steps  # the instance's event log, complete


@asset
def slow_days(context) -> None:
    context.log.info("raw.x 2018-09-01..2018-09-05: 5 rows read")
    time.sleep(1.0)


def follow(tmp_path: Path, interactive: bool) -> tuple[str, RunProgress]:
    """Run a one-asset job under RunProgress; what it printed and the progress object."""
    stream = io.StringIO()
    progress = RunProgress(
        "a-run",
        "job",
        tmp_path / "logs" / "run.log",
        DAYS,
        stream=stream,
        interactive=interactive,
        heartbeat_seconds=0.3,
    )
    defs = Definitions(assets=[slow_days], jobs=[define_asset_job("job")])
    job = Definitions.merge(defs, progress.definitions()).resolve_job_def("job")
    with DagsterInstance.ephemeral() as instance, progress:
        time.sleep(0.5)  # as Dagster records the plan
        assert job.execute_in_process(instance=instance, run_config=RUN_CONFIG).success
    return stream.getvalue(), progress


def test_plain_progress_names_the_phase_the_step_and_its_days(tmp_path):
    printed, progress = follow(tmp_path, interactive=False)
    lines = printed.splitlines()
    assert (
        lines[0]
        == f"run a-run: job over 10 days (2018-09-01..2018-09-10); full log: {progress.log}"
    )
    assert any(line.startswith("run: planning") for line in lines)
    assert any(
        "step 1/1 slow_days, day 5/10 (2018-09-05); 0 materializations" in line for line in lines
    )
    assert any(
        re.match(r"run: step 1/1 done slow_days in 1\.\d s \(1 materialization\)", line)
        for line in lines
    )
    assert "STEP_SUCCESS" in progress.log.read_text()


def test_a_terminal_gets_a_progress_bar(tmp_path):
    printed, _ = follow(tmp_path, interactive=True)
    assert "\x1b[" in printed  # drawn in place, in colour
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", printed)
    assert "1/1 steps finished; 1 materialization" in text
    assert "run: step 1/1 done slow_days" in text
