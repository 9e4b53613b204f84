"""offload.jobs stands below offload.runtime: each jobs module imports on its own in a fresh
interpreter, without loading offload.runtime (which imports the job store and queues)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import offload.jobs

JOBS_MODULES = sorted(f"offload.jobs.{m.name}" for m in pkgutil.iter_modules(offload.jobs.__path__))
CHECK = (
    "import importlib, sys; importlib.import_module(sys.argv[1]); "
    "loaded = 'offload.runtime' in sys.modules; "
    "print('offload.runtime was imported' if loaded else 'ok'); sys.exit(1 if loaded else 0)"
)


def test_every_jobs_module_is_checked() -> None:
    assert {"offload.jobs.enqueue", "offload.jobs.worker", "offload.jobs.admin", "offload.jobs.store"} <= set(
        JOBS_MODULES
    )


@pytest.mark.parametrize("module", JOBS_MODULES)
def test_a_jobs_module_imports_first_in_a_fresh_interpreter_without_offload_runtime(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", CHECK, module], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, f"{module}: {done.stdout}{done.stderr}"
