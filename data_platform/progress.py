"""What a person sees of a headless run: its progress, not Dagster's debug lines.

While :class:`RunProgress` is entered:

- **The terminal** (the stream given, ``sys.stdout`` by default) shows the run's progress:
  the step running of the steps of the job, the days a step has loaded of the run's
  partitions (from its ``YYYY-MM-DD..YYYY-MM-DD`` log lines), materializations so far and
  the time elapsed, from the moment the run is planned (Dagster records a planned event per
  asset and partition before the first step: about a minute for a year). On a terminal that
  is a ``rich`` progress bar with a line per finished step above it; elsewhere (CI, ``make``
  piped to a file, the tests) a plain line per finished step and a status line every
  :data:`HEARTBEAT_SECONDS` while nothing else was said.
- **The run's full log** goes to ``<home>/logs/run-<run_id>.log``, named in the first line:
  the lines Dagster's console logger prints (its ``console`` logger is replaced by
  :meth:`RunProgress.definitions` for this run), and everything the process and its children
  write to stdout and stderr meanwhile (dbt's output, warnings), since file descriptors 1 and
  2 point at the log for the run's duration. Dagster's event log in the instance and the
  run's captured stdout/stderr (the UI) are unchanged.

The run's config names the ``console`` logger with no config (:data:`RUN_CONFIG`), which the
code location's default console logger accepts as well, so the run can be re-executed from
the UI as it was launched.

Lines shown pass through :func:`~data_platform.core.errors.redact` (passwords in URLs): the
terminal stream is a duplicate of the terminal's descriptor, past the command's own masking.
Failed steps and checks are named; their errors are in the run's summary and the log.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Self, TextIO

from dagster import DagsterEventType, Definitions, InitLoggerContext, LoggerDefinition
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column

from data_platform.core.errors import redact

# A status line at least this often in plain output while nothing else is printed.
HEARTBEAT_SECONDS = 15.0
LOG_FOLDER = "logs"
# The run config that selects the run's console logger (the one of definitions()).
RUN_CONFIG = {"loggers": {"console": {}}}
# A step's log line naming the days it has done, as the raw loaders log each batch
# ("raw.orders 2018-09-01..2018-10-01: 1709 rows read, ...").
DAY_RANGE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})\b")
# The format of Dagster's console logger, for the log file.
LOG_FORMAT = "%(asctime)s - dagster - %(levelname)s - %(message)s"

_STEP_DONE = {
    DagsterEventType.STEP_SUCCESS: "done",
    DagsterEventType.STEP_FAILURE: "FAILED",
    DagsterEventType.STEP_SKIPPED: "skipped",
}


def log_path(home: Path, run_id: str) -> Path:
    """Where the full log of run ``run_id`` goes: ``<home>/logs/run-<run_id>.log``."""
    return home / LOG_FOLDER / f"run-{run_id}.log"


class RunProgress:
    """Follows one run (``run_id``, the job ``job_name``, daily partitions ``days``, first and
    last inclusive, or ``None``) as the module docstring says; a context manager.

    ``interactive`` chooses the progress bar (default: whether ``stream`` is a terminal)."""

    def __init__(
        self,
        run_id: str,
        job_name: str,
        log: Path,
        days: tuple[dt.date, dt.date] | None = None,
        *,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ):
        self.run_id = run_id
        self.job_name = job_name
        self.log = log
        self.days = days
        self._stream = stream or sys.stdout
        self._interactive = interactive
        self._heartbeat_seconds = heartbeat_seconds
        self._lock = threading.RLock()
        self._started = self._said = time.monotonic()  # again when entered
        self._running = False  # the run has started (its planning is over)
        self._ended = False
        self.steps_total: int | None = None
        self.steps_done = 0
        self.current: str | None = None
        self._step_started: dict[str, float] = {}
        self._step_days: dict[str, tuple[int, str]] = {}  # step: (days done, last day)
        self._step_materializations: dict[str, int] = {}
        self.materializations = 0
        self.checks_failed = 0
        self.failed = False
        self._file_handler: logging.Handler | None = None
        self._redirect: _OutputToLog | None = None
        self._out: TextIO = self._stream
        self._bar: Progress | None = None
        self._task = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # -- Dagster's side ---------------------------------------------------------------------

    def definitions(self) -> Definitions:
        """Definitions to merge with the code location's: this run's ``console`` logger."""
        return Definitions(loggers={"console": self.logger_definition()})

    def logger_definition(self) -> LoggerDefinition:
        """A logger writing Dagster's log lines to the log file and following the run."""

        def make_logger(init_context: InitLoggerContext) -> logging.Logger:
            # Dagster makes one per log manager of the run; each feeds this object.
            with self._lock:
                if init_context.job_def is not None and self.steps_total is None:
                    self.steps_total = len(init_context.job_def.nodes)
            # Outside logging's registry (getLogger would keep one per run for good) and
            # without a parent: nothing reaches the root logger's handlers.
            logger = logging.Logger(f"data_platform.run.{self.run_id}", logging.DEBUG)  # noqa: LOG001
            logger.addHandler(_Follow(self))
            if self._file_handler is not None:
                logger.addHandler(self._file_handler)
            return logger

        return LoggerDefinition(
            make_logger, description="The headless run's console: progress, and a log file."
        )

    def handle(self, record: logging.LogRecord) -> None:
        """Take one of the run's log records into account (called by the run's logger)."""
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key")
        with self._lock:
            self._running = True
            if event is None:
                if step and (found := DAY_RANGE.search(str(meta.get("orig_message", "")))):
                    self._days_reached(step, found.group(2))
                return
            kind = event.event_type
            if kind == DagsterEventType.STEP_START:
                self.current = step
                self._step_started[step] = time.monotonic()
            elif kind == DagsterEventType.ASSET_MATERIALIZATION:
                self.materializations += 1
                self._step_materializations[step] = self._step_materializations.get(step, 0) + 1
            elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
                if not event.asset_check_evaluation_data.passed:
                    self.checks_failed += 1
            elif kind in _STEP_DONE:
                self._step_done(step, _STEP_DONE[kind], event)
            elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
                self.failed = kind == DagsterEventType.RUN_FAILURE
                self._ended = True
                if self.steps_total and self.steps_done < self.steps_total:
                    missing = self.steps_total - self.steps_done
                    self._say(f"{missing} of {self.steps_total} steps not run (see the log)")
            self._refresh()

    def _days_reached(self, step: str, last_day: str) -> None:
        if self.days is None:
            return
        try:
            done = (dt.date.fromisoformat(last_day) - self.days[0]).days + 1
        except ValueError:
            return
        self._step_days[step] = (max(0, min(done, self.total_days)), last_day)
        self._refresh()

    def _step_done(self, step: str, outcome: str, event) -> None:
        self.steps_done += 1
        if self.current == step:
            self.current = None
        started = self._step_started.get(step)
        took = f" in {time.monotonic() - started:.1f} s" if started is not None else ""
        made = self._step_materializations.get(step, 0)
        line = f"{outcome} {step}{took}"
        if made:
            line += f" ({_count(made, 'materialization')})"
        if event.event_type == DagsterEventType.STEP_FAILURE:
            self.failed = True
        self._say(f"step {self.steps_done}/{self.steps_total or '?'} {line}")

    # -- what is shown ----------------------------------------------------------------------

    @property
    def total_days(self) -> int:
        return (self.days[1] - self.days[0]).days + 1 if self.days else 0

    def status(self) -> str:
        """One line: the phase or the step running, its days, materializations so far."""
        with self._lock:
            if not self._running:
                return "planning: Dagster records the run's planned materializations"
            if self._ended:
                text = "finished"
            elif self.current is None:
                text = "between steps"
            else:
                text = f"step {self.steps_done + 1}/{self.steps_total or '?'} {self.current}"
                if self.current in self._step_days:
                    done, last = self._step_days[self.current]
                    text += f", day {done}/{self.total_days} ({last})"
            text += f"; {_count(self.materializations, 'materialization')}"
            if self.checks_failed:
                text += f", {_count(self.checks_failed, 'check')} failed"
            return text

    def _elapsed(self) -> str:
        return str(dt.timedelta(seconds=int(time.monotonic() - self._started)))

    def _say(self, text: str) -> None:
        """A line above the bar, or a plain line."""
        line = redact(f"run: {text}")
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            print(f"{line} [{self._elapsed()}]", file=self._out, flush=True)
        self._said = time.monotonic()

    def _refresh(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                description=redact(self.status()),
                completed=self.steps_done,
                total=self.steps_total,
            )

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self._heartbeat_seconds)):
            with self._lock:
                if time.monotonic() - self._said >= self._heartbeat_seconds:
                    self._say(self.status())

    # -- the context ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.log, mode="a", encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S %z"))
        self._file_handler = handler
        self._redirect = _OutputToLog(self.log, self._stream)
        self._out = self._redirect.__enter__()
        interactive = self._interactive
        if interactive is None:
            interactive = _isatty(self._out)
        window = (
            f" over {self.total_days} days ({self.days[0]}..{self.days[1]})" if self.days else ""
        )
        self._started = self._said = time.monotonic()
        print(
            redact(f"run {self.run_id}: {self.job_name}{window}; full log: {self.log}"),
            file=self._out,
            flush=True,
        )
        if interactive:
            # The description last: on a narrow terminal it is what gets cut.
            self._bar = Progress(
                SpinnerColumn(),
                TimeElapsedColumn(),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TextColumn("steps"),
                TextColumn(
                    "{task.description}",
                    table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"),
                ),
                console=Console(file=self._out, force_terminal=True),
                # Output the run itself prints goes to the log, not above the bar.
                redirect_stdout=False,
                redirect_stderr=False,
                transient=False,
                refresh_per_second=2,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.status(), total=None)
        else:
            self._heartbeat = threading.Thread(target=self._beat, name="run-progress", daemon=True)
            self._heartbeat.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        if self._bar is not None:
            self._refresh()
            self._bar.stop()
        if self.failed or exc_info[0] is not None:
            print(redact(f"run: full log in {self.log}"), file=self._out, flush=True)
        if self._redirect is not None:
            self._redirect.__exit__(*exc_info)
        if self._file_handler is not None:
            self._file_handler.close()


class _Follow(logging.Handler):
    def __init__(self, progress: RunProgress):
        super().__init__(logging.DEBUG)
        self._progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self._progress.handle(record)


class _OutputToLog:
    """File descriptors 1 and 2 appended to ``log`` while entered; yields a text stream to
    where ``stream`` wrote before (a duplicate of its descriptor), or ``stream`` itself when
    it has no descriptor (pytest's capsys)."""

    def __init__(self, log: Path, stream: TextIO):
        self._log = log
        self._stream = stream
        self._saved: tuple[int, int] | None = None
        self._terminal: TextIO | None = None

    def __enter__(self) -> TextIO:
        try:
            target = self._stream.fileno()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return self._stream
        for stream in (self._stream, sys.stdout, sys.stderr):
            stream.flush()
        self._terminal = open(os.dup(target), "w", buffering=1, encoding="utf-8", errors="replace")
        self._saved = os.dup(1), os.dup(2)
        log_fd = os.open(self._log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
        finally:
            os.close(log_fd)
        return self._terminal

    def __exit__(self, *exc_info) -> None:
        if self._saved is None:
            return
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self._terminal.close()


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
