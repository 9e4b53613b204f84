"""How a channel's processor sends one notification under its delivery record (the one home of that flow)."""

from __future__ import annotations

from collections.abc import Callable

from offload.errors import NonRetryableError, RateLimitedError
from offload.jobs.context import JobContext
from offload.packs.notifications.settings import notifications_settings
from offload.packs.notifications.store import Channel, DeliveryRecord, DeliveryStore
from offload.runtime import Runtime


def delivery_store(rt: Runtime) -> DeliveryStore:
    """The deployment's delivery records, or a SettingsError saying the notifications pack isn't deployed."""
    return DeliveryStore(rt.clients.dynamodb, notifications_settings(rt).deliveries_table)


def send_tracked(
    ctx: JobContext,
    channel: Channel,
    to: str,
    send: Callable[[], str | None],
    *,
    key: str | None = None,
    endpoint: str | None = None,
    store: DeliveryStore | None = None,
) -> DeliveryRecord:
    """Open (or find) the delivery record, call `send` (it returns the provider's message id) unless an
    earlier attempt already sent it, and record the outcome in one conditional write.

    - a disabled `endpoint` fails at once, naming why it was disabled;
    - a deferral (RateLimitedError) leaves the record queued;
    - a permanent error, or a retryable one on the last attempt, marks it failed with the reason.
    Sending is at least once: a crash between the send and the write sends again on the retry."""
    store = store or delivery_store(ctx.runtime)
    key = key or ctx.job_id
    record = store.open(key, job_id=ctx.job_id, channel=channel, to=to)
    if record.status != "queued":
        return record  # an earlier attempt got this far: never send twice
    try:
        if endpoint is not None and (off := store.disabled(channel, endpoint)) is not None:
            raise NonRetryableError(
                f"{channel} endpoint {to} was disabled at {off.disabled_at}: {off.reason}; fix the receiver, "
                f"then `offload notify enable {channel} TARGET`"
            )
        provider_id = send()
    except RateLimitedError:
        raise
    except NonRetryableError as exc:
        store.move(key, "failed", reason=str(exc))
        raise
    except Exception as exc:
        if ctx.attempt >= ctx.max_attempts:
            store.move(key, "failed", reason=f"{exc} (after {ctx.attempt} attempts)")
        raise
    return store.move(key, "sent", provider_id=provider_id) or store.get(key) or record
