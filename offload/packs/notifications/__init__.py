"""The notifications pack: email (SES), SMS and push (SNS) and Discord on the `notifications` queue.

The queue itself, its lanes and `webhook.deliver` are the core pack's (every job's webhook needs them);
this pack adds the channels, one delivery record per notification, the SES configuration set whose
delivery events mark records delivered or bounced, and the shared per-channel send limits.
"""

from __future__ import annotations

from typing import Any

from offload.catalog import JobType, Pack, RateLimit

PACK = "notifications"
QUEUE = "notifications"
# Seed 003's priorities: pass one as `priority=` when enqueueing; the queue's lanes serve them apart.
PRIORITIES = {"live-alert": 10, "payment-success": 8, "content-upload": 5, "weekly-digest": 2}
# The shared limits the channels take (ctx.rate_limit): SES's account send rate (a production account
# starts at 14 messages a second; set yours) and Discord's per-webhook limit (5 requests per 2 s).
SES_LIMIT = "ses"
DISCORD_LIMIT = "discord"
LIMITS = {SES_LIMIT: RateLimit(14, 1), DISCORD_LIMIT: RateLimit(5, 2)}


def _type(name: str, module: str, function: str, description: str, **policy: Any) -> JobType:
    return JobType(
        name,
        queue=QUEUE,
        processor=f"offload.packs.notifications.{module}:{function}",
        description=description,
        **policy,
    )


pack = Pack(
    PACK,
    description="Email through SES, SMS and push through SNS, Discord webhooks; a delivery record per notification.",
    job_types=(
        _type("notify.email", "email", "send_email", "One templated email (HTML and text) to one recipient."),
        _type(
            "notify.digest",
            "email",
            "send_digest",
            "One templated email per recipient, personalised, sent in batches of 50 (a retry skips those sent).",
            priority=PRIORITIES["weekly-digest"],
            timeout_s=55,
        ),
        _type("notify.sms", "sms", "send_sms", "An SMS to an E.164 number through SNS (transactional/promotional)."),
        _type("notify.push", "push", "send_push", "A push notification to an SNS platform endpoint (FCM, APNs)."),
        _type(
            "notify.discord",
            "discord",
            "send_discord",
            "A Discord webhook message, mentions off unless asked; a 429 waits retry_after without an attempt.",
            attempts=5,
        ),
    ),
    resource_limits=dict(LIMITS),
    infra="offload.packs.notifications.infra:Notifications",
    cli="offload.packs.notifications.cli:app",
)


def notifications_pack(**options: Any) -> Pack:
    """The notifications pack with options (`NotificationOptions`: sender, templates), validated now."""
    from offload.packs.notifications.settings import NotificationOptions

    return pack.with_options(NotificationOptions, options)
