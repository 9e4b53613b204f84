"""A shared rate limiter: at most `limit` acquisitions in any `period_s`, across every worker.

Algorithm: an exact sliding log. Each limit is one Redis list holding the server-time
timestamps (integer microseconds) of the acquisitions still inside the window, newest at
the head. One Lua script per acquire, atomic on the server:

1. `now` = `redis.call('TIME')`, clamped to be no earlier than the newest entry, so the
   list stays sorted even if the server's clock steps back; worker clocks never matter.
2. If `limit` or more entries are logged and the one whose departure would leave
   `limit - 1` is still inside `(now - period, now]`: deny, with `retry_after` = the time
   until it leaves (a refusal runs four commands and writes nothing).
3. Otherwise entries at or before `now - period` leave from the tail (each entry is pushed
   once and popped once: amortised O(1) per acquire), `now` is pushed, and it's allowed.

Error bound: none. Every allowed acquisition at `t` saw all acquisitions in `(t - period, t]`
and fewer than `limit` of them, so no half-open window `[a, a + period)` of server time
ever holds more than `limit` (tests/integration/test_ratelimit.py checks every window).
It admits bursts of up to `limit` at once; a greedy caller gets exactly `limit * ceil(D /
period)` acquisitions in a run of `D` seconds that starts with an empty window. The bound
holds per Redis primary: a failover to a replica that missed the last writes, or a flush,
forgets that part of the window (a limiter on a cache can't do better). A backward step of
the server clock makes the limiter stricter by the step's size, never looser.

Why not GCRA: it stores one number instead of `limit`, but with a burst of `limit` it
is a token bucket, which admits up to `2 * limit - 1` in one period; with no burst it is
exact but spaces acquisitions `period / limit` apart, which is not "N per period". Memory
here is at most `limit` integers per limit (about 10 bytes each): fine for the catalog's
job-start limits, worth revisiting for limits in the hundreds of thousands.

Round trips: one EVALSHA per acquire. The script's SHA is computed locally; the first
call on a server that hasn't seen it gets NOSCRIPT and falls back to EVAL, which also
caches it, so steady state is exactly one round trip.

Redis unreachable or timing out raises `RateLimiterUnavailable`. `acquire_or_raise`
applies the limit's `fail_open`: True admits (with a warning log, `Decision.degraded`),
False raises `RateLimitedError` with `UNAVAILABLE_RETRY_AFTER_S` so the worker defers
the job without using an attempt (the error's `__cause__` is the `RateLimiterUnavailable`).

Keys are `<prefix>:{rl:<name>}:log`: the hash tag keeps every key of one limit in one
cluster slot, so the script works on cluster-mode and serverless ElastiCache.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis import exceptions as rexc

from offload.catalog import RateLimit
from offload.errors import RateLimitedError
from offload.observability import logger

# How long a job waits when the limiter can't be asked and its limit fails closed.
UNAVAILABLE_RETRY_AFTER_S = 5.0

# KEYS[1] = the log; ARGV = limit, period in microseconds, key TTL in milliseconds.
# Returns {allowed 0/1, retry_after_us, remaining, now_us}.
SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local newest = redis.call('LINDEX', key, 0)
if newest then
  newest = tonumber(newest)
  if newest > now then now = newest end
end
local horizon = now - period
local n = redis.call('LLEN', key)
if n >= limit then
  -- the entry whose departure would leave limit - 1: still inside the window means a refusal
  local freeing = tonumber(redis.call('LINDEX', key, limit - n - 1))
  if freeing > horizon then return {0, freeing + period - now, 0, now} end
end
while n > 0 and tonumber(redis.call('LINDEX', key, -1)) <= horizon do
  redis.call('RPOP', key)
  n = n - 1
end
redis.call('LPUSH', key, now)
redis.call('PEXPIRE', key, ARGV[3])
return {1, 0, limit - n - 1, now}
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()

# Errors that mean "Redis can't answer right now" (down, slow, failing over, loading).
_UNAVAILABLE: tuple[type[Exception], ...] = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    rexc.ReadOnlyError,
    rexc.ClusterDownError,
    rexc.TryAgainError,
    OSError,
)


class RateLimiterUnavailable(Exception):
    """Redis could not be asked (down, timing out, failing over): the job should be deferred."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one acquire."""

    allowed: bool
    retry_after_s: float  # 0 when allowed; else when a slot frees up (server time)
    remaining: int  # acquisitions still possible in the current window after this one
    at: float  # server time of the decision, epoch seconds (microsecond resolution)
    degraded: bool = False  # allowed without asking Redis (fail-open while unavailable)


