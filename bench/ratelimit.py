"""Rate limiter bench: offload's RateLimiter against the `limits` library's Redis moving window.

Both run on the same local Redis (127.0.0.1:6379) in the same run, from 1 and from 8
processes, in two modes: `overhead` (a limit so high that every call is admitted, so the
figures are the limiter's own cost) and `binding` (1,000 per second, far below what the
callers ask for, so most calls are refused). Each case runs as two rounds of A-B-B-A
(four 1.5 s runs per library) to cancel drift on a shared machine; figures pool the runs.

Per case: acquires per second (all processes together), p50/p99 latency of one acquire,
round trips per acquire counted two ways (socket writes in the client, and the server's
INFO commandstats EVAL/EVALSHA calls), and the server's commands per acquire including
the ones the Lua script runs. The commandstats deltas are server-wide: anything else
using the local Redis during the run shows up in them.

Targets (offload): throughput at least the peer's, exactly one round trip per acquire,
p99 under 2 ms on loopback. Prints PASS/FAIL per target and exits 1 on a FAIL.
Run from the repo root: `.venv/bin/python bench/ratelimit.py` (about a minute).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

URL = "redis://127.0.0.1:6379/0"
DURATION_S = 1.5
ROUNDS = 2  # of A-B-B-A per case: short interleaved runs, so load from elsewhere hits both libraries alike
OVERHEAD_LIMIT = 1_000_000  # per second: never reached, every call is admitted
BINDING_LIMIT = 1_000  # per second: well below what 1 or 8 greedy processes ask for
P99_TARGET_MS = 2.0
LIBS = ("offload", "limits")


@dataclass
class Tally:
    """One library's figures for one case, pooled over its runs."""

    calls: int = 0
    allowed: int = 0
    seconds: float = 0.0
    socket_writes: int = 0
    evals: int = 0  # EVAL + EVALSHA calls the server counted
    server_commands: int = 0  # every command the server counted, script-internal ones included
    server_usec: float = 0.0  # time the server spent in EVAL/EVALSHA
    latencies_ns: list[int] = field(default_factory=list)

    def per_call(self, n: float) -> float:
        return n / self.calls if self.calls else math.nan

    def pct_ms(self, q: float) -> float:
        lat = sorted(self.latencies_ns)
        return lat[min(len(lat) - 1, int(q * len(lat)))] / 1e6 if lat else math.nan


def _acquirer(lib: str, name: str, limit: int) -> Any:
    """A zero-argument callable that takes one slot of `limit` per second for `name`; True if allowed."""
    if lib == "offload":
        from offload.ratelimit import RateLimiter, redis_client

        limiter = RateLimiter(redis_client(URL))
        return lambda: limiter.acquire(name, limit, 1.0).allowed
    from limits import RateLimitItemPerSecond
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    strategy, item = MovingWindowRateLimiter(RedisStorage(URL)), RateLimitItemPerSecond(limit)
    return lambda: strategy.hit(item, name)


def _worker(lib: str, name: str, limit: int, barrier: Any, results: Any) -> None:
    """One process: acquire as fast as it can for DURATION_S, report counts and latencies."""
    from redis.connection import AbstractConnection

    writes = [0]
    send = AbstractConnection.send_packed_command

    def counting_send(self: Any, command: Any, check_health: bool = True) -> None:
        writes[0] += 1
        send(self, command, check_health)

    AbstractConnection.send_packed_command = counting_send  # type: ignore[method-assign]
    acquire = _acquirer(lib, name, limit)
    acquire()  # connect and load the script before the clock starts
    barrier.wait()
    writes[0] = calls = allowed = 0
    latencies: list[int] = []
    clock = time.perf_counter_ns
    started = clock()
    deadline = started + int(DURATION_S * 1e9)
    t = started
    while t < deadline:
        ok = acquire()
        now = clock()
        latencies.append(now - t)
        t = now
        calls += 1
        allowed += ok
    results.put((calls, allowed, writes[0], (t - started) / 1e9, latencies))


def _commandstats(admin: redis.Redis) -> dict[str, tuple[int, float]]:
    stats: dict[str, Any] = admin.info("commandstats")
    return {k.removeprefix("cmdstat_"): (v["calls"], v["usec"]) for k, v in stats.items()}


def run(lib: str, procs: int, limit: int, admin: redis.Redis, tally: Tally) -> None:
    """One timed run of `procs` processes against a fresh key; adds its figures to `tally`."""
    ctx = multiprocessing.get_context("fork")
    name = f"bench-{lib}-{uuid.uuid4().hex[:8]}"
    barrier, results = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(lib, name, limit, barrier, results)) for _ in range(procs)]
    for w in workers:
        w.start()
    # Warm-ups are done once every worker waits at the barrier; the server's counters start here.
    while barrier.n_waiting < procs:
        time.sleep(0.01)
    before = _commandstats(admin)
    barrier.wait()
    outcomes = [results.get(timeout=60) for _ in workers]
    after = _commandstats(admin)
    for w in workers:
        w.join(timeout=10)
    ours = ("info",)  # the bench's own commands
    delta = {k: (c - before.get(k, (0, 0))[0], u - before.get(k, (0, 0))[1]) for k, (c, u) in after.items()}
    for calls, allowed, writes, _seconds, latencies in outcomes:
        tally.calls += calls
        tally.allowed += allowed
        tally.socket_writes += writes
        tally.latencies_ns.extend(latencies)
    tally.seconds += max(o[3] for o in outcomes)
    tally.evals += sum(delta.get(k, (0, 0))[0] for k in ("eval", "evalsha"))
    tally.server_usec += sum(delta.get(k, (0, 0))[1] for k in ("eval", "evalsha"))
    tally.server_commands += sum(c for k, (c, _) in delta.items() if k not in ours)


