"""The load run: 10,000 jobs of mixed kinds through the local cloud, bulk and single enqueue.

Run: .venv/bin/python bench/load.py [--jobs 10000] [--timeout 900]

Checks (issue 15): every record ends terminal, nothing is lost, no webhook runs twice, the queues'
statistics add up (records by status, messages, dead letters), the local cloud's memory stays flat
(RSS at start and end, of the cloud's process and of DynamoDB's when it has one; moto keeps every record in
memory, so some growth per stored job is expected and is printed per 1,000 jobs), and the whole run holds at
least 50 jobs/s from the first enqueue to the last terminal record. The peer is the same run with DynamoDB
kept in the cloud's process (`--dynamodb-in-process`, the layout before offload.local.dynamodb_process): run
the two alternately. BullMQ's ~2,000 jobs/s on this laptop is the issue's reference, not measured here (no
Node Redis worker fleet is installed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from workload import CountingSink, Mix, account, rss_mb, submit, wait_drained  # noqa: E402

from offload.aws import Clients  # noqa: E402
from offload.local.cloud import LocalCloud, free_port  # noqa: E402
from offload.runtime import Runtime  # noqa: E402
from offload.settings import Settings  # noqa: E402

TARGET_JOBS_PER_S = 50
QUEUES = ["default", "notifications"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the queues to drain")
    parser.add_argument("--pollers", type=int, default=4, help="the local cloud's pollers per event source")
    parser.add_argument(
        "--dynamodb-in-process",
        action="store_true",
        help="keep DynamoDB in the cloud's process (the peer: the layout before offload.local.dynamodb_process)",
    )
    args = parser.parse_args()
    sink = CountingSink()
    cloud = LocalCloud(
        port=free_port(),
        max_pollers_per_source=args.pollers,
        cron=False,
        log=lambda *_: None,
        dynamodb_process=not args.dynamodb_in_process,
    ).start()
    try:
        settings = Settings.model_validate(json.loads(cloud.outputs["ClientConfig"]))
        rt = Runtime(settings, Clients(endpoint_url=cloud.endpoint, region="us-east-1"))
        rss_start = rss_mb()
        # With DynamoDB in its own process the records live there: its memory is measured too.
        tables_pid = cloud._dynamodb.proc.pid if cloud._dynamodb is not None and cloud._dynamodb.proc else None
        tables_start = rss_mb(tables_pid) if tables_pid else 0.0
        mix = Mix.of_total(args.jobs)
        print(f"submitting {mix.total} jobs: {mix} (RSS {rss_start:.0f} MB) ...", flush=True)
        began = time.perf_counter()
        sub = submit(rt, mix, sink.url)
        print(
            f"submitted in {sub.seconds:.1f} s ({mix.total / sub.seconds:.0f} jobs/s); waiting to drain ...", flush=True
        )
        waited = wait_drained(rt, QUEUES, timeout_s=args.timeout)
        wall = time.perf_counter() - began
        result = account(rt, sub, sink, QUEUES)
        rss_end = rss_mb()
        tables_end = rss_mb(tables_pid) if tables_pid else 0.0
    finally:
        cloud.stop()
        sink.stop()
    rate = result.submitted / wall
    per_1000 = (rss_end + tables_end - rss_start - tables_start) / (args.jobs / 1000)
    rows = [
        ("submitted", f"{result.submitted}"),
        ("enqueue refused (caller told)", f"{len(sub.refused)}"),
        ("completed", f"{result.by_status['completed']}"),
        ("failed with a reason", f"{result.by_status['failed']}"),
        ("cancelled", f"{result.by_status['cancelled']}"),
        ("lost (must be 0)", f"{len(result.lost)}"),
        ("side effects duplicated (must be 0)", f"{result.duplicated}"),
        ("webhooks applied by the sink", f"{len(sink.applied)} of {mix.webhooks}"),
        ("queue statistics add up", f"{'yes' if result.stats_add_up else 'NO'}: {result.stats_note}"),
        ("time to drain", f"{wall:.1f} s (enqueue {sub.seconds:.1f} s, then {waited:.1f} s)"),
        ("end to end", f"{rate:.1f} jobs/s (target >= {TARGET_JOBS_PER_S})"),
        (
            "RSS start -> end",
            f"{rss_start:.0f} -> {rss_end:.0f} MB"
            + (f", DynamoDB's process {tables_start:.0f} -> {tables_end:.0f} MB" if tables_pid else "")
            + f" ({per_1000:.1f} MB per 1,000 jobs in all)",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for reason, n in result.failed_reasons.most_common(5):
        print(f"  failed x{n}: {reason}")
    for line in sub.refused[:5]:
        print(f"  refused: {line}")
    ok = not result.lost and not result.duplicated and result.stats_add_up and rate >= TARGET_JOBS_PER_S
    print(f"\nload run: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
