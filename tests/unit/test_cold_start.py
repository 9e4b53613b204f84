"""A worker's cold start imports only what its queue needs (issue #9, item 10).

Each test imports the real Lambda handler module in a fresh interpreter, with the variables the
stack gives a worker, and lists the heavy modules that ended up in sys.modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from offload.settings import QueueUrls, Settings

ROOT = Path(__file__).resolve().parents[2]

# Never on a worker's import path: pack code that only its processors need (Pillow, OpenAI, the
# images steps), the CLI's (rich, typer), synth's (aws_cdk) and the tests' (moto), and the
# Powertools batch utility, which the worker replaced for ~100 ms of cold start.
HEAVY = (
    "PIL",
    "openai",
    "rich",
    "typer",
    "aws_cdk",
    "constructs",
    "moto",
    "boto3",
    "offload.packs.images.steps",
    "offload.packs.images.store",
    "offload.ai",
    "offload.media",
    "offload.cli",
    "offload.cdk",
    "offload.local",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes",
    "asyncio",
)


def _settings() -> Settings:
    def urls(name: str) -> QueueUrls:
        base = f"https://sqs.us-east-1.amazonaws.com/123456789012/offload-test-{name}"
        return QueueUrls(url=base, dlq_url=f"{base}-dlq")

    return Settings(
        table="offload-test-jobs",
        queues={q: urls(q) for q in ("default", "notifications", "maintenance", "images")},
        event_bus="offload-test-bus",
        alert_topic_arn="arn:aws:sns:us-east-1:123456789012:offload-test-alerts",
        payload_bucket="offload-test-payloads",
        webhook_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:offload-test-webhook",
    )


def _imported_after_handler(
    queue: str, module: str = "offload.handlers.worker", **extra: str
) -> tuple[list[str], list[str]]:
    """(heavy modules imported, offload modules imported) by `import <module>` (a worker by default)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFLOAD_", "AWS_", "POWERTOOLS_"))}
    env |= _settings().to_env() | {
        "OFFLOAD_QUEUE": queue,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env |= extra
    probe = (
        "import json, sys\n"
        f"import {module}\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps([sorted(m for m in heavy if m in sys.modules),"
        " sorted(m for m in sys.modules if m.startswith('offload'))]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    heavy, ours = json.loads(proc.stdout.strip().splitlines()[-1])
    return heavy, ours


@pytest.mark.parametrize("queue", ["default", "images"])
def test_worker_handler_imports_no_heavy_module(queue):
    heavy, ours = _imported_after_handler(queue)
    assert heavy == [], f"the {queue!r} worker imported {heavy} at cold start"
    assert "offload.handlers.worker" in ours, "the probe imported the handler"


def test_the_guard_can_fail():
    """The probe sees a heavy module when the catalog's module imports one (here via OFFLOAD_CATALOG)."""
    heavy, _ = _imported_after_handler("default", OFFLOAD_CATALOG="tests.support.heavy_catalog:catalog")
    assert "offload.packs.images.steps" in heavy


def test_api_handler_imports_no_heavy_module():
    """The API function imports the resolver, not the packs' or CLI's code. The resolver itself brings
    its event data classes and asyncio (for resolve_async): those two are its price."""
    heavy, ours = _imported_after_handler("default", "offload.api.handler")
    heavy = [m for m in heavy if m not in ("aws_lambda_powertools.utilities.data_classes", "asyncio")]
    assert heavy == [], f"the API function imported {heavy} at cold start"
    assert "offload.api.app" in ours
