"""The core pack: the `default` and `notifications` queues, webhooks, HTTP fetches and smoke tests."""

from __future__ import annotations

from offload.catalog import Backoff, JobType, Lane, Pack, QueueSpec

pack = Pack(
    "core",
    description="Webhooks, HTTP fetches into S3 and smoke-test jobs on the default and notifications queues.",
    queues=(
        QueueSpec("default", concurrency=10, timeout_s=120, lanes=(Lane("normal", 0, 6), Lane("high", 7, 4))),
        # Seed 003's priorities, each band in a lane with its own workers: live alerts (10) and payment
        # success (8) in `high`, content uploads (5) in `normal`, weekly digests (2) in `bulk`, so a
        # digest of thousands never delays an alert. The notifications pack's channels run here too.
        QueueSpec(
            "notifications",
            concurrency=20,
            timeout_s=60,
            lanes=(Lane("bulk", 0, 4), Lane("normal", 4, 6), Lane("high", 7, 10)),
        ),
    ),
    job_types=(
        JobType(
            "webhook.deliver",
            queue="notifications",
            processor="offload.packs.core.webhook:deliver",
            attempts=5,
            timeout_s=30,
            priority=8,
            description="POST a JSON body to a URL, HMAC-SHA256 signed; 5xx/429/timeouts retry.",
        ),
        JobType(
            "http.fetch",
            queue="default",
            processor="offload.packs.core.http_fetch:fetch_to_s3",
            timeout_s=110,
            description="Download a URL into the payload bucket (or a given bucket/key).",
        ),
        JobType(
            "diag.echo",
            queue="default",
            processor="offload.packs.core.diagnostics:echo",
            description="Return the payload: a smoke test for a deployment.",
        ),
        JobType(
            "diag.sleep",
            queue="default",
            processor="offload.packs.core.diagnostics:sleep",
            description="Sleep in steps, reporting progress; checks cancellation between steps.",
        ),
        JobType(
            "diag.flaky",
            queue="default",
            processor="offload.packs.core.diagnostics:flaky",
            backoff=Backoff("exponential", 1.0),
            description="Fail the first N attempts (retryable), then succeed: shows retries and the DLQ.",
        ),
    ),
    # A job enqueued with webhook_url= gets a signed webhook.deliver job when it finishes.
    on_finish=("offload.packs.core.hooks:send_webhook",),
)
