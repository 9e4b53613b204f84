"""The local cloud as a user runs it: `offload local up` in its own process, driven over loopback."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from offload.local.cloud import free_port, synthesize_if_stale

ROOT = Path(__file__).resolve().parents[2]

OFFLOAD = str(Path(sys.executable).with_name("offload"))


@dataclass
class LocalStack:
    """A running `offload local up` and the ways a user talks to it."""

    proc: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFLOAD_")}
        env.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            AWS_DEFAULT_REGION="us-east-1",
        )
        return env

    def cli(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the `offload` command against this stack (`env`: variables added to the stack's)."""
        done = subprocess.run(
            [OFFLOAD, *args], env={**self.env(), **(env or {})}, capture_output=True, text=True, timeout=120
        )
        if check and done.returncode != 0:
            raise AssertionError(f"offload {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def output_text(self) -> str:
        return self.log.read_text()


def start_local(
    cdk_out: Path | None,
    tmp: Path,
    extra: tuple[str, ...] = (),
    *,
    offload: str = OFFLOAD,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
) -> LocalStack:
    """`offload local up` on a free port (in `cwd`, with that app's `offload`), once it says it is ready.

    A port found free can be taken before `offload local up` binds it (another test's stack starting):
    that refusal is retried on a new port, twice."""
    env = dict(env or {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "REDIS_URL")})
    env["COLUMNS"] = "200"
    assembly = ("--cdk-out", str(cdk_out)) if cdk_out else ()
    for attempt in range(3):
        port = free_port()
        log = tmp / f"local-{port}.log"
        proc = subprocess.Popen(
            [offload, "local", "up", "--port", str(port), *assembly, *extra],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=cwd,
        )
        stack = LocalStack(proc=proc, port=port, log=log)
        deadline = time.time() + 120
        while "ready: export" not in stack.output_text():  # not "already in use"
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                if "Address already in use" in stack.output_text() and attempt < 2:
                    break
                raise AssertionError(f"offload local up did not become ready:\n{stack.output_text()}")
            time.sleep(0.2)
        else:
            return stack
    raise AssertionError("unreachable: every attempt returns or raises")


def stop_local(stack: LocalStack) -> None:
    """Ctrl-C, as a user would; then check nothing it started is left listening."""
    stack.proc.send_signal(signal.SIGINT)
    try:
        stack.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stack.proc.kill()
        raise AssertionError("offload local up did not stop within 30 s of Ctrl-C") from None
    redis = re.search(r"redis-server on 127\.0\.0\.1:(\d+)", stack.output_text())
    for port in [stack.port] + ([int(redis.group(1))] if redis else []):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listening after shutdown"


@pytest.fixture(scope="session")
def cdk_out() -> Path:
    synthesize_if_stale(ROOT / "cdk.out", "Offload")
    return ROOT / "cdk.out"


@pytest.fixture(scope="module")
def local(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = start_local(cdk_out, tmp_path_factory.mktemp("local"), ("--ttl-sweep-s", "1"))
    yield stack
    stop_local(stack)


def copy_assembly(cdk_out: Path, dest: Path) -> Path:
    """A copy of cdk.out (the template and its manifest; asset folders are linked, not copied)."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in cdk_out.iterdir():
        target = dest / item.name
        if item.is_dir():
            target.symlink_to(item)
        else:
            shutil.copy2(item, target)
    return dest
