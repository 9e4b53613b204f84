"""webhook.deliver: POST a signed JSON body to a URL."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from pydantic import BaseModel, Field, HttpUrl

from offload.errors import NonRetryableError, RetryableError
from offload.http_rules import error_for_status
from offload.jobs.context import JobContext
from offload.jobs.notify import SIGNATURE_HEADER, sign
from offload.packs.core.http_util import check_destination
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
    """POST {event, delivery_id, payload}; 2xx is success, 429/5xx/timeouts retry, other 4xx fail."""
    url = str(data.url)
    check_destination(url)
    body = json.dumps({"event": data.event, "delivery_id": ctx.job_id, "payload": data.payload}).encode()
    headers = {
        **data.headers,
        "Content-Type": "application/json",
        "User-Agent": "offload-webhooks/1",
        "X-Offload-Event": data.event,
        "X-Offload-Delivery": ctx.job_id,
        SIGNATURE_HEADER: sign(signing_secret(ctx.runtime), body),
    }
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    began = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=min(data.timeout_s, max(ctx.remaining_s(), 1))) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        raise error_for_status(exc.code, url, exc.read(200).decode(errors="replace")) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise RetryableError(f"could not reach {url}: {getattr(exc, 'reason', exc)}") from None
    return {"status": status, "duration_ms": round((time.monotonic() - began) * 1000, 1)}
