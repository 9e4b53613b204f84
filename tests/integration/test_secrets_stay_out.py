"""No secret reaches a log line, a job record or a dead letter, including when calls fail.

Webhooks are signed with the deployment's secret; the rate limiter logs in to the cache with its AUTH
token; moderation calls OpenAI and payouts call Stripe with keys read from Secrets Manager. Receivers and
providers that fail, refuse or answer 500 make the worker log reasons and write them into records.
Everything it printed (capfd: stdout and stderr, where the JSON logger writes) and stored (job records,
their errors, dead letters, pack records) is scanned for each secret in every form it takes.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from offload.aws import Clients
from offload.jobs import admin
from offload.jobs.enqueue import enqueue
from offload.jobs.model import JobStatus
from offload.jobs.notify import standard_secret
from offload.runtime import Runtime
from offload.testing.aws import REGION, WEBHOOK_SECRET, create_records_table
from offload.testing.openai_server import FakeOpenAIServer, api_error, moderation
from offload.testing.stripe_server import FakeStripeServer, stripe_error
from offload.testing.stripe_server import api_error as stripe_500
from offload.testing.worker import Pump, run_job
from tests.support.payments import with_packs
from tests.support.processors import TEST_CATALOG
from tests.support.redis_server import PrivateRedis


def scanned(rt: Runtime, capfd: Any, caplog: Any, queues: Iterable[str], extra: str = "") -> dict[str, str]:
    """Everything the worker printed, logged and stored so far: where -> text (logs, job records, dead letters).

    Logs are read twice: the captured file descriptors, and every log record with all its fields (the
    JSON logger's keys are record attributes), since the logger writes to the stream pytest swapped in."""
    printed = "".join(capfd.readouterr())
    printed += "".join(f"{r.getMessage()} {vars(r)}\n" for r in caplog.records)
    stored = "".join(j.model_dump_json() for status in JobStatus for j in admin.list_jobs(rt, status))
    dead = "".join(m.body + str(m.attributes) for q in queues for m in rt.queues.receive_dead(q))
    return {"logs": printed, "job records": stored + extra, "dead letters": dead}


def assert_secret_absent(name: str, forms: Iterable[str], texts: dict[str, str]) -> None:
    """No form of the secret appears anywhere that was scanned."""
    for form in forms:
        assert len(form) >= 8, "a short form would match by chance"
        for where, text in texts.items():
            assert form not in text, f"the {name} appears in the {where}"


def _secret(name: str, value: str) -> str:
    return boto3.client("secretsmanager", region_name=REGION).create_secret(Name=name, SecretString=value)["ARN"]


def _receiver(status: int) -> ThreadingHTTPServer:
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"receiver says no")

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_failed_and_refused_webhooks_leave_no_secret_in_logs_records_or_dead_letters(runtime, capfd, caplog):
    servers = {status: _receiver(status) for status in (200, 400, 410)}
    try:
        jobs = [
            enqueue(
                "webhook.deliver",
                {"url": f"http://127.0.0.1:{server.server_address[1]}/hook", "event": "e", "payload": {"n": status}},
            )
            for status, server in servers.items()
        ]
        pump = Pump(runtime, "notifications", lane="high")  # webhook.deliver: priority 8
        pump.until(lambda: all(runtime.store.get(j).status.terminal for j in jobs))
    finally:
        for server in servers.values():
            server.shutdown()

    finished = [runtime.store.get(j) for j in jobs]
    assert sorted(j.status for j in finished) == sorted([JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.FAILED])
    texts = scanned(runtime, capfd, caplog, ["notifications"])
    seen = texts["logs"] + texts["job records"]
    assert "receiver says no" in seen or "400" in texts["job records"], "the failures were recorded (the scan saw them)"
    assert_secret_absent("webhook secret", (WEBHOOK_SECRET, standard_secret(WEBHOOK_SECRET)), texts)


# -- the cache AUTH token ----------------------------------------------------------------------

REDIS_TOKEN = "redis-auth-token-0123456789abcdef"


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH")
def test_the_cache_auth_token_stays_out_when_the_login_works_and_when_it_is_refused(
    settings, capfd, caplog, tmp_path: Path
):
    server = PrivateRedis(tmp_path, password=REDIS_TOKEN)
    server.start()
    try:
        outcomes = {}
        for token in (REDIS_TOKEN, "wrong-" + REDIS_TOKEN):
            # Given the AUTH token is read from Secrets Manager (OFFLOAD_REDIS_AUTH_SECRET_ARN), right or wrong
            wired = settings.model_copy(
                update={"redis_url": server.url, "redis_auth_secret_arn": _secret(f"redis-{token}", token)}
            )
            rt = Runtime(wired, Clients(region=REGION), TEST_CATALOG)
            job_id = enqueue("test.stamp", {"n": 1}, runtime=rt)
            # When the rate-limited queue's worker runs the job
            Pump(rt, "limited").once()
            outcomes[token] = rt.store.get(job_id)
    finally:
        server.stop()

    # Then the right token lets it through, the wrong one fails at login; neither is printed or stored
    assert outcomes[REDIS_TOKEN].status == JobStatus.COMPLETED
    refused = outcomes["wrong-" + REDIS_TOKEN]
    assert refused.status != JobStatus.COMPLETED, "a wrong AUTH token must not reach the limiter"
    texts = scanned(rt, capfd, caplog, ["limited"])
    assert "invalid" in texts["logs"].lower() or "auth" in texts["logs"].lower(), "the refused login was logged"
    assert_secret_absent("cache AUTH token", (REDIS_TOKEN,), texts)


