"""The notifications pack on the local cloud, from the CLI: a templated email through SES (read back from
the endpoint's moto state) and a signed webhook to a loopback receiver, each with its delivery record."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook

from offload.jobs.notify import SIGNATURE_HEADER, standard_secret, verify
from offload.testing.scripted_http import Reply, ScriptedServer
from tests.e2e.conftest import LocalStack


@pytest.fixture
def receiver() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def _sent_count(stack: LocalStack) -> float:
    """How many emails the endpoint's SES accepted (its send quota's SentLast24Hours; moto's data.json
    can't serialise every model of the whole stack, and the integration tests read the content)."""
    return float(stack.client("ses").get_send_quota()["SentLast24Hours"])


def _webhook_secret(stack: LocalStack) -> str:
    sm = stack.client("secretsmanager")
    [entry] = [s for s in sm.list_secrets()["SecretList"] if "Webhook" in s["Name"]]
    return str(sm.get_secret_value(SecretId=entry["ARN"])["SecretString"])


def test_notify_email_from_the_cli_is_rendered_sent_through_ses_and_recorded(local: LocalStack) -> None:
    before = _sent_count(local)
    args = ["--to", "ann@example.com", "-t", "welcome", "--var", "name=Ann", "--var", "product=Offload"]
    job_id = _json(local.cli("notify", "email", *args, "--priority", "live-alert"))["jobId"]
    local.cli("jobs", "get", job_id, "--watch", "--timeout", "60")
    record = _json(local.cli("notify", "get", job_id, "--json"))
    assert (record["status"], record["channel"], record["to"]) == ("sent", "email", "ann@example.com")
    assert record["provider_id"]
    assert _sent_count(local) == before + 1
    listed = _json(local.cli("notify", "deliveries", "--channel", "email", "--json"))
    assert job_id in [r["key"] for r in listed]


def test_a_webhook_from_the_cli_reaches_a_loopback_receiver_signed_both_ways(
    local: LocalStack, receiver: ScriptedServer
) -> None:
    receiver.script(Reply(200, {"ok": True}))
    data = json.dumps({"url": f"{receiver.root_url}/hook", "event": "e2e.ping", "payload": {"n": 1}})
    job_id = _json(local.cli("jobs", "add", "webhook.deliver", "--data", data))["jobId"]
    local.cli("jobs", "get", job_id, "--watch", "--timeout", "60")
    [request] = receiver.requests
    secret = _webhook_secret(local)
    assert Webhook(standard_secret(secret)).verify(request.raw, request.headers)["delivery_id"] == job_id
    assert verify(secret, request.raw, request.headers[SIGNATURE_HEADER.lower()])
    record = _json(local.cli("notify", "get", job_id, "--json"))
    assert (record["status"], record["channel"]) == ("sent", "webhook")
