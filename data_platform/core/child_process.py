"""Child processes that die with the process that started them, even when it is SIGKILLed.

A process killed with SIGKILL cannot clean up: a ``dbt build`` it started would go on holding
the DuckDB lock and building models that Dagster never records. On Linux the kernel can kill a
child when its parent ends: :func:`die_with_parent` sets ``PR_SET_PDEATHSIG`` (kept across
``exec``). The signal fires when the *thread* that started the child ends; dagster-dbt starts
dbt (``subprocess.Popen`` in ``DbtCliInvocation.run``) from the thread that runs the step,
which waits for the invocation to end, so the child lives exactly as long as the step needs it.

dagster-dbt takes dbt as one executable path (``DbtCliResource.dbt_executable``) and gives
``Popen`` no ``preexec_fn``, so the platform starts dbt through :func:`exec_dbt`, the console
script ``data-platform-dbt``: it sets the death signal and replaces itself with dbt
(``os.execv``, same process id, no extra process). It costs one interpreter start without
``site``-heavy imports (this module imports the standard library only): about 20 ms, beside
dbt's own 5-8 s start.

Elsewhere (no ``prctl``: macOS, Windows) it degrades to a plain ``exec``: dbt is then an
orphan if its parent is SIGKILLed, as before.

Chosen over a process group with a watchdog: a watchdog is one more process that must itself
survive or die at the right moment, and a SIGKILLed parent cannot signal its group.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
from pathlib import Path

# The process id of the intended parent, set in dbt's environment by the platform
# (resources/dbt.py): if the parent died between fork and prctl, the child was already
# re-parented and the death signal would never come, so it exits instead.
PARENT_PID = "DATA_PLATFORM_CHILD_OF"
DBT_WRAPPER = "data-platform-dbt"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent (thread) ends; True when
    set (Linux), False where the system has no ``prctl``. Raises ``OSError`` if prctl fails."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = getattr(libc, "prctl", None)
    if prctl is None:
        return False
    if prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")
    return True


def real_dbt() -> str:
    """The dbt this wrapper stands for: ``dbt`` beside this interpreter (the project's
    virtualenv, as ``Settings.dbt_executable`` finds it), else the first ``dbt`` on PATH.
    Raises ``FileNotFoundError`` naming both places."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.is_file():
        return str(beside)
    found = shutil.which("dbt")
    if not found:
        raise FileNotFoundError(
            f"no dbt at {beside} nor on PATH: install the project (make install)"
        )
    return found


def exec_dbt() -> None:
    """Console script ``data-platform-dbt ARGS...``: ``dbt ARGS...`` in this process, killed
    by the kernel when the process that started it ends. Exits 1 if that process is already
    gone; does not return otherwise."""
    die_with_parent()
    expected = os.environ.get(PARENT_PID)
    if expected and expected.isdigit() and os.getppid() != int(expected):
        sys.exit(f"{DBT_WRAPPER}: the process that started dbt ({expected}) is gone; not starting")
    dbt = real_dbt()
    os.execv(dbt, [dbt, *sys.argv[1:]])
