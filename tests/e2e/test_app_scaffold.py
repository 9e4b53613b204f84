"""An app that adopts offload as a dependency: `offload init` -> its tests -> synth -> local up -> a job.

And an app whose catalog is wrong: synth and `offload local up` each stop with one line that names it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import OFFLOAD, ROOT, start_local, stop_local

pytestmark = pytest.mark.slow


def _clean_env() -> dict[str, str]:
    """A new user's shell: no offload or endpoint variables, no test-only pythonpath."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OFFLOAD_", "PYTEST_")) and k not in ("AWS_ENDPOINT_URL", "PYTHONPATH", "REDIS_URL")
    }


def _run(cmd: list[str], cwd: Path, timeout: int = 900, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        cmd, cwd=cwd, env={**_clean_env(), **env}, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.mark.timeout(1200)  # a fresh venv with offload and the CDK installed: minutes on a loaded machine
def test_a_scaffolded_app_passes_its_tests_synthesizes_clean_and_runs_its_job_locally(tmp_path: Path) -> None:
    # Given a new app scaffolded next to nothing else, installing offload from this checkout
    app = tmp_path / "shop_jobs"
    _run([OFFLOAD, "init", str(app), "--offload", str(ROOT)], cwd=tmp_path)
    assert (app / "shop_jobs" / "jobs.py").is_file() and (app / "cdk.json").is_file()
    # when its own `make test` runs (fresh venv, offload and its pins installed, the example's tests)
    tests = _run(["make", "test"], cwd=app)
    # then its tests pass through offload's real worker on moto
    assert "2 passed" in tests.stdout
    # and its synth passes cdk-nag, with only what its catalog (core + its own queue) needs
    _run(["make", "synth"], cwd=app)
    template = json.loads((app / "cdk.out" / "ShopJobs.template.json").read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert not types & {"AWS::EC2::VPC", "AWS::ElastiCache::ReplicationGroup", "AWS::StepFunctions::StateMachine"}
    workers = [
        r["Properties"]["Environment"]["Variables"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == "offload.handlers.worker.handler"
    ]
    assert {w["OFFLOAD_QUEUE"] for w in workers} == {"default", "notifications", "shop_jobs"}
    assert {w["OFFLOAD_CATALOG"] for w in workers} == {"shop_jobs.jobs:catalog"}
    # and `offload local up` (the app's own, from its venv) runs the stack and completes its job via the CLI
    app_offload = str(app / ".venv" / "bin" / "offload")
    stack = start_local(None, tmp_path, offload=app_offload, cwd=app, env=_clean_env())
    try:
        env = {**_clean_env(), **stack.env()}
        added = subprocess.run(
            [app_offload, "jobs", "add", "shop_jobs.greet", "--data", '{"name": "Ada"}'],
            cwd=app, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        job_id = json.loads(added.stdout)["jobId"]
        deadline = time.time() + 60
        while True:
            got = subprocess.run(
                [app_offload, "jobs", "get", job_id, "--json"], cwd=app, env=env, capture_output=True, text=True
            )
            job = json.loads(got.stdout) if got.returncode == 0 else {}
            if job.get("status") in ("completed", "failed") or time.time() > deadline:
                break
            time.sleep(0.5)
        assert job["status"] == "completed", job
        assert job["result"] == {"greeting": "Hello, Ada!"}
    finally:
        stop_local(stack)


@pytest.fixture
def broken_app(tmp_path: Path) -> Path:
    """An app directory whose cdk.json names a catalog with a processor that does not import."""
    (tmp_path / "app.py").write_text("from offload.cdk.app import main\n\nmain()\n")
    context = {"offload:catalog": "tests.support.catalogs:missing_module", "offload:codePackages": []}
    (tmp_path / "cdk.json").write_text(json.dumps({"app": "python app.py", "context": context}))
    return tmp_path


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_synth_of_an_app_with_a_bad_catalog_stops_with_one_line_naming_it(broken_app: Path) -> None:
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=broken_app, env={**_clean_env(), "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    line = _one_line_error(done)
    assert "tests.support.catalogs:missing_module" in line and "'no_such_app.jobs:run'" in line
    assert "fix the path" in line


def test_local_up_of_an_app_with_a_bad_catalog_stops_with_one_line_naming_it(broken_app: Path) -> None:
    done = subprocess.run(
        [OFFLOAD, "local", "up", "--port", "0"], cwd=broken_app, env={**_clean_env(), "PYTHONPATH": str(ROOT),
        "COLUMNS": "300"}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    line = _one_line_error(done)
    assert "tests.support.catalogs:missing_module" in line and "broken.job" in line
