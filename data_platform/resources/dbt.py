"""dbt: the project handle and the CLI resource that runs it against the configured warehouse.

dbt reads its connection from ``dbt_project/profiles.yml``, which reads environment variables
(the target and the warehouse's path or host, port, user, password and database). Those are
derived from ``DATA_PLATFORM_WAREHOUSE_URL`` (:func:`~data_platform.core.settings.dbt_profile_env`), never set by
hand; :class:`WarehouseDbtCliResource` passes them to each dbt invocation only, so the process
environment stays as it was.

dbt runs through the ``data-platform-dbt`` wrapper (:mod:`data_platform.core.child_process`),
so a run killed by any signal, SIGKILL included, takes its dbt with it (:func:`dbt_executable`).

What a dbt step pays before dbt works, and what this resource leaves out of dagster-dbt's
``cli()`` (measured on this project: ``bench/run_profile.py``):

- ``dbt --version`` in a subprocess, once per run (dagster-dbt's ``_cli_version``, to tell dbt
  Core from the Fusion engine): 2.5-3 s. The dbt this resource starts is the dbt-core installed
  beside it (``data-platform-dbt`` execs it), so its version is read from the package.
- A dbt adapter built in the Dagster process for each invocation (``_initialize_dbt_core_adapter``,
  0.3-1.6 s), which dagster-dbt uses only for ``fetch_row_counts()`` and
  ``fetch_column_metadata()``: the platform uses neither (dbt logs the row counts itself,
  :mod:`data_platform.transformation.row_counts`; column schemas come from the contracts).
- dbt's parse. Each state folder keeps its dbt artifacts in ``<home>/dbt/target`` (not in the
  project folder, where every invocation's folder piled up): dagster-dbt copies
  ``partial_parse.msgpack`` from there into each invocation's folder, and
  :meth:`WarehouseDbtCliResource.keep_partial_parse` writes the invocation's back, so the next
  one parses only what changed. The daily step passes its partition window in the
  environment (``DATA_PLATFORM_DBT_MIN_DATE``/``_MAX_DATE``, read by the ``partition_window``
  macro), not as ``--vars``: dbt re-parses the whole project when its vars change, but only
  the files that read an environment variable when that variable changes.

Each invocation's folder (``dbt.log`` at dbt's debug level, the compiled SQL, the partial
parse: 4-5 MB) is kept for looking into a run afterwards, but not for ever: a daily run a day
and a stream micro-batch every few minutes would fill a disk in months. After each
invocation, :meth:`WarehouseDbtCliResource.finish_invocation` deletes the step's older
folders beyond the newest :data:`INVOCATIONS_KEPT` (per step, so the stream's micro-batches
do not push out the batch steps' logs). What a run's dbt said stays in its Dagster run log.

The first two are dagster-dbt's private methods, overridden here; ``tests/test_helpers.py``
fails if dagster-dbt renames them.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from functools import cached_property
from pathlib import Path

from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject
from dbt.version import __version__ as DBT_CORE_VERSION
from packaging import version
from pydantic import Field

from data_platform.core.child_process import DBT_WRAPPER, PARENT_PID
from data_platform.core.settings import DBT_PROJECT_DIR, Settings, dbt_profile_env

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# dagster-dbt copies os.environ when it starts dbt and when it builds its in-process adapter;
# the profile's variables are there for exactly that moment, one invocation at a time.
_ENVIRONMENT = threading.Lock()


PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# The folder under dbt_project/target a prepare parses into: <prefix><pid>-<random>.
STAGING_PREFIX = ".prepare-"
# Artifacts folders kept per dbt step under target_dir (the module's docstring).
INVOCATIONS_KEPT = 20
# An invocation's folder as dagster-dbt names it: <step>-<run id's first 7>-<7 random hex>.
INVOCATION_FOLDER = re.compile(r"^(?P<step>.+)-[0-9a-f]{7}-[0-9a-f]{7}$")


def stale_invocations(folders: Mapping[str, float], keep: int) -> list[str]:
    """Which invocation folders to delete: of ``folders`` (name -> modification time), per
    step, all but the ``keep`` newest; names that are not an invocation folder's
    (:data:`INVOCATION_FOLDER`) are never picked. Sorted by name."""
    by_step: dict[str, list[tuple[float, str]]] = {}
    for name, modified in folders.items():
        if match := INVOCATION_FOLDER.match(name):
            by_step.setdefault(match["step"], []).append((modified, name))
    stale = []
    for found in by_step.values():
        stale += [name for _, name in sorted(found, reverse=True)[keep:]]
    return sorted(stale)


class WarehouseDbtCliResource(DbtCliResource):
    """dagster-dbt's CLI resource, with the dbt profile of the warehouse at ``warehouse_url``,
    the artifacts of each invocation under ``target_dir``, and without the work dagster-dbt
    does for features the platform does not use (see the module's docstring)."""

    warehouse_url: str = Field(
        description="The warehouse dbt builds in (DATA_PLATFORM_WAREHOUSE_URL): it picks the "
        "dbt target and the connection profiles.yml reads."
    )
    target_dir: str | None = Field(
        default=None,
        description="Where each dbt invocation writes its artifacts and logs (a folder per "
        "invocation) and where the state folder's partial parse is kept: <home>/dbt/target. "
        "Default: dbt_project/target.",
    )
    invocations_kept: int = Field(
        default=INVOCATIONS_KEPT,
        ge=1,
        description="Artifacts folders (dbt.log, compiled SQL) kept per dbt step under "
        "target_dir; older ones are deleted after each invocation.",
    )

    def cli(self, args, *, env: Mapping[str, str] | None = None, **kwargs) -> DbtCliInvocation:
        """``DbtCliResource.cli`` with the warehouse's profile variables and ``env`` set for
        dbt, and this process's id for the wrapper to check that its parent is still there."""
        values = {
            **dbt_profile_env(self.warehouse_url),
            **(env or {}),
            PARENT_PID: str(os.getpid()),
        }
        if self.target_dir:
            target = Path(self.target_dir)
            _seed_partial_parse(target)
            # dagster-dbt reads it (_get_dbt_target_path) for the invocation's folder and
            # the partial parse it copies there.
            values["DBT_TARGET_PATH"] = str(target)
        with _environment(values):
            return super().cli(args, **kwargs)

    def invocation_path(self, step: str, run_id: str) -> Path:
        """A new artifacts folder for an invocation started without a step context, named as
        dagster-dbt names a step's (``<step>-<run id>-<random>``, under ``target_dir``)."""
        base = Path(self.target_dir) if self.target_dir else Path(self.project_dir) / "target"
        return base / f"{step}-{run_id[:7]}-{uuid.uuid4().hex[:7]}"

    def finish_invocation(self, invocation: DbtCliInvocation) -> None:
        """After an invocation (finished or not): keep its partial parse
        (:meth:`keep_partial_parse`) and delete its step's folders beyond the newest
        :attr:`invocations_kept` (:func:`stale_invocations`). Nothing under ``target_dir``
        but invocation folders is touched; a folder that cannot be deleted is left for the
        next time."""
        self.keep_partial_parse(invocation)
        if not self.target_dir:
            return
        base = Path(self.target_dir)
        match = INVOCATION_FOLDER.match(Path(invocation.target_path).name)
        if match is None:
            return
        folders = {}
        for path in base.glob(f"{match['step']}-*"):
            with suppress(OSError):  # deleted meanwhile by another run's step
                if path.is_dir():
                    folders[path.name] = path.stat().st_mtime
        for name in stale_invocations(folders, self.invocations_kept):
            shutil.rmtree(base / name, ignore_errors=True)

    def keep_partial_parse(self, invocation: DbtCliInvocation) -> None:
        """Keep the invocation's partial parse for the next one (replacing the state folder's
        atomically); nothing when dbt wrote none or ``target_dir`` is not set."""
        written = Path(invocation.target_path) / PARTIAL_PARSE_FILE
        if not self.target_dir or not written.is_file():
            return
        kept = Path(self.target_dir) / PARTIAL_PARSE_FILE
        staged = kept.with_name(f".{PARTIAL_PARSE_FILE}.{os.getpid()}")
        with suppress(OSError):  # a lost partial parse costs the next invocation a full parse
            shutil.copyfile(written, staged)
            os.replace(staged, kept)

    @cached_property
    def _cli_version(self) -> version.Version:
        # Overrides dagster-dbt's `dbt --version` subprocess: the dbt started is this
        # environment's dbt-core (see dbt_executable).
        return version.parse(DBT_CORE_VERSION)

    def _initialize_dbt_core_adapter(self, args):
        # dagster-dbt builds an adapter in this process for fetch_row_counts() and
        # fetch_column_metadata() only; the platform uses neither.
        return None


def dbt_executable(settings: Settings) -> str:
    """What the dbt resource starts: the ``data-platform-dbt`` wrapper beside this interpreter
    (dbt killed with its parent), else ``Settings.dbt_executable`` (dbt itself: a checkout not
    installed, where the wrapper's console script does not exist)."""
    wrapper = Path(sys.executable).parent / DBT_WRAPPER
    return str(wrapper) if wrapper.is_file() else settings.dbt_executable


def dbt_target_dir(settings: Settings) -> Path:
    """The state folder's dbt artifacts: ``<home>/dbt/target``."""
    return settings.home / "dbt" / "target"


def dbt_cli(settings: Settings) -> WarehouseDbtCliResource:
    """The dbt resource for command-line use (values, not ``EnvVar``s). Its artifacts stay in
    ``dbt_project/target``: ``prepare`` writes the manifest the code location reads there."""
    return WarehouseDbtCliResource(
        project_dir=dbt_project,
        dbt_executable=dbt_executable(settings),
        warehouse_url=settings.warehouse_url,
    )


def _seed_partial_parse(target: Path) -> None:
    # A state folder's first invocation starts from the prepared project's partial parse
    # (dbt itself re-parses in full if it was made for another profile).
    kept = target / PARTIAL_PARSE_FILE
    prepared = dbt_project.project_dir / "target" / PARTIAL_PARSE_FILE
    if kept.exists() or not prepared.is_file():
        return
    target.mkdir(parents=True, exist_ok=True)
    staged = kept.with_name(f".{PARTIAL_PARSE_FILE}.{os.getpid()}")
    with suppress(OSError):
        shutil.copyfile(prepared, staged)
        os.replace(staged, kept)


def prepare_manifest(settings: Settings) -> bool:
    """``dbt parse`` into ``dbt_project/target/manifest.json`` (what ``@dbt_assets`` reads when
    the code location loads), for the settings' warehouse; True on success.

    dbt writes its artifacts in place, and any process may load the code location meanwhile
    (a run, a test, a code server): one read a manifest half written ("Expecting property
    name enclosed in double quotes") while another prepared. So dbt parses into a folder of
    its own under ``target/``, from the current partial parse, and each artifact then replaces
    the old one whole (``os.replace``); a failed parse leaves the old ones."""
    target = dbt_project.project_dir / "target"
    _remove_abandoned_staging(target)
    staging = target / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:7]}"
    try:
        invocation = dbt_cli(settings).cli(["parse"], target_path=staging, raise_on_error=False)
        if not invocation.wait().is_successful():
            return False
        for artifact in sorted(staging.iterdir(), key=lambda p: p.name == "manifest.json"):
            if artifact.is_file():  # the manifest last: what a reader finds is complete
                os.replace(artifact, target / artifact.name)
        return True
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_abandoned_staging(target: Path) -> None:
    # A prepare killed mid-parse (SIGKILL skips its clean-up) leaves its folder; the process
    # named in it is gone.
    for folder in target.glob(f"{STAGING_PREFIX}*"):
        pid = folder.name[len(STAGING_PREFIX) :].split("-")[0]
        if pid.isdigit() and not _process_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def prepare_manifest_if_stale(settings: Settings) -> bool:
    """Parse when the manifest is missing or older than a file of the dbt project; True when
    the manifest is (now) fresh."""
    manifest = dbt_project.manifest_path
    sources = [p for p in DBT_PROJECT_DIR.rglob("*") if _is_project_file(p)]
    if manifest.exists() and all(p.stat().st_mtime <= manifest.stat().st_mtime for p in sources):
        return True
    return prepare_manifest(settings)


def _is_project_file(path: Path) -> bool:
    parts = path.relative_to(DBT_PROJECT_DIR).parts
    return path.is_file() and parts[0] not in ("target", "logs") and path.suffix in (".sql", ".yml")


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    with _ENVIRONMENT:
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
