"""The core pack's on-finish hook: a job enqueued with `webhook_url=` gets a signed webhook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from offload.jobs.enqueue import enqueue
from offload.jobs.notify import event_detail
from offload.observability import logger

if TYPE_CHECKING:
    from offload.jobs.model import Job
    from offload.runtime import Runtime

WEBHOOK_TYPE = "webhook.deliver"


def send_webhook(job: Job, rt: Runtime) -> None:
    """Queue a `webhook.deliver` job for a finished job that asked for one (once per status)."""
    if not job.webhook_url or job.type == WEBHOOK_TYPE:
        return
    enqueue(
        WEBHOOK_TYPE,
        {"url": job.webhook_url, "event": f"job.{job.status.value}", "payload": event_detail(job)},
        idempotency_key=f"{job.job_id}:{job.status.value}",
        runtime=rt,
    )
    logger.info("webhook queued", url=job.webhook_url, status=job.status.value)
