"""Operating a running deployment on the local cloud: pausing a queue holds its jobs in SQS and resuming drains
them, none lost or run twice; health says 503 naming Redis while the rate-limit cache is down, and recovers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from offload.client import OffloadClient
from offload.local.cloud import free_port
from offload.settings import Settings
from tests.e2e.conftest import LocalStack, start_local, stop_local

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH")


@dataclass
class Redis:
    """A redis-server of the test's own, which the test stops and starts."""

    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout != b"PONG\n":
            assert time.time() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)


@dataclass
class Deployment:
    stack: LocalStack
    api: OffloadClient
    api_url: str
    redis: Redis


@pytest.fixture(scope="module")
def deployment(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    redis = Redis(free_port())
    redis.start()
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL",)}
    env["REDIS_URL"] = redis.url  # the local cloud's functions use this one instead of starting their own
    stack = start_local(cdk_out, tmp_path_factory.mktemp("ops"), ("--api-port", str(api_port)), env=env)
    session = botocore.session.get_session()
    session.set_credentials("local", "local")
    session.set_config_variable("region", "us-east-1")
    url = f"http://127.0.0.1:{api_port}"
    yield Deployment(stack, OffloadClient(url, session=session), url, redis)
    stop_local(stack)
    if redis.proc is not None and redis.proc.poll() is None:
        redis.stop()


def settings(stack: LocalStack) -> Settings:
    """The deployment as any client finds it: the stack's ClientConfig output."""
    outputs = stack.client("cloudformation").describe_stacks(StackName="Offload")["Stacks"][0]["Outputs"]
    return Settings.model_validate_json(next(o["OutputValue"] for o in outputs if o["OutputKey"] == "ClientConfig"))


def depth(stack: LocalStack, url: str) -> dict[str, int]:
    """A queue's SQS counts."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = stack.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {"visible": int(attrs[names[0]]), "in_flight": int(attrs[names[1]])}


def statuses(api: OffloadClient, ids: list[str]) -> dict[str, str]:
    return {i: api.get_job(i)["status"] for i in ids}


def test_a_paused_queue_holds_its_jobs_in_sqs_and_resume_drains_every_one_once(deployment: Deployment) -> None:
    stack, api = deployment.stack, deployment.api
    assert "offload queues pause|resume Q" in stack.output_text()  # the banner says pausing works here
    urls = settings(stack).queue_urls("default")
    paused = json.loads(stack.cli("queues", "pause", "default", "--json").stdout)
    assert paused["paused"] is True and len(paused["mappings"]) == 1 + len(urls.lanes)  # its lane's too
    # The pollers read their mapping's state at most every 0.5 s (MappingState), as a disabled mapping on AWS
    # takes a moment to stop: one that read "enabled" just before the pause may still take a batch.
    time.sleep(1.0)

    ids = api.enqueue_many("diag.echo", [{"n": n} for n in range(10)])
    ids += api.enqueue_many("diag.echo", [{"n": n} for n in range(10, 12)], priority=10)  # the high lane
    time.sleep(3)  # several poll periods: a paused queue's pollers must not take anything
    assert set(statuses(api, ids).values()) == {"queued"}
    assert depth(stack, urls.url) == {"visible": 10, "in_flight": 0}
    assert depth(stack, urls.lanes["high"]) == {"visible": 2, "in_flight": 0}

    resumed = stack.cli("queues", "resume", "default")
    assert "resumed: messages are delivered again (2 event source mappings)" in resumed.stdout, resumed.stdout
    deadline = time.time() + 60
    while set(statuses(api, ids).values()) != {"completed"}:
        assert time.time() < deadline, statuses(api, ids)
        time.sleep(0.3)
    jobs = [api.get_job(i) for i in ids]
    assert sorted(j["result"]["n"] for j in jobs) == list(range(12))
    assert {j["attempts"] for j in jobs} == {1}  # each ran once
    for url in (urls.url, urls.lanes["high"]):
        assert depth(stack, url) == {"visible": 0, "in_flight": 0}


def _health(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_health_is_503_naming_redis_while_the_cache_is_down_and_200_once_it_is_back(deployment: Deployment) -> None:
    status, report = _health(deployment.api_url)
    assert (status, report["checks"]["redis"]["connected"]) == (200, True)

    deployment.redis.stop()
    try:
        status, report = _health(deployment.api_url)
        assert status == 503 and report["healthy"] is False
        assert report["checks"]["redis"] == {"connected": False, "latencyMs": None, "configured": True}
        assert any(r.startswith("redis:") for r in report["reasons"]), report["reasons"]
        assert str(deployment.redis.port) not in str(report)  # nothing that names where the cache is
        cli = deployment.stack.cli("health", check=False)
        assert cli.returncode == 1 and "redis: the rate-limit cache does not answer" in cli.stdout, cli.stdout
        # check_health from this machine, as an operator with the deployment's variables and the cache's URL
        direct = deployment.stack.cli("health", "--direct", "--json", check=False, env=direct_env(deployment))
        assert direct.returncode == 1, direct.stdout + direct.stderr
        report = json.loads(direct.stdout)
        assert report["checkedBy"] == "this machine" and report["checks"]["redis"]["connected"] is False
        assert [r for r in report["reasons"] if r.startswith("redis:")] and len(report["reasons"]) == 1
    finally:
        deployment.redis.start()
    deadline = time.time() + 30
    while _health(deployment.api_url)[0] != 200:
        assert time.time() < deadline, _health(deployment.api_url)
        time.sleep(0.3)
    assert deployment.stack.cli("health").returncode == 0
    direct = json.loads(deployment.stack.cli("health", "--direct", "--json", env=direct_env(deployment)).stdout)
    assert direct["healthy"] is True and direct["checks"]["redis"]["connected"] is True


def direct_env(deployment: Deployment) -> dict[str, str]:
    """OFFLOAD_* variables naming the deployment's resources (ClientConfig) and its rate-limit cache."""
    found = settings(deployment.stack)
    return found.model_copy(update={"redis_url": deployment.redis.url}).to_env()