# -- the OpenAI API key ------------------------------------------------------------------------

OPENAI_KEY = "sk-proj-offload-test-openai-key-5f3a9c"


def test_the_openai_key_stays_out_of_moderation_jobs_that_succeed_are_refused_and_hit_500s(
    runtime, capfd, caplog, monkeypatch
):
    # Given moderation reads its OpenAI key from Secrets Manager and calls the loopback fake
    create_records_table(boto3.client("dynamodb", region_name=REGION), "offload-test-moderation")
    packs = {"moderation": {"moderation_table": "offload-test-moderation", "media_bucket": "m", "options": {}}}
    rt = Runtime(runtime.settings.model_copy(update={"packs": packs}), runtime.clients, runtime.catalog)
    for name in ("API_KEY", "BASE_URL", "MODERATION_MODEL"):
        monkeypatch.delenv(f"OFFLOAD_AI_{name}", raising=False)
    monkeypatch.setenv("OFFLOAD_AI_API_KEY_SECRET_ARN", _secret("openai", OPENAI_KEY))
    with FakeOpenAIServer() as openai:
        monkeypatch.setenv("OFFLOAD_AI_BASE_URL", openai.base_url)
        # OpenAI's own 401 shows the key masked, as here
        openai.script(
            moderation({"violence": 0.72}),
            api_error(401, f"Incorrect API key provided: {OPENAI_KEY[:8]}{'*' * 20}{OPENAI_KEY[-4:]}."),
            api_error(500, "The server had an error while processing your request.", error_type="server_error"),
        )
        # When a job succeeds, one is refused (bad auth) and one meets a 500 on its only attempt
        jobs = [run_job(rt, "moderate.text", {"text": "a threat", "id": f"c-{n}"}, attempts=1) for n in range(3)]
        headers = [r.headers.get("authorization", "") for r in openai.requests]

    # Then the key went to the provider only, and appears nowhere the worker printed or stored
    assert headers == [f"Bearer {OPENAI_KEY}"] * 3, "the key was sent (so it was there to leak)"
    assert [j.status for j in jobs] == [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.FAILED]
    assert all(j.error for j in jobs[1:]), "the failures were recorded with their reasons"
    assert_secret_absent("OpenAI key", (OPENAI_KEY,), scanned(rt, capfd, caplog, ["moderation"]))


# -- the Stripe key ----------------------------------------------------------------------------

STRIPE_KEY = "sk_test_offload51Hx9kQ2secretstripekey"


def test_the_stripe_key_stays_out_of_payouts_that_succeed_are_refused_and_hit_500s(runtime, capfd, caplog):
    from offload.packs.payments.billing import record_sale
    from offload.packs.payments.options import PaymentsOptions
    from offload.packs.payments.settings import ledger_of

    with FakeStripeServer() as stripe_api:
        # Given payouts read the Stripe key from Secrets Manager and call the loopback fake
        options = {"provider": "stripe", "stripe_secret_arn": _secret("stripe", STRIPE_KEY)}
        rt = with_packs(runtime, payments={**options, "stripe_api_base": stripe_api.base_url})
        ledger = ledger_of(rt)
        jobs = []
        for week, reply in (
            ("2026-W45", None),
            # Stripe's own 401 shows the key masked, as here
            (
                "2026-W46",
                stripe_error(401, "invalid_request_error", f"Invalid API Key provided: sk_test_****{STRIPE_KEY[-4:]}"),
            ),
            ("2026-W47", stripe_500()),
        ):
            ledger.add_creator(f"creator-{week}", account=f"acct_{week}", currency="usd")
            record_sale(ledger, PaymentsOptions(), creator_id=f"creator-{week}", sale_id=week, price_minor=1250)
            if reply is not None:
                stripe_api.script(*[reply] * (5 if reply.status >= 500 else 1))  # the SDK retries 5xx
            # When a payout succeeds, one is refused (bad auth) and one meets 500s on its only attempt
            jobs.append(run_job(rt, "payments.payout", {"period": week}, attempts=1))
        headers = [r.headers.get("authorization", "") for r in stripe_api.requests]

    # Then the key went to Stripe only, and appears nowhere the worker printed or stored
    assert headers and set(headers) == {f"Bearer {STRIPE_KEY}"}, "the key was sent (so it was there to leak)"
    assert jobs[0].status == JobStatus.COMPLETED and jobs[0].result["paid"] >= 1, jobs[0].error
    assert [j.status for j in jobs[1:]] == [JobStatus.FAILED] * 2
    assert "(401)" in jobs[1].error.reason and "500" in jobs[2].error.reason, "each failure kept its reason"
    ledger_text = "".join(str(item) for item in rt.clients.dynamodb.scan(TableName="offload-test-payments")["Items"])
    assert_secret_absent("Stripe key", (STRIPE_KEY,), scanned(rt, capfd, caplog, ["payments"], extra=ledger_text))
