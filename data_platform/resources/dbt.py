"""dbt: the project handle and the CLI resource that runs it against the configured warehouse.

dbt reads its connection from ``dbt_project/profiles.yml``, which reads environment variables
(the target and the warehouse's path or host, port, user, password and database). Those are
derived from ``DATA_PLATFORM_WAREHOUSE_URL`` (:func:`~data_platform.core.settings.dbt_profile_env`), never set by
hand; :class:`WarehouseDbtCliResource` passes them to each dbt invocation only, so the process
environment stays as it was.

dbt runs through the ``data-platform-dbt`` wrapper (:mod:`data_platform.core.child_process`),
so a run killed by any signal, SIGKILL included, takes its dbt with it (:func:`dbt_executable`).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject
from pydantic import Field

from data_platform.core.child_process import DBT_WRAPPER, PARENT_PID
from data_platform.core.settings import DBT_PROJECT_DIR, Settings, dbt_profile_env

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# dagster-dbt copies os.environ when it starts dbt and when it builds its in-process adapter;
# the profile's variables are there for exactly that moment, one invocation at a time.
_ENVIRONMENT = threading.Lock()


class WarehouseDbtCliResource(DbtCliResource):
    """dagster-dbt's CLI resource, with the dbt profile of the warehouse at ``warehouse_url``."""

    warehouse_url: str = Field(
        description="The warehouse dbt builds in (DATA_PLATFORM_WAREHOUSE_URL): it picks the "
        "dbt target and the connection profiles.yml reads."
    )

    def cli(self, args, **kwargs) -> DbtCliInvocation:
        """``DbtCliResource.cli`` with the warehouse's profile variables set for dbt, and this
        process's id for the wrapper to check that its parent is still there."""
        values = {**dbt_profile_env(self.warehouse_url), PARENT_PID: str(os.getpid())}
        with _environment(values):
            return super().cli(args, **kwargs)


def dbt_executable(settings: Settings) -> str:
    """What the dbt resource starts: the ``data-platform-dbt`` wrapper beside this interpreter
    (dbt killed with its parent), else ``Settings.dbt_executable`` (dbt itself: a checkout not
    installed, where the wrapper's console script does not exist)."""
    wrapper = Path(sys.executable).parent / DBT_WRAPPER
    return str(wrapper) if wrapper.is_file() else settings.dbt_executable


def dbt_cli(settings: Settings) -> WarehouseDbtCliResource:
    """The dbt resource for command-line use (values, not ``EnvVar``s)."""
    return WarehouseDbtCliResource(
        project_dir=dbt_project,
        dbt_executable=dbt_executable(settings),
        warehouse_url=settings.warehouse_url,
    )


def prepare_manifest(settings: Settings) -> bool:
    """``dbt parse`` into ``dbt_project/target/manifest.json`` (what ``@dbt_assets`` reads when
    the code location loads), for the settings' warehouse; True on success."""
    invocation = dbt_cli(settings).cli(["parse"], target_path=Path("target"), raise_on_error=False)
    return invocation.wait().is_successful()


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