def _check(name: str, limit: int, period_s: float) -> None:
    if not name or "{" in name or "}" in name:
        raise ValueError(f"rate limit name {name!r} must be non-empty without '{{' or '}}' (they delimit the hash tag)")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"rate limit {name!r}: limit={limit!r} must be an integer >= 1")
    if not (period_s > 0 and math.isfinite(period_s)):
        raise ValueError(f"rate limit {name!r}: period_s={period_s!r} must be a positive number of seconds")


class _Limiter:
    """What every rate limiter adapter shares: the catalog-facing `acquire_or_raise`."""

    def acquire(self, name: str, limit: int, period_s: float) -> Decision:
        """Take one slot of `limit` per `period_s` for `name`, if there is one."""
        raise NotImplementedError

    def ping(self) -> float:
        """Milliseconds one round trip to the limiter's store takes; RateLimiterUnavailable if it can't."""
        return 0.0

    def acquire_or_raise(self, name: str, rate_limit: RateLimit) -> Decision:
        """Take a slot, or raise RateLimitedError saying when to retry; applies `fail_open`."""
        try:
            decision = self.acquire(name, rate_limit.limit, rate_limit.period_s)
        except RateLimiterUnavailable as exc:
            if rate_limit.fail_open:
                logger.warning("rate limiter unavailable, failing open", rate_limit=name, error=str(exc))
                return Decision(True, 0.0, 0, time.time(), degraded=True)
            raise RateLimitedError(
                f"rate limiter unavailable: {exc}; retrying in {UNAVAILABLE_RETRY_AFTER_S:g}s "
                f"(rate limit {name!r} fails closed: fail_open=False)",
                UNAVAILABLE_RETRY_AFTER_S,
            ) from exc
        if not decision.allowed:
            raise RateLimitedError(
                f"rate limit {name!r} reached: {rate_limit.limit} per {rate_limit.period_s}s; "
                f"retry in {decision.retry_after_s:.3f}s",
                decision.retry_after_s,
            )
        return decision


class RateLimiter(_Limiter):
    """The Redis adapter: one atomic Lua script (one round trip) per acquire."""

    def __init__(self, redis_client: redis.Redis | redis.RedisCluster, *, prefix: str = "offload") -> None:
        self._redis = redis_client
        self._prefix = prefix
        # Validated script arguments per (name, limit, period): the hot path only sends them.
        self._args: dict[tuple[str, int, float], tuple[str, int, int, int]] = {}

    def key(self, name: str) -> str:
        """The Redis key holding `name`'s log."""
        return f"{self._prefix}:{{rl:{name}}}:log"

    def ping(self) -> float:
        """Milliseconds one PING to Redis takes; RateLimiterUnavailable when Redis does not answer."""
        start = time.perf_counter()
        try:
            self._redis.ping()
        except _UNAVAILABLE as exc:
            raise RateLimiterUnavailable(f"redis did not answer ({type(exc).__name__}: {exc})") from exc
        return (time.perf_counter() - start) * 1000

    def acquire(self, name: str, limit: int, period_s: float) -> Decision:
        """Take one slot of `limit` per `period_s` for `name`, if there is one."""
        args = self._args.get((name, limit, period_s))
        if args is None:
            _check(name, limit, period_s)
            period_us = math.ceil(period_s * 1_000_000)
            args = (self.key(name), limit, period_us, math.ceil(period_us / 1000) + 1)
            if len(self._args) < 10_000:  # names come from the catalog; don't grow without bound
                self._args[(name, limit, period_s)] = args
        try:
            try:
                reply = self._redis.execute_command("EVALSHA", SCRIPT_SHA, 1, *args)
            except rexc.NoScriptError:
                reply = self._redis.execute_command("EVAL", SCRIPT, 1, *args)
        except _UNAVAILABLE as exc:
            raise RateLimiterUnavailable(f"redis did not answer ({type(exc).__name__}: {exc})") from exc
        allowed, retry_us, remaining, now_us = cast(list[Any], reply)
        return Decision(bool(allowed), int(retry_us) / 1_000_000, int(remaining), int(now_us) / 1_000_000)


class InMemoryRateLimiter(_Limiter):
    """The same sliding log in process memory: for unit tests and the single-process local cloud."""

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self._logs: dict[str, deque[int]] = {}
        self._lock = threading.Lock()

    def acquire(self, name: str, limit: int, period_s: float) -> Decision:
        """Take one slot of `limit` per `period_s` for `name`, if there is one."""
        _check(name, limit, period_s)
        period_us = math.ceil(period_s * 1_000_000)
        with self._lock:
            log = self._logs.setdefault(name, deque())
            now = round(self._clock() * 1_000_000)
            if log and log[-1] > now:
                now = log[-1]
            while log and log[0] <= now - period_us:
                log.popleft()
            n = len(log)
            if n < limit:
                log.append(now)
                return Decision(True, 0.0, limit - n - 1, now / 1_000_000)
            return Decision(False, (log[n - limit] + period_us - now) / 1_000_000, 0, now / 1_000_000)
