"""The HTTP API on the local cloud under 50 concurrent clients: p50 / p99 of `POST /jobs` and `GET /jobs/{id}`,
and the AWS requests each `POST /jobs` makes (target 2: one PutItem, one SendMessage).

Run: .venv/bin/python bench/api.py [--clients 50] [--requests 20]
Peer, measured in the same run with the same threads: the library calls the routes make
(`offload.jobs.enqueue` and `admin.get_job`) from Python, without HTTP, SigV4 or the API Gateway event.
The ratio is what the HTTP layer costs on this machine (loopback, one process, shared GIL); on AWS, API
Gateway's own latency is added to the function's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import botocore.session  # noqa: E402

from offload.aws import Clients  # noqa: E402
from offload.client import OffloadClient  # noqa: E402
from offload.jobs import admin  # noqa: E402
from offload.jobs.enqueue import enqueue  # noqa: E402
from offload.local.cloud import LocalCloud, free_port  # noqa: E402
from offload.runtime import Runtime  # noqa: E402
from offload.settings import Settings  # noqa: E402
from offload.stats import percentile  # noqa: E402

TARGET_AWS_REQUESTS_PER_POST = 2


class AwsRequests:
    """Counts the AWS requests a botocore session's clients send, by service and operation."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            self.counts[f"{service}.{operation}"] += 1

    def take(self) -> Counter[str]:
        with self._lock:
            taken, self.counts = self.counts, Counter()
        return taken


def timed(calls: list[Callable[[], Any]], clients: int) -> tuple[list[float], list[Any]]:
    """Run the calls on `clients` threads; each call's latency (ms) and result, in order."""

    def one(call: Callable[[], Any]) -> tuple[float, Any]:
        began = time.perf_counter()
        result = call()
        return (time.perf_counter() - began) * 1000, result

    with ThreadPoolExecutor(max_workers=clients) as pool:
        done = list(pool.map(one, calls))
    return [d[0] for d in done], [d[1] for d in done]


def row(name: str, latencies: list[float], wall_s: float) -> dict[str, Any]:
    return {
        "what": name,
        "n": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "per_s": round(len(latencies) / wall_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=10, help="requests per client per phase and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of ours-then-peer phases")
    args = parser.parse_args()
    n = args.clients * args.requests

    api_port = free_port()
    cloud = LocalCloud(port=free_port(), api_port=api_port, cron=False, log=lambda *_: None)
    cloud.start()
    try:
        from offload.api import app as api_app

        counter = AwsRequests()
        api_app.runtime().clients.session_events.register("before-send", counter)
        session = botocore.session.get_session()
        session.set_credentials("local", "local")
        session.set_config_variable("region", "us-east-1")
        client = OffloadClient(f"http://127.0.0.1:{api_port}", session=session)
        settings = Settings.model_validate(json.loads(cloud.outputs["ClientConfig"]))
        rt = Runtime(settings, Clients(endpoint_url=cloud.endpoint, region="us-east-1"))
        # Warm both paths (imports, connection pools, the catalog) before measuring.
        for i in range(10):
            admin.get_job(rt, enqueue("diag.echo", {"warm": i}, runtime=rt))
            client.get_job(client.enqueue("diag.echo", {"warm": i}))
        counter.take()

        def drain() -> None:
            """Wait for the workers to finish what the last phase enqueued, so phases don't share the CPU."""
            while rt.queues.depth("default")["visible"] + rt.queues.depth("default")["in_flight"] > 0:
                time.sleep(0.5)
            counter.take()

        phases: dict[str, list[float]] = {}
        walls: dict[str, float] = {}

        def phase(name: str, calls: list[Callable[[], Any]]) -> list[Any]:
            began = time.perf_counter()
            latencies, results = timed(calls, args.clients)
            walls[name] = walls.get(name, 0.0) + time.perf_counter() - began
            phases.setdefault(name, []).extend(latencies)
            return results

        post_calls: Counter[str] = Counter()
        get_calls: Counter[str] = Counter()
        for _ in range(args.rounds):  # A B A B: ours, then the peer, in each round
            drain()
            ids = phase("POST /jobs (HTTP API)", [lambda i=i: client.enqueue("diag.echo", {"i": i}) for i in range(n)])
            post_calls += counter.take()
            drain()
            peer_ids = phase(
                "enqueue() in-process (peer)",
                [lambda i=i: enqueue("diag.echo", {"i": i}, runtime=rt) for i in range(n)],
            )
            drain()
            phase("GET /jobs/{id} (HTTP API)", [lambda j=j: client.get_job(j) for j in ids])
            get_calls += counter.take()
            phase("admin.get_job() in-process (peer)", [lambda j=j: admin.get_job(rt, j) for j in peer_ids])
        rows = [row(name, latencies, walls[name]) for name, latencies in phases.items()]
        n *= args.rounds
    finally:
        cloud.stop()

    print(
        f"{args.clients} concurrent clients, {n} requests per phase over {args.rounds} rounds, local cloud on loopback"
    )
    print(f"{'what':36} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for r in rows:
        print(f"{r['what']:36} {r['n']:>6} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['per_s']:>8}")
    print("ratios, HTTP API / in-process peer (same run):")
    by = {r["what"]: r for r in rows}
    pairs = (
        ("POST /jobs", by["POST /jobs (HTTP API)"], by["enqueue() in-process (peer)"]),
        ("GET /jobs/{id}", by["GET /jobs/{id} (HTTP API)"], by["admin.get_job() in-process (peer)"]),
    )
    for label, ours, peer in pairs:
        print(f"  {label:16} p50 x{ours['p50_ms'] / peer['p50_ms']:.2f}  p99 x{ours['p99_ms'] / peer['p99_ms']:.2f}")
    per_post = sum(post_calls.values()) / n
    verdict = "met" if per_post <= TARGET_AWS_REQUESTS_PER_POST else "MISSED"
    print(f"AWS requests per POST /jobs: {per_post:.2f} (target {TARGET_AWS_REQUESTS_PER_POST}: {verdict}): ", end="")
    print(", ".join(f"{op} {count / n:.2f}" for op, count in sorted(post_calls.items())))
    print(f"AWS requests per GET /jobs/{{id}}: {sum(get_calls.values()) / n:.2f}: ", end="")
    print(", ".join(f"{op} {count / n:.2f}" for op, count in sorted(get_calls.items())))


if __name__ == "__main__":
    main()
