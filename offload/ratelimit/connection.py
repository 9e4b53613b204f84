"""Redis clients for the rate limiter: short timeouts, one client per URL per process.

A Lambda worker reuses its process between invocations, so the client (and its pooled
socket) is built once per URL and kept. Timeouts are short because an acquire sits on
the job's critical path: when Redis is slow or gone, the caller should find out in about
a second and defer the job, not hang until the Lambda timeout. The caller passes the URL
(from its validated settings); this module never reads the environment.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

CONNECT_TIMEOUT_S = 0.5
READ_TIMEOUT_S = 0.5
# An idle pooled socket is PINGed before reuse after this long (ElastiCache may have closed
# it while the Lambda was frozen); a busy worker never pays the extra round trip.
HEALTH_CHECK_INTERVAL_S = 30
# One retry on a fresh socket covers a stale pooled connection (failover, restart, idle
# close); more would stretch an outage into seconds per acquire.
RETRIES = 1

_SCHEMES = ("redis", "rediss")
_clients: dict[tuple[str, str | None, float, float], redis.Redis] = {}
_lock = threading.Lock()


def redis_client(
    url: str,
    *,
    password: str | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    read_timeout_s: float = READ_TIMEOUT_S,
) -> redis.Redis:
    """The process's Redis client for `url` (`redis://host:6379/0`, or `rediss://` for TLS), built once."""
    scheme = urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ValueError(
            f"redis url {url!r} has scheme {scheme!r}; use redis://host:port/db, "
            "or rediss://host:port/db for ElastiCache with in-transit encryption"
        )
    if password is not None and urlsplit(url).password is not None:
        raise ValueError("password is given both in the redis url and as password=; pass it in one place only")
    key = (url, password, connect_timeout_s, read_timeout_s)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = redis.Redis.from_url(
                url,
                password=password,
                socket_connect_timeout=connect_timeout_s,
                socket_timeout=read_timeout_s,
                health_check_interval=HEALTH_CHECK_INTERVAL_S,
                retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), RETRIES),
                client_name="offload-ratelimit",
            )
            _clients[key] = client
        return client


def close_all() -> None:
    """Close and forget every cached client (tests; a process that changes its Redis URL)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()
