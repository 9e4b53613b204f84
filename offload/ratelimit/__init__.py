"""Shared rate limits for job starts: a Redis sliding log, one round trip per acquire."""

from offload.ratelimit.connection import redis_client
from offload.ratelimit.limiter import (
    UNAVAILABLE_RETRY_AFTER_S,
    Decision,
    InMemoryRateLimiter,
    RateLimiter,
    RateLimiterUnavailable,
)

__all__ = [
    "UNAVAILABLE_RETRY_AFTER_S",
    "Decision",
    "InMemoryRateLimiter",
    "RateLimiter",
    "RateLimiterUnavailable",
    "redis_client",
]
