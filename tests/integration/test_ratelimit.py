"""The shared rate limiter against real Redis servers: the local one at 127.0.0.1:6379 and private ones.

Private servers (a free port, a temporary directory, no persistence) back the tests that
flush scripts, count server commands, or kill and restart Redis.
"""

from __future__ import annotations

import bisect
import math
import multiprocessing
import re
import shutil
import time
import uuid

import pytest
import redis

from offload.catalog import RateLimit
from offload.errors import RateLimitedError
from offload.ratelimit import (
    UNAVAILABLE_RETRY_AFTER_S,
    InMemoryRateLimiter,
    RateLimiter,
    RateLimiterUnavailable,
    redis_client,
)
from offload.ratelimit.limiter import SCRIPT_SHA
from tests.support.redis_server import PrivateRedis, free_port

LOCAL_URL = "redis://127.0.0.1:6379/0"


def _unique(label: str) -> str:
    return f"test-{label}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def local_redis() -> redis.Redis:
    client = redis_client(LOCAL_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379; start one: redis-server --daemonize yes --port 6379 --save ''")
    return client


def _hammer(url: str, name: str, limit: int, period_s: float, duration_s: float, barrier, results) -> None:
    """One worker process: acquire as fast as possible, report the server time (µs) of each success."""
    limiter = RateLimiter(redis_client(url))
    limiter.acquire(_unique("warm-up"), 1, 1.0)  # connect and load the script before the clock starts
    barrier.wait()
    deadline = time.monotonic() + duration_s
    allowed: list[int] = []
    while time.monotonic() < deadline:
        decision = limiter.acquire(name, limit, period_s)
        if decision.allowed:
            allowed.append(round(decision.at * 1_000_000))
    results.put(allowed)


def test_no_window_of_the_period_admits_more_than_the_limit_across_8_processes(local_redis):
    # Given 8 processes hammering one limit of 20 per second for 5 s
    limit, period_s, duration_s, workers = 20, 1.0, 5.0, 8
    name = _unique("exact")
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(target=_hammer, args=(LOCAL_URL, name, limit, period_s, duration_s, barrier, results))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        stamps = sorted(t for _ in procs for t in results.get(timeout=120))
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()

    # Then every window [t, t + 1 s) that starts at an acquisition holds at most 20 of them
    period_us = round(period_s * 1_000_000)
    worst = max(bisect.bisect_left(stamps, t + period_us, lo=i) - i for i, t in enumerate(stamps))
    assert worst <= limit
    # And greedy callers get nearly all the capacity. From an empty log, an exact sliding window
    # admits at most limit * ceil(D / period) in a run of D seconds (a full burst at 0, 1, ..., 4 s):
    # 100 here.
    capacity = limit * math.ceil(duration_s / period_s)
    assert len(stamps) >= 0.95 * capacity, f"{len(stamps)} allowed of a capacity of {capacity}"


def test_acquiring_after_waiting_retry_after_succeeds(local_redis):
    # Given a limit of 3 per 0.5 s that has been used up
    limiter, name = RateLimiter(local_redis), _unique("retry")
    first = limiter.acquire(name, 3, 0.5)
    assert [limiter.acquire(name, 3, 0.5).allowed for _ in range(2)] == [True, True]

    # When one more is asked for
    denied = limiter.acquire(name, 3, 0.5)

    # Then it is refused until the first acquisition leaves the window, to the microsecond
    assert not denied.allowed and denied.remaining == 0
    assert denied.retry_after_s == pytest.approx(first.at + 0.5 - denied.at, abs=2e-6)
    time.sleep(denied.retry_after_s)
    assert limiter.acquire(name, 3, 0.5).allowed


def test_remaining_counts_down_to_zero_within_a_window(local_redis):
    limiter, name = RateLimiter(local_redis), _unique("remaining")

    assert [limiter.acquire(name, 3, 60).remaining for _ in range(3)] == [2, 1, 0]


def test_acquire_or_raise_raises_rate_limited_with_retry_after_when_the_limit_is_reached(local_redis):
    limiter, name, rule = RateLimiter(local_redis), _unique("raise"), RateLimit(2, 60)
    limiter.acquire_or_raise(name, rule)
    limiter.acquire_or_raise(name, rule)

    with pytest.raises(RateLimitedError, match=r"rate limit .* reached: 2 per 60s") as caught:
        limiter.acquire_or_raise(name, rule)

    assert 59 < caught.value.retry_after_s <= 60


def test_acquire_is_one_round_trip_once_the_script_is_loaded(private_redis):
    # Given a server that has never seen the script, and a count of every command the client sends
    client, admin = redis.Redis.from_url(private_redis.url), redis.Redis.from_url(private_redis.url)
    sent: list[str] = []
    execute = client.execute_command

    def counting(*args, **options):
        sent.append(str(args[0]))
        return execute(*args, **options)

    client.execute_command = counting  # type: ignore[method-assign]
    limiter, name = RateLimiter(client), _unique("round-trips")

    # When the first acquire runs: EVALSHA gets NOSCRIPT and EVAL loads the script
    limiter.acquire(name, 1000, 60)
    assert sent == ["EVALSHA", "EVAL"]
    assert admin.script_exists(SCRIPT_SHA) == [True]

    # Then every later acquire is exactly one command, as the server counts too
    sent.clear()
    before = admin.info("commandstats")
    for _ in range(50):
        limiter.acquire(name, 1000, 60)
    after = admin.info("commandstats")
    assert sent == ["EVALSHA"] * 50
    assert after["cmdstat_evalsha"]["calls"] - before["cmdstat_evalsha"]["calls"] == 50
    assert after["cmdstat_eval"]["calls"] == before["cmdstat_eval"]["calls"]


def test_unreachable_redis_raises_unavailable_and_acquire_recovers_after_a_restart(private_redis):
    limiter, name = RateLimiter(redis_client(private_redis.url)), _unique("down")
    assert limiter.acquire(name, 5, 60).allowed

    # When Redis goes away, acquire fails fast with a distinct error
    private_redis.stop()
    started = time.monotonic()
    with pytest.raises(RateLimiterUnavailable, match="redis did not answer"):
        limiter.acquire(name, 5, 60)
    assert time.monotonic() - started < 2

    # Then once it is back on the same port, the same limiter reconnects and reloads the script
    private_redis.start()
    decision = limiter.acquire(name, 5, 60)
    assert decision.allowed and decision.remaining == 4  # a fresh server: the old window is gone


def test_fail_open_limit_admits_and_warns_while_redis_is_down(private_redis, caplog):
    limiter, name = RateLimiter(redis_client(private_redis.url)), _unique("fail-open")
    private_redis.stop()

    decision = limiter.acquire_or_raise(name, RateLimit(5, 60, fail_open=True))

    assert decision.allowed and decision.degraded
    [warning] = [r for r in caplog.records if r.getMessage() == "rate limiter unavailable, failing open"]
    assert warning.levelname == "WARNING" and warning.rate_limit == name


def test_fail_closed_limit_defers_with_a_backoff_while_redis_is_down(private_redis):
    limiter, name = RateLimiter(redis_client(private_redis.url)), _unique("fail-closed")
    private_redis.stop()

    with pytest.raises(RateLimitedError, match=r"^rate limiter unavailable: ") as caught:
        limiter.acquire_or_raise(name, RateLimit(5, 60, fail_open=False))

    assert caught.value.retry_after_s == UNAVAILABLE_RETRY_AFTER_S
    assert isinstance(caught.value.__cause__, RateLimiterUnavailable)


def test_every_key_of_a_limit_carries_the_same_single_hash_tag(local_redis):
    limiter, name = RateLimiter(local_redis), _unique("tags")
    limiter.acquire(name, 5, 60)

    keys = [k.decode() for k in local_redis.scan_iter(match=f"offload:{{rl:{name}}}*", count=1000)]

    assert keys
    tags = {k[k.index("{") + 1 : k.index("}")] for k in keys}
    assert tags == {f"rl:{name}"}
    assert all(k.count("{") == 1 and k.count("}") == 1 for k in keys)
    assert 0 < local_redis.pttl(keys[0]) <= 60_001  # the log expires a period after its last acquisition


def test_limiter_runs_on_a_cluster_mode_server(tmp_path):
    # Given a one-node Redis cluster, which refuses multi-slot scripts as a real cluster would
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    # The cluster bus port defaults to port + 10000, which may be taken or past 65535: pick one.
    bus = ("--cluster-port", str(free_port()))
    server = PrivateRedis(tmp_path, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", *bus)
    server.start()
    try:
        admin = redis.Redis(port=server.port)
        admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        deadline = time.monotonic() + 10
        while admin.cluster("info")["cluster_state"] != "ok":
            assert time.monotonic() < deadline, "the one-node cluster did not come up"
            time.sleep(0.05)
        cluster = redis.RedisCluster(host="127.0.0.1", port=server.port)
        limiter, name = RateLimiter(cluster), _unique("cluster")

        decisions = [limiter.acquire(name, 2, 60) for _ in range(3)]

        assert [d.allowed for d in decisions] == [True, True, False]
        cluster.close()
    finally:
        server.stop()


def test_in_memory_limiter_follows_the_same_sliding_log():
    now = [1000.0]
    limiter = InMemoryRateLimiter(clock=lambda: now[0])

    assert [limiter.acquire("x", 2, 1.0).allowed for _ in range(3)] == [True, True, False]
    assert limiter.acquire("x", 2, 1.0).retry_after_s == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.acquire("x", 2, 1.0).allowed


@pytest.mark.parametrize(
    ("name", "limit", "period_s", "field"),
    [("a{b}", 1, 1.0, "name"), ("ok", 0, 1.0, "limit=0"), ("ok", 1, 0.0, "period_s=0.0")],
)
def test_bad_limit_arguments_are_rejected_naming_the_field(local_redis, name, limit, period_s, field):
    with pytest.raises(ValueError, match=re.escape(field)):
        RateLimiter(local_redis).acquire(name, limit, period_s)
