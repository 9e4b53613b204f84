"""notify.email and notify.digest: Jinja2-rendered emails sent through SES v2 with Simple content.

Rendering happens here, not in SES (SES-stored templates can't reach the app's template folder, and
each recipient gets their own variables): so every send is one `SendEmail` with the subject, HTML and
text parts, the configuration set whose events update the delivery record, and a tag naming the record.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from offload.errors import NonRetryableError, RateLimitedError, RetryableError
from offload.jobs.context import JobContext
from offload.packs.notifications import LIMITS, SES_LIMIT
from offload.packs.notifications.delivery import send_tracked
from offload.packs.notifications.settings import NotificationsSettings, notifications_settings
from offload.packs.notifications.templates import render

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# SES's own cap on destinations per call, used here as the digest's batch: progress, cancellation and
# the record check happen once per batch.
BATCH = 50
# The message tag SES events carry back (mail.tags), naming the delivery record.
DELIVERY_TAG = "offload-delivery"
# SES errors that no retry fixes.
# A digest that has less time than this left before its next batch continues in a new run.
CONTINUE_BELOW_S = 10.0
_PERMANENT = {"MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException", "NotFoundException"}


class EmailData(BaseModel):
    to: str = Field(pattern=EMAIL, description="the recipient's address")
    template: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_./-]+$")
    vars: dict[str, Any] = Field(default_factory=dict, description="the template's variables")
    reply_to: str | None = Field(default=None, pattern=EMAIL)


class Recipient(BaseModel):
    to: str = Field(pattern=EMAIL)
    vars: dict[str, Any] = Field(default_factory=dict, description="this recipient's variables (over the shared)")


class DigestData(BaseModel):
    template: str = Field(default="digest", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_./-]+$")
    vars: dict[str, Any] = Field(default_factory=dict, description="variables every recipient shares")
    recipients: list[Recipient] = Field(min_length=1, max_length=5000)


def send_one(
    ctx: JobContext, settings: NotificationsSettings, to: str, template: str, variables: dict[str, Any], key: str
) -> str:
    """Render and send one email under its delivery record; the record's status afterwards."""

    def send() -> str:
        rendered = render(template, variables, settings.templates)
        ctx.rate_limit(SES_LIMIT, LIMITS[SES_LIMIT])
        request: dict[str, Any] = {
            "FromEmailAddress": settings.sender,
            "Destination": {"ToAddresses": [to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": rendered.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Html": {"Data": rendered.html, "Charset": "UTF-8"},
                        "Text": {"Data": rendered.text, "Charset": "UTF-8"},
                    },
                }
            },
            "EmailTags": [{"Name": DELIVERY_TAG, "Value": key}],
        }
        if settings.configuration_set:
            request["ConfigurationSetName"] = settings.configuration_set
        try:
            return str(ctx.runtime.clients.sesv2.send_email(**request)["MessageId"])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            text = f"SES refused the email to {to}: {code}: {exc.response.get('Error', {}).get('Message', '')}"
            if code in _PERMANENT:
                raise NonRetryableError(text) from None
            raise RetryableError(text) from None

    return send_tracked(ctx, "email", to, send, key=key).status


def send_email(data: EmailData, ctx: JobContext) -> dict[str, Any]:
    """One email: the delivery record's id and status."""
    settings = notifications_settings(ctx.runtime)
    status = send_one(ctx, settings, data.to, data.template, dict(data.vars), ctx.job_id)
    return {"delivery": ctx.job_id, "status": status, "to": data.to, "template": data.template}


def send_digest(data: DigestData, ctx: JobContext) -> dict[str, Any]:
    """One personalised email per recipient, in batches; a retry skips recipients already sent to."""
    settings = notifications_settings(ctx.runtime)
    counts: dict[str, int] = {}
    failures: list[str] = []
    total = len(data.recipients)
    for start in range(0, total, BATCH):
        if start and ctx.remaining_s() < CONTINUE_BELOW_S:
            # Out of time for another batch: carry on in a fresh run (a deferral, not an attempt); the
            # delivery records make it skip everyone sent to so far.
            raise RateLimitedError(f"digest continues in a new run: {start} of {total} recipients done", 1.0)
        for n, recipient in enumerate(data.recipients[start : start + BATCH], start=start):
            key = f"{ctx.job_id}-{n}"
            try:
                status = send_one(ctx, settings, recipient.to, data.template, {**data.vars, **recipient.vars}, key)
            except NonRetryableError as exc:
                # One bad recipient doesn't hold back the rest: its record (failed) says why.
                failures.append(f"{recipient.to}: {exc}")
                status = "failed"
            counts[status] = counts.get(status, 0) + 1
        ctx.update_progress(round(100 * min(start + BATCH, total) / total))
    if failures and len(failures) == total:
        raise NonRetryableError(f"every recipient of the digest failed; first: {failures[0]}")
    return {"recipients": total, "batches": -(-total // BATCH), "statuses": counts, "failures": failures[:20]}
