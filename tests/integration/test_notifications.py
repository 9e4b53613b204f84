"""The notifications pack's channels through the real worker: SES and SNS in moto (what was sent is
read back from moto's backends), Discord and webhook receivers on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from offload.jobs.context import JobContext
from offload.jobs.enqueue import enqueue
from offload.jobs.registry import PayloadError
from offload.packs.notifications.delivery import delivery_store
from offload.packs.notifications.email import DigestData, send_digest
from offload.packs.notifications.events import handle
from offload.runtime import Runtime
from offload.testing.aws import REGION
from offload.testing.scripted_http import Reply, ScriptedServer
from offload.testing.worker import Pump, run_job
from tests.support.notifications import (
    BOUNCE,
    DELIVERY,
    SENDER,
    sent_emails,
    sent_sms,
    ses_event,
    wire_notifications,
)


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return wire_notifications(runtime)


@pytest.fixture
def receiver() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


# -- email ---------------------------------------------------------------------------------------
def test_templated_email_is_rendered_escaped_sent_through_ses_and_recorded_sent(rt: Runtime) -> None:
    job = run_job(
        rt,
        "notify.email",
        {"to": "ann@example.com", "template": "welcome", "vars": {"name": "<Ann>", "product": "Offload"}},
    )
    assert job.status.value == "completed", job.error
    [mail] = sent_emails()
    assert mail.source == SENDER
    assert mail.destinations["ToAddresses"] == ["ann@example.com"]
    assert mail.subject == "Welcome to Offload, <Ann>"  # the subject is text: nothing to escape
    assert "Welcome, &lt;Ann&gt;!" in mail.body  # the HTML part is autoescaped
    record = delivery_store(rt).get(job.job_id)
    assert record is not None
    assert (record.status, record.provider_id, record.to) == ("sent", mail.id, "ann@example.com")


def test_a_missing_template_variable_fails_the_job_naming_it_and_sends_nothing(rt: Runtime) -> None:
    job = run_job(rt, "notify.email", {"to": "ann@example.com", "template": "welcome", "vars": {"name": "Ann"}})
    assert job.status.value == "failed"
    assert job.attempts == 1
    assert job.error is not None and "'product' is undefined" in job.error.reason
    assert sent_emails() == []
    record = delivery_store(rt).get(job.job_id)
    assert record is not None and record.status == "failed" and "product" in (record.reason or "")


def test_the_apps_template_folder_wins_over_the_built_in_template(runtime: Runtime, tmp_path: Any) -> None:
    (tmp_path / "welcome.subject.txt").write_text("Hello {{ name }} from the app")
    (tmp_path / "welcome.html").write_text("<p>app HTML for {{ name }}</p>")
    (tmp_path / "welcome.txt").write_text("app text for {{ name }}")
    rt = wire_notifications(runtime, templates=str(tmp_path))
    job = run_job(rt, "notify.email", {"to": "bo@example.com", "template": "welcome", "vars": {"name": "Bo"}})
    assert job.status.value == "completed", job.error
    [mail] = sent_emails()
    assert (mail.subject, mail.body) == ("Hello Bo from the app", "<p>app HTML for Bo</p>")


def test_an_unverified_sender_is_a_permanent_failure_with_ses_reason(rt: Runtime) -> None:
    rt.settings.packs["notifications"]["sender"] = "nobody@unverified.test"
    job = run_job(
        rt,
        "notify.email",
        {"to": "ann@example.com", "template": "alert", "vars": {"title": "t", "message": "m", "severity": "low"}},
    )
    assert job.status.value == "failed" and job.attempts == 1
    assert job.error is not None and "MessageRejected" in job.error.reason


def test_digest_personalises_each_recipient_in_batches_and_a_rerun_sends_no_one_twice(rt: Runtime) -> None:
    recipients = [{"to": f"user{i}@example.com", "vars": {"name": f"User {i}"}} for i in range(120)]
    data = {"vars": {"items": ["a", "b"]}, "recipients": recipients}
    job_id = enqueue("notify.digest", data, runtime=rt)
    rt.store.start(job_id, "notifications", lease_s=60)  # what the worker does before running it
    job = rt.store.get(job_id)
    assert job is not None
    ctx = JobContext(job, rt, deadline=time.time() + 60)
    result = send_digest(DigestData.model_validate(data), ctx)
    assert result["batches"] == 3 and result["statuses"] == {"sent": 120}
    mails = sent_emails()
    assert len(mails) == 120
    by_to = {m.destinations["ToAddresses"][0]: m for m in mails}
    assert "Hi User 7," in by_to["user7@example.com"].body
    assert by_to["user7@example.com"].subject == "Your weekly digest: 2 new items"
    # When the job runs again (a retry after a crash), every recipient's record is already sent.
    again = send_digest(DigestData.model_validate(data), ctx)
    assert again["statuses"] == {"sent": 120}
    assert len(sent_emails()) == 120
    assert delivery_store(rt).get(f"{job_id}-119") is not None


def test_one_bad_recipient_of_a_digest_fails_alone(rt: Runtime) -> None:
    recipients = [
        {"to": "ok@example.com", "vars": {"name": "Ok"}},
        {"to": "bad@example.com", "vars": {}},  # no name: the template can't render for them
    ]
    job = run_job(rt, "notify.digest", {"vars": {"items": ["x"]}, "recipients": recipients})
    assert job.status.value == "completed", job.error
    assert job.result is not None and job.result["statuses"] == {"sent": 1, "failed": 1}
    assert "'name' is undefined" in job.result["failures"][0]
    assert [m.destinations["ToAddresses"] for m in sent_emails()] == [["ok@example.com"]]


# -- SES delivery events -------------------------------------------------------------------------
def test_ses_events_move_the_record_to_delivered_and_a_late_bounce_cannot_undo_it(rt: Runtime) -> None:
    job = run_job(
        rt, "notify.email", {"to": "ann@example.com", "template": "welcome", "vars": {"name": "A", "product": "P"}}
    )
    store = delivery_store(rt)
    assert handle(store, ses_event("Delivery", job.job_id, **DELIVERY)) == {"outcome": "delivered"}
    assert handle(store, ses_event("Bounce", job.job_id, **BOUNCE)) == {"outcome": "kept delivered"}
    record = store.get(job.job_id)
    assert record is not None and record.status == "delivered"
    assert [e["type"] for e in record.events] == ["Delivery", "Bounce"]
    assert record.events[0]["smtp"] == "250 2.0.0 OK"


def test_a_bounce_marks_the_record_bounced_with_the_diagnostic(rt: Runtime) -> None:
    job = run_job(
        rt, "notify.email", {"to": "ann@example.com", "template": "welcome", "vars": {"name": "A", "product": "P"}}
    )
    store = delivery_store(rt)
    assert handle(store, ses_event("Bounce", job.job_id, **BOUNCE)) == {"outcome": "bounced"}
    record = store.get(job.job_id)
    assert record is not None and record.status == "bounced"
    assert record.reason == "Permanent bounce (General): smtp; 550 5.1.1 user unknown"


def test_an_event_for_mail_offload_did_not_send_changes_nothing(rt: Runtime) -> None:
    event = ses_event("Delivery", "x", **DELIVERY)
    del event["detail"]["mail"]["tags"]["offload-delivery"]
    assert handle(delivery_store(rt), event)["outcome"].startswith("ignored")
    assert handle(delivery_store(rt), ses_event("Delivery", "no-such-delivery", **DELIVERY)) == {
        "outcome": "unknown record"
    }


# -- SMS -----------------------------------------------------------------------------------------
def test_sms_is_published_to_the_e164_number(rt: Runtime) -> None:
    job = run_job(rt, "notify.sms", {"to": "+44 7700 900123", "message": "Your code is 123456"})
    assert job.status.value == "completed", job.error
    assert sent_sms() == [("+447700900123", "Your code is 123456")]
    assert job.result is not None and job.result["kind"] == "transactional"
    record = delivery_store(rt).get(job.job_id)
    assert record is not None and record.status == "sent" and record.provider_id


def test_a_number_that_is_not_e164_is_refused_at_enqueue_with_the_fix(rt: Runtime) -> None:
    with pytest.raises(PayloadError, match=r"data\.to: .*not an E\.164 phone number.*\+447700900123"):
        enqueue("notify.sms", {"to": "07700 900123", "message": "hi"}, runtime=rt)
    assert sent_sms() == []


# -- push ----------------------------------------------------------------------------------------
def _platform_app() -> str:
    sns = boto3.client("sns", region_name=REGION)
    return sns.create_platform_application(Name="app", Platform="GCM", Attributes={"PlatformCredential": "k"})[
        "PlatformApplicationArn"
    ]


def test_push_registers_the_token_and_publishes_to_its_endpoint(rt: Runtime) -> None:
    job = run_job(
        rt, "notify.push", {"application_arn": _platform_app(), "token": "device-1", "title": "Hi", "body": "There"}
    )
    assert job.status.value == "completed", job.error
    assert job.result is not None and ":endpoint/GCM/app/" in job.result["endpoint_arn"]
    record = delivery_store(rt).get(job.job_id)
    assert record is not None and record.status == "sent"


def test_a_disabled_push_endpoint_is_recorded_and_not_retried(rt: Runtime) -> None:
    sns = boto3.client("sns", region_name=REGION)
    arn = sns.create_platform_endpoint(PlatformApplicationArn=_platform_app(), Token="old-device")["EndpointArn"]
    sns.set_endpoint_attributes(EndpointArn=arn, Attributes={"Enabled": "false"})
    first = run_job(rt, "notify.push", {"endpoint_arn": arn, "title": "Hi"})
    assert first.status.value == "failed" and first.attempts == 1
    assert first.error is not None and "disabled" in first.error.reason
    off = delivery_store(rt).disabled("push", arn)
    assert off is not None and "Enabled=false" in off.reason
    # The device comes back, but the record says the endpoint is gone until it is enabled again.
    sns.set_endpoint_attributes(EndpointArn=arn, Attributes={"Enabled": "true"})
    second = run_job(rt, "notify.push", {"endpoint_arn": arn, "title": "Hi"})
    assert second.status.value == "failed" and "was disabled at" in (second.error.reason if second.error else "")


# -- Discord -------------------------------------------------------------------------------------
def test_discord_message_goes_out_with_mentions_off(rt: Runtime, receiver: ScriptedServer) -> None:
    receiver.script(Reply(200, {"id": "1234567890"}))
    url = f"{receiver.root_url}/api/webhooks/42/secret-token"
    job = run_job(rt, "notify.discord", {"url": url, "content": "@everyone deploy done"})
    assert job.status.value == "completed", job.error
    [request] = receiver.requests
    assert request.path == "/api/webhooks/42/secret-token?wait=true"
    assert request.body == {"allowed_mentions": {"parse": []}, "content": "@everyone deploy done"}
    record = delivery_store(rt).get(job.job_id)
    assert record is not None and (record.status, record.provider_id) == ("sent", "1234567890")
    assert "secret-token" not in record.to


def test_a_discord_429_is_a_deferral_for_retry_after_not_an_attempt(rt: Runtime, receiver: ScriptedServer) -> None:
    receiver.script(
        Reply(429, {"message": "You are being rate limited.", "retry_after": 0.4, "global": False}),
        Reply(200, {"id": "1"}),
    )
    job = run_job(rt, "notify.discord", {"url": f"{receiver.root_url}/api/webhooks/1/t", "content": "hi"})
    assert job.status.value == "completed", job.error
    assert job.attempts == 1  # the 429 did not use one
    assert len(receiver.requests) == 2


def test_a_deleted_discord_webhook_is_disabled_and_later_messages_fail_fast(
    rt: Runtime, receiver: ScriptedServer
) -> None:
    receiver.script(Reply(404, {"message": "Unknown Webhook", "code": 10015}))
    url = f"{receiver.root_url}/api/webhooks/9/t"
    first = run_job(rt, "notify.discord", {"url": url, "content": "hi"})
    assert first.status.value == "failed" and first.attempts == 1
    second = run_job(rt, "notify.discord", {"url": url, "content": "again"})
    assert second.status.value == "failed"
    assert second.error is not None and "was disabled at" in second.error.reason
    assert len(receiver.requests) == 1  # the second never went out


# -- webhooks ------------------------------------------------------------------------------------
def test_webhook_carries_standard_webhooks_and_offload_signatures_that_verify(
    rt: Runtime, receiver: ScriptedServer
) -> None:
    from standardwebhooks import Webhook

    from offload.jobs.notify import SIGNATURE_HEADER, standard_secret, verify
    from offload.testing.aws import WEBHOOK_SECRET

    receiver.script(Reply(204, ""))
    job = run_job(
        rt, "webhook.deliver", {"url": f"{receiver.root_url}/hook", "event": "order.paid", "payload": {"n": 1}}
    )
    assert job.status.value == "completed", job.error
    [request] = receiver.requests
    parsed = Webhook(standard_secret(WEBHOOK_SECRET)).verify(request.raw, request.headers)
    assert parsed == {"event": "order.paid", "delivery_id": job.job_id, "payload": {"n": 1}}
    assert request.headers["webhook-id"] == job.job_id
    assert verify(WEBHOOK_SECRET, request.raw, request.headers[SIGNATURE_HEADER.lower()])
    assert not verify("another-secret", request.raw, request.headers[SIGNATURE_HEADER.lower()])


def test_a_410_disables_the_webhook_endpoint_and_later_deliveries_fail_fast(
    rt: Runtime, receiver: ScriptedServer
) -> None:
    receiver.script(Reply(410, "gone"))
    url = f"{receiver.root_url}/hook"
    first = run_job(rt, "webhook.deliver", {"url": url})
    assert first.status.value == "failed" and first.attempts == 1
    assert first.error is not None and "410 Gone" in first.error.reason
    second = run_job(rt, "webhook.deliver", {"url": url})
    assert second.status.value == "failed" and "was disabled at" in (second.error.reason if second.error else "")
    assert len(receiver.requests) == 1


# -- priorities and lanes ------------------------------------------------------------------------
def test_seed_priorities_go_to_their_lanes(rt: Runtime) -> None:
    alert = {"to": "a@example.com", "template": "alert", "vars": {"title": "t", "message": "m", "severity": "high"}}
    for priority in (10, 8, 5, 2):
        enqueue("notify.email", alert, priority=priority, runtime=rt)
    urls = rt.settings.queue_urls("notifications")

    def depth(url: str) -> int:
        attrs = rt.clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    assert (depth(urls.lanes["high"]), depth(urls.lanes["normal"]), depth(urls.url)) == (2, 1, 1)
    Pump(rt, "notifications", lane="high").until(lambda: len(sent_emails()) == 2)
    assert {m.subject for m in sent_emails()} == {"[HIGH] t"}


# -- shared limits (real Redis) ------------------------------------------------------------------
def test_discords_per_webhook_limit_is_shared_and_deferred_messages_all_go_out(
    rt: Runtime, receiver: ScriptedServer, private_redis: Any
) -> None:
    from offload.aws import Clients
    from offload.packs.notifications import DISCORD_LIMIT, LIMITS

    limited = Runtime(
        rt.settings.model_copy(update={"redis_url": private_redis.url}), Clients(region=REGION), rt.catalog
    )
    limit = LIMITS[DISCORD_LIMIT]
    busy, quiet = f"{receiver.root_url}/api/webhooks/1/a", f"{receiver.root_url}/api/webhooks/2/b"
    receiver.script(*[Reply(200, {"id": str(i)}) for i in range(limit.limit + 3)])
    ids = [
        enqueue("notify.discord", {"url": busy, "content": f"m{i}"}, runtime=limited) for i in range(limit.limit + 2)
    ]
    ids.append(enqueue("notify.discord", {"url": quiet, "content": "other"}, runtime=limited))
    pumps = [Pump(limited, "notifications"), Pump(limited, "notifications", lane="normal")]

    def done() -> bool:
        return all((j := limited.store.get(i)) is not None and j.status.terminal for i in ids)

    began = time.time()
    end = began + 30
    while not done():
        assert time.time() < end, [limited.store.get(i) for i in ids]
        if sum(p.once()[0] for p in pumps) == 0:
            time.sleep(0.1)
    jobs = [limited.store.get(i) for i in ids]
    assert all(j is not None and j.status.value == "completed" and j.attempts == 1 for j in jobs)
    assert len(receiver.requests) == limit.limit + 3
    # 7 messages to one webhook at 5 per 2 s: the last two waited for the window to move.
    assert time.time() - began >= limit.period_s - 0.5
    # The busy webhook's 6th and 7th waited for the window; the other webhook had its own.
    paths = [r.path.split("?")[0] for r in receiver.requests]
    assert paths.index("/api/webhooks/2/b") < limit.limit + 1


def test_a_digest_out_of_time_continues_in_a_new_run_without_sending_twice(rt: Runtime) -> None:
    from offload.errors import RateLimitedError

    recipients = [{"to": f"u{i}@example.com", "vars": {"name": f"U{i}"}} for i in range(70)]
    data = DigestData.model_validate({"vars": {"items": ["a"]}, "recipients": recipients})
    job_id = enqueue("notify.digest", data.model_dump(), runtime=rt)
    rt.store.start(job_id, "notifications", lease_s=60)
    job = rt.store.get(job_id)
    assert job is not None
    # Given a run with time for one batch only
    with pytest.raises(RateLimitedError, match="50 of 70 recipients done"):
        send_digest(data, JobContext(job, rt, deadline=time.time() + 9))
    assert len(sent_emails()) == 50
    # When the deferred job runs again with time to spare, the other 20 go out, once each
    result = send_digest(data, JobContext(job, rt, deadline=time.time() + 60))
    assert result["statuses"] == {"sent": 70}
    assert sorted(m.destinations["ToAddresses"][0] for m in sent_emails()) == sorted(str(r["to"]) for r in recipients)
