"""Is this deployment able to take and run jobs? The one health check the API's `/health` and
`offload health` share, in seed 002's shape (healthy, timestamp, checks.redis, checks.queue), plus
the jobs table and the event bus. It names what is wrong, never a secret (no URL, ARN or key)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from offload.jobs.model import now_iso

if TYPE_CHECKING:
    from offload.runtime import Runtime


def deployment_health(rt: Runtime, *, direct: bool = False) -> dict[str, Any]:
    """The health report, with `checkedBy`: the deployment's own `GET /health` when it has an HTTP API
    (its function runs where the workers do, so it reaches the rate-limit cache inside the VPC, which this
    machine can't), else (or `direct`) `check_health` run here. An API that does not answer raises
    OSError or `offload.client.OffloadApiError`."""
    if rt.settings.api_url and not direct:
        from offload.client import OffloadClient

        report = OffloadClient(rt.settings.api_url, region=rt.clients.region).health()
        report["checkedBy"] = f"{rt.settings.api_url}/health"
        return report
    return {**check_health(rt), "checkedBy": "this machine"}


def check_health(rt: Runtime) -> dict[str, Any]:
    """Every check's outcome, `healthy` when all pass, and `reasons` naming each one that did not."""
    reasons: list[str] = []
    checks = {
        "redis": _redis(rt, reasons),
        "queue": _queues(rt, reasons),
        "table": _table(rt, reasons),
        "bus": _bus(rt, reasons),
    }
    return {"healthy": not reasons, "timestamp": now_iso(), "checks": checks, "reasons": reasons}


def _redis(rt: Runtime, reasons: list[str]) -> dict[str, Any]:
    from offload.ratelimit.limiter import RateLimiterUnavailable

    limiter = rt.rate_limiter
    if limiter is None:
        return {"connected": False, "latencyMs": None, "configured": False}
    try:
        latency = limiter.ping()
    except RateLimiterUnavailable as exc:
        cause = _kind(exc.__cause__ or exc)
        reasons.append(f"redis: the rate-limit cache does not answer ({cause}); rate-limited jobs are deferred")
        return {"connected": False, "latencyMs": None, "configured": True}
    return {"connected": True, "latencyMs": round(latency, 2), "configured": True}


def _queues(rt: Runtime, reasons: list[str]) -> dict[str, Any]:
    active = 0
    unreachable = []
    for spec in rt.catalog.queues:
        if spec.name not in rt.settings.queues:
            continue
        try:
            active += rt.queues.depth(spec.name)["in_flight"]
        except (ClientError, BotoCoreError) as exc:
            unreachable.append(f"{spec.name} ({_kind(exc)})")
    if unreachable:
        reasons.append(f"queue: cannot read {', '.join(unreachable)}")
    return {"accessible": not unreachable, "activeWorkers": active}


def _table(rt: Runtime, reasons: list[str]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        status = rt.clients.dynamodb.describe_table(TableName=rt.settings.table)["Table"]["TableStatus"]
    except (ClientError, BotoCoreError) as exc:
        reasons.append(f"table: cannot describe the jobs table ({_kind(exc)})")
        return {"accessible": False, "latencyMs": None}
    if status not in ("ACTIVE", "UPDATING"):
        reasons.append(f"table: the jobs table is {status}")
    return {"accessible": status in ("ACTIVE", "UPDATING"), "latencyMs": _ms(start)}


def _bus(rt: Runtime, reasons: list[str]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        rt.clients.client("events").describe_event_bus(Name=rt.settings.event_bus)
    except (ClientError, BotoCoreError) as exc:
        reasons.append(f"bus: cannot describe the event bus ({_kind(exc)})")
        return {"accessible": False, "latencyMs": None}
    return {"accessible": True, "latencyMs": _ms(start)}


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def _kind(exc: BaseException) -> str:
    """What went wrong without the details that could name a resource (an AWS error code, or the class)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__