def main() -> int:
    admin = redis.Redis.from_url(URL)
    try:
        admin.ping()
    except redis.ConnectionError:
        print(f"no Redis at {URL}: start one with redis-server --daemonize yes --port 6379 --save ''")
        return 1
    print(
        f"Redis {admin.info('server')['redis_version']} at {URL}; "
        f"{ROUNDS} x A-B-B-A runs of {DURATION_S:g} s per case; {os.cpu_count()} CPUs"
    )
    print("offload = offload.ratelimit.RateLimiter (Lua sliding log, Redis server time)")
    print("limits  = limits.strategies.MovingWindowRateLimiter + limits.storage.RedisStorage (client time)\n")
    cases = [(procs, mode) for procs in (1, 8) for mode in ("overhead", "binding")]
    results: dict[tuple[int, str], dict[str, Tally]] = {}
    for procs, mode in cases:
        limit = OVERHEAD_LIMIT if mode == "overhead" else BINDING_LIMIT
        tallies = {lib: Tally() for lib in LIBS}
        for _ in range(ROUNDS):
            for lib in (*LIBS, *reversed(LIBS)):
                run(lib, procs, limit, admin, tallies[lib])
        results[(procs, mode)] = tallies

    header = (
        f"{'case':<22}{'library':<9}{'acq/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'RT/acq':>8}{'EVAL/acq':>9}{'srv cmd/acq':>12}{'srv us/acq':>11}{'allowed/s':>10}"
    )
    print(header)
    print("-" * len(header))
    for (procs, mode), tallies in results.items():
        for lib, t in tallies.items():
            print(
                f"{f'{procs} proc, {mode}':<22}{lib:<9}{t.calls / t.seconds:>9.0f}{t.pct_ms(0.5):>8.3f}"
                f"{t.pct_ms(0.99):>8.3f}{t.per_call(t.socket_writes):>8.3f}{t.per_call(t.evals):>9.3f}"
                f"{t.per_call(t.server_commands):>12.2f}{t.per_call(t.server_usec):>11.1f}"
                f"{t.allowed / t.seconds:>10.0f}"
            )
    print(
        "\nRT/acq: socket writes per acquire (client); EVAL/acq: EVAL+EVALSHA per acquire (INFO commandstats);\n"
        "srv cmd/acq: every command the server ran per acquire, the script's own included (INFO commandstats).\n"
        f"binding: {BINDING_LIMIT}/s; a {DURATION_S:g} s run from an empty window admits at most "
        f"{BINDING_LIMIT} x ceil({DURATION_S:g}) = {BINDING_LIMIT * math.ceil(DURATION_S)}, "
        f"i.e. {BINDING_LIMIT * math.ceil(DURATION_S) / DURATION_S:.0f} allowed/s.\n"
    )

    failures = 0

    def verdict(ok: bool, what: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {what}")

    for (procs, mode), tallies in results.items():
        ours, peer = tallies["offload"], tallies["limits"]
        case = f"{procs} proc, {mode}"
        ours_rate, peer_rate = ours.calls / ours.seconds, peer.calls / peer.seconds
        verdict(ours_rate >= peer_rate, f"{case}: throughput {ours_rate:.0f}/s >= limits' {peer_rate:.0f}/s")
        one_rt = round(ours.per_call(ours.socket_writes), 3) == 1 and round(ours.per_call(ours.evals), 2) == 1
        verdict(
            one_rt,
            f"{case}: round trips per acquire {ours.per_call(ours.socket_writes):.3f} (client), "
            f"{ours.per_call(ours.evals):.3f} (server) == 1 "
            f"[limits: {peer.per_call(peer.socket_writes):.3f} / {peer.per_call(peer.evals):.3f}]",
        )
        crowded = f" ({procs} processes + Redis share {os.cpu_count()} CPUs)" if procs >= (os.cpu_count() or 1) else ""
        verdict(
            ours.pct_ms(0.99) < P99_TARGET_MS,
            f"{case}: p99 {ours.pct_ms(0.99):.3f} ms < {P99_TARGET_MS:g} ms [limits: {peer.pct_ms(0.99):.3f} ms]"
            + crowded,
        )
    if any(
        round(t.per_call(t.evals), 2) > round(t.per_call(t.socket_writes), 2)
        for r in results.values()
        for t in r.values()
    ):
        print("note: the server counted more EVAL/EVALSHA than the bench sent: other clients used this Redis meanwhile")
    ratio = statistics.mean(
        (t["offload"].calls / t["offload"].seconds) / (t["limits"].calls / t["limits"].seconds)
        for t in results.values()
    )
    print(f"\nmean throughput ratio offload/limits over the {len(results)} cases: {ratio:.2f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
