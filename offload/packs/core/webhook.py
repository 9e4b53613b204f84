"""webhook.deliver: POST a signed JSON body to a URL.

Signed two ways during the transition (docs/notifications.md): the Standard Webhooks headers
(`webhook-id`, `webhook-timestamp`, `webhook-signature`, through the `standardwebhooks` library),
and the older `X-Offload-Signature` (t=...,v1=<hex>), which receivers verify until they switch.
A 410 Gone disables the endpoint: later deliveries to it fail at once, naming why (the record lives
in the notifications pack's table when that pack is deployed, along with a delivery record per webhook).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field, HttpUrl

from offload.errors import NonRetryableError
from offload.http_rules import error_for_status
from offload.jobs.context import JobContext
from offload.jobs.notify import SIGNATURE_HEADER, sign, standard_headers
from offload.packs.core.http_util import Allowlist, post_json
from offload.runtime import Runtime

_secret_cache: dict[str, str] = {}


class WebhookData(BaseModel):
    url: HttpUrl
    event: str = Field(default="message", max_length=200)
    payload: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=10.0, gt=0, le=25)


def signing_secret(rt: Runtime) -> str:
    """The webhook secret: given directly (local), or read once from Secrets Manager."""
    if rt.settings.webhook_secret:
        return rt.settings.webhook_secret
    arn = rt.settings.webhook_secret_arn
    if not arn:
        raise NonRetryableError("no webhook secret configured (OFFLOAD_WEBHOOK_SECRET_ARN or OFFLOAD_WEBHOOK_SECRET)")
    if arn not in _secret_cache:
        _secret_cache[arn] = rt.clients.secrets.get_secret_value(SecretId=arn)["SecretString"]
    return _secret_cache[arn]


def deliver(data: WebhookData, ctx: JobContext) -> dict[str, Any]:
    """POST {event, delivery_id, payload}; 2xx is success, 429/5xx/timeouts retry, 410 disables, other 4xx fail."""
    url = str(data.url)
    body = json.dumps({"event": data.event, "delivery_id": ctx.job_id, "payload": data.payload}).encode()
    secret = signing_secret(ctx.runtime)
    ts = int(time.time())
    headers = {
        **data.headers,
        "User-Agent": "offload-webhooks/1",
        "X-Offload-Event": data.event,
        "X-Offload-Delivery": ctx.job_id,
        SIGNATURE_HEADER: sign(secret, body, ts),
        **standard_headers(secret, ctx.job_id, body, ts),
    }
    outcome: dict[str, Any] = {}
    disable = _endpoint_registry(ctx.runtime)

    def send() -> None:
        began = time.monotonic()
        answer = post_json(
            url,
            body,
            headers,
            timeout=min(data.timeout_s, max(ctx.remaining_s(), 1)),
            allow=Allowlist.parse(ctx.runtime.settings.http_allow_hosts),
        )
        if answer.status == 410:
            reason = "the receiver answered 410 Gone: it asked for no more deliveries"
            if disable is not None:
                disable(url, reason)
            raise NonRetryableError(f"{url}: {reason}; the endpoint is disabled until it is enabled again")
        if answer.status >= 300:
            raise error_for_status(answer.status, url, answer.body[:200].decode(errors="replace"))
        outcome.update(status=answer.status, duration_ms=round((time.monotonic() - began) * 1000, 1))

    tracked = _tracked(ctx)
    if tracked is None:
        send()
        return outcome
    record = tracked(url, send)
    return {**outcome, "delivery": record.key, "delivery_status": record.status}


def _endpoint_registry(rt: Runtime) -> Callable[[str, str], None] | None:
    """Where a 410 is remembered: the notifications pack's table, when the pack is deployed."""
    if "notifications" not in rt.settings.packs:
        return None
    from offload.packs.notifications.delivery import delivery_store

    store = delivery_store(rt)
    return lambda url, reason: store.disable_endpoint("webhook", url, reason)


def _tracked(ctx: JobContext) -> Callable[[str, Callable[[], None]], Any] | None:
    """The notifications pack's delivery record around the send (disabled endpoints fail fast), when deployed."""
    if "notifications" not in ctx.runtime.settings.packs:
        return None
    from offload.packs.notifications.delivery import send_tracked

    return lambda url, send: send_tracked(ctx, "webhook", url, send, endpoint=url)
