"""notify.discord: a message through a Discord webhook.

Mentions are off unless the job asks (`allowed_mentions: {"parse": []}`: an "@everyone" in user
content pings nobody). Discord's per-webhook limit is shared by every worker (`ctx.rate_limit`
keyed by the webhook); a 429 anyway is a deferral for its `retry_after`, not a used attempt. A
deleted webhook (404, 401 or 410) is recorded as disabled and later messages to it fail at once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, Field, HttpUrl, model_validator

from offload.errors import NonRetryableError, RateLimitedError
from offload.http_rules import error_for_status, retry_after_s
from offload.jobs.context import JobContext
from offload.packs.core.http_util import Allowlist, Answer, post_json
from offload.packs.notifications import DISCORD_LIMIT, LIMITS
from offload.packs.notifications.delivery import delivery_store, send_tracked

GONE = frozenset({401, 404, 410})  # the webhook was deleted or its token revoked
Mention = Literal["users", "roles", "everyone"]


class DiscordData(BaseModel):
    url: HttpUrl = Field(description="the webhook URL: https://discord.com/api/webhooks/<id>/<token>")
    content: str = Field(default="", max_length=2000)
    embeds: list[dict[str, Any]] = Field(default_factory=list, max_length=10)
    username: str | None = Field(default=None, max_length=80)
    mentions: list[Mention] = Field(default_factory=list, description="what may ping: none unless listed")
    timeout_s: float = Field(default=10.0, gt=0, le=25)

    @model_validator(mode="after")
    def _something(self) -> DiscordData:
        if not self.content and not self.embeds:
            raise ValueError("a Discord message needs content or at least one embed")
        return self


def redacted(url: str) -> str:
    """The webhook URL without its token (what records and logs show)."""
    parts = urlparse(url)
    path = parts.path.rstrip("/").rsplit("/", 1)[0] if parts.path.count("/") >= 4 else parts.path
    return f"{parts.scheme}://{parts.netloc}{path}/***"


def deferral(answer: Answer, url: str) -> RateLimitedError:
    """A 429's wait: the body's `retry_after` (seconds), else the rate-limit headers."""
    body = answer.json()
    wait = body.get("retry_after") if isinstance(body, dict) else None
    if not isinstance(wait, int | float):
        reset = answer.headers.get("x-ratelimit-reset-after")
        wait = float(reset) if reset else retry_after_s(answer.headers)
    scope = "globally" if isinstance(body, dict) and body.get("global") else "for this webhook"
    return RateLimitedError(f"Discord rate-limited {url} {scope}: retry in {float(wait):.2f}s", float(wait))


def send_discord(data: DiscordData, ctx: JobContext) -> dict[str, Any]:
    """POST the message (wait=true, so Discord answers with the message id)."""
    url = str(data.url)
    store = delivery_store(ctx.runtime)
    payload: dict[str, Any] = {"allowed_mentions": {"parse": list(data.mentions)}}
    if data.content:
        payload["content"] = data.content
    if data.embeds:
        payload["embeds"] = data.embeds
    if data.username:
        payload["username"] = data.username
    body = json.dumps(payload).encode()
    limit_name = f"{DISCORD_LIMIT}:{hashlib.sha256(url.encode()).hexdigest()[:16]}"
    target = f"{url}{'&' if '?' in url else '?'}wait=true"

    def send() -> str | None:
        ctx.rate_limit(limit_name, LIMITS[DISCORD_LIMIT])
        answer = post_json(
            target,
            body,
            {"User-Agent": "offload-notify/1"},
            timeout=min(data.timeout_s, max(ctx.remaining_s(), 1)),
            allow=Allowlist.parse(ctx.runtime.settings.http_allow_hosts),
        )
        if answer.status == 429:
            raise deferral(answer, redacted(url))
        if answer.status in GONE:
            reason = f"Discord answered HTTP {answer.status}: the webhook was deleted or its token revoked"
            store.disable_endpoint("discord", url, reason)
            raise NonRetryableError(f"{redacted(url)}: {reason}; create a new webhook and use its URL")
        if answer.status >= 300:
            raise error_for_status(answer.status, redacted(url), answer.body[:200].decode(errors="replace"))
        sent = answer.json()
        return str(sent["id"]) if isinstance(sent, dict) and "id" in sent else None

    record = send_tracked(ctx, "discord", redacted(url), send, endpoint=url, store=store)
    return {"delivery": record.key, "status": record.status, "webhook": redacted(url)}
