"""`make chaos`: fault scenarios on the local cloud, each with the mixed workload and a counting sink.

Run: .venv/bin/python bench/chaos.py [--jobs 400] [--only NAME ...] [--quick]

About 25 minutes, 16 of them the long-delay scenario (jobs past SQS's 15-minute delay); --quick skips it.

Each scenario starts a fresh local cloud, submits the mix (bulk and single enqueue, a priority lane,
retries, 5 s delays, progress-reporting sleeps, webhooks to the counting sink), injects its fault, waits
for the queues to drain and accounts for every job (bench/workload.py). Faults on AWS calls go in through
the local cloud's botocore `before-send` handler (offload.local.inprocess: `around`), so they hit the
functions and the producer alike, and botocore's own retries see them as they would AWS's.

The table: submitted, completed, failed with a reason, cancelled, refused at enqueue (the caller got an
error), lost (must be 0), side effects duplicated (must be 0), whether the queue statistics add up, and
the time to drain. Exit status 1 when any scenario loses a job or duplicates a side effect.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "bench" / "chaos_app"  # the core, images and video packs, and the `brief` queue (3 s function timeout)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(APP))  # its catalog, for this process's enqueues

from workload import Account, CountingSink, Mix, account, submit, wait_drained  # noqa: E402

from offload.aws import Clients  # noqa: E402
from offload.catalog import SQS_MAX_DELAY_S  # noqa: E402
from offload.local.cloud import LocalCloud, free_port  # noqa: E402
from offload.local.inprocess import Body  # noqa: E402
from offload.runtime import Runtime  # noqa: E402
from offload.settings import Settings  # noqa: E402

QUEUES = ["default", "notifications", "images", "video", "brief"]
Around = Callable[[Any, Callable[[], Any]], Any]
INJECTED = {"n": 0}  # faults the running scenario's hook injected (copies sent, errors answered)


def _error(request: Any, status: int, type_: str, message: str) -> Any:
    """An AWS JSON-protocol error response, as the service would send it."""
    from botocore.awsrequest import AWSResponse

    body = json.dumps({"__type": type_, "message": message}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{type_.split('#')[-1]};Sender"}
    return AWSResponse(request.url, status, headers, Body(body))


def _target(request: Any) -> str:
    value = request.headers.get("X-Amz-Target", b"")
    return value.decode() if isinstance(value, bytes) else str(value)


def throttled(p: float, for_s: float, seed: int = 15) -> Around:
    """For `for_s` seconds: a share `p` of DynamoDB calls throttled, of SQS sends answered 500."""
    rng = random.Random(seed)
    until = time.monotonic() + for_s

    def around(request: Any, answer: Callable[[], Any]) -> Any:
        if time.monotonic() < until:
            target = _target(request)
            if target.startswith("DynamoDB_20120810.") and rng.random() < p:
                INJECTED["n"] += 1
                return _error(
                    request,
                    400,
                    "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "injected: the level of configured provisioned throughput for the table was exceeded",
                )
            if target in ("AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch") and rng.random() < p:
                INJECTED["n"] += 1
                return _error(request, 500, "com.amazonaws.sqs#InternalError", "injected: internal error")
        return answer()

    return around


def duplicated(every_third_thrice: bool = True) -> Around:
    """Every message received is delivered again later; every third one a third time (SQS is at least once);
    a copy of an S3 notification arrives 10 s late."""
    from moto.sqs.models import sqs_backends

    seen: set[str] = set()
    count = 0

    def around(request: Any, answer: Callable[[], Any]) -> Any:
        nonlocal count
        response = answer()
        if _target(request) != "AmazonSQS.ReceiveMessage" or response.status_code != 200:
            return response
        body = json.loads(response.content or b"{}")
        queue_name = json.loads(request.body or b"{}").get("QueueUrl", "").rsplit("/", 1)[-1]
        backend = sqs_backends["123456789012"]["us-east-1"]
        for message in body.get("Messages", []):
            if message["Body"] in seen:
                continue  # a copy: not copied again
            seen.add(message["Body"])
            count += 1
            late = 10 if '"s3"' in message["Body"] else 0  # an S3 notification's copy also comes late
            for _ in range(2 if every_third_thrice and count % 3 == 0 else 1):
                backend.send_message(queue_name, message["Body"], delay_seconds=late)
                INJECTED["n"] += 1
        return response

    return around


@dataclass
class Scenario:
    name: str
    what: str
    around: Callable[[], Around | None] = lambda: None
    sink_mode: str = "ok"
    sink_for_s: float = 0.0  # 0: the whole run
    uploads: bool = False  # add a round of uploads to the image and video pipelines (S3 notifications, state
    # machines, the images' shared rate limit)
    during: Callable[[LocalCloud], None] | None = None  # run beside the workload, from its start
    extra: dict[str, int] = field(default_factory=dict)  # jobs of the `brief` queue's kinds added to the mix
    long: bool = False  # lasts past SQS's 15-minute delay (skipped by --quick)


def crash_workers(
    cloud: LocalCloud, *, every_s: float = 0.7, for_s: float = 20.0, after_s: float = 0.0, seed: int = 15
) -> None:
    """Kill one running invocation of the `brief` queue's worker every `every_s` seconds for `for_s` (from
    `after_s` in), as a process that dies mid-job (out of memory, a segfault) ends: nothing of its batch is
    deleted, nothing it buffered is sent."""
    assert cloud.invocations is not None
    name = next(n for n, f in cloud.functions.items() if f.spec.environment.get("OFFLOAD_QUEUE") == "brief")
    rng = random.Random(seed)
    time.sleep(after_s)
    until = time.monotonic() + for_s
    while time.monotonic() < until:
        time.sleep(every_s)
        INJECTED["n"] += cloud.invocations.crash(name, pick=lambda running: rng.sample(running, min(1, len(running))))


def restart_redis(cloud: LocalCloud, *, after_s: float = 2.0, down_s: float = 6.0) -> None:
    """Kill the local cloud's redis-server mid-run (the images queue's shared rate limit lives there) and
    start it again on the same port, empty, as a restarted ElastiCache node would be."""
    time.sleep(after_s)
    cloud.restart_redis(down_s=down_s)
    INJECTED["n"] += 1


SCENARIOS = [
    Scenario("baseline", "no fault", uploads=True),
    Scenario(
        "duplicates",
        "every message delivered twice, every third three times; S3 notifications' copies 10 s late",
        duplicated,
        uploads=True,
    ),
    Scenario(
        "redis-restart",
        "the rate limit's Redis killed 2 s in, back (empty) 6 s later",
        uploads=True,
        during=restart_redis,
    ),
    Scenario(
        "worker-killed",
        "20 s: a running invocation of the brief queue's worker killed every 0.7 s",
        during=crash_workers,
        extra={"brief": 120},
    ),
    Scenario(
        "killed-duplicated",
        "the two at once: every message delivered twice or three times, and the brief worker killed every 0.7 s",
        duplicated,
        during=crash_workers,
        extra={"brief": 120},
    ),
    Scenario(
        "timeout",
        "jobs past the brief queue's 3 s function timeout on every attempt, in batches with quick ones",
        extra={"brief": 60, "overrun": 6},
    ),
    Scenario(
        "long-delay",
        "40 jobs due 15 min 5-34 s out (one hop each): every message delivered twice, every third three times, "
        "and the brief worker killed every 0.7 s from 14 min 40 s to 15 min 40 s",
        duplicated,
        during=lambda cloud: crash_workers(cloud, after_s=SQS_MAX_DELAY_S - 20, for_s=60),
        extra={"hopped": 40},
        long=True,
    ),
    Scenario("throttled", "20 s: 15% of DynamoDB calls throttled, 15% of SQS sends 500", lambda: throttled(0.15, 20)),
    Scenario("provider-429", "the webhook receiver answers 429 for 15 s", sink_mode="429", sink_for_s=15),
    Scenario("provider-5xx", "the webhook receiver answers 500 for 15 s", sink_mode="500", sink_for_s=15),
    Scenario("provider-slow", "the webhook receiver takes 1 s per request (the sender waits 3 s)", sink_mode="slow"),
    Scenario(
        "provider-never", "the webhook receiver never answers for 15 s (held 8 s)", sink_mode="never", sink_for_s=15
    ),
]


def run(scenario: Scenario, mix: Mix, timeout_s: float) -> tuple[Account, float, int, int]:
    INJECTED["n"] = 0
    sink = CountingSink()
    cloud = LocalCloud(
        stack_name="OffloadChaos", cdk_out=APP / "cdk.out", port=free_port(), cron=False, log=print
    ).start()
    try:
        settings = Settings.model_validate(json.loads(cloud.outputs["ClientConfig"]))
        rt = Runtime(settings, Clients(endpoint_url=cloud.endpoint, region="us-east-1"))
        endpoint = cloud.in_process_endpoint
        around = scenario.around()
        if around is not None:
            if endpoint is None:
                raise RuntimeError("fault injection needs the in-process endpoint (a template with state machines)")
            endpoint.around = around
        sink.mode = scenario.sink_mode
        began = time.perf_counter()
        beside = None
        if scenario.during is not None:
            beside = threading.Thread(target=scenario.during, args=(cloud,), daemon=True)
            beside.start()
        rounds = 1 if scenario.uploads else 0
        sub = submit(rt, replace(mix, images=rounds, videos=rounds, **scenario.extra), sink.url, chunk=100)
        while scenario.sink_for_s and time.perf_counter() - began < scenario.sink_for_s:
            time.sleep(0.2)
        sink.mode = "ok" if scenario.sink_for_s else sink.mode
        if beside is not None:
            beside.join()
        waited = wait_drained(rt, QUEUES, timeout_s=timeout_s, uploads=sub.uploads)
        drained = time.perf_counter() - began
        if endpoint is not None:
            endpoint.around = None  # the accounting reads without faults
        result = account(rt, sub, sink, QUEUES)
        result.lost_detail = [_describe(rt, job_id) for job_id in result.lost[:3]]
        for delivery in sink.duplicates()[:3]:
            times = sink.applied_at[delivery]
            apart = ", ".join(f"{b - a:.1f}" for a, b in itertools.pairwise(times))
            result.dup_detail.append(f"{_describe(rt, delivery)}; its 2xx answers {apart} s apart")
        injected = INJECTED["n"] + sink.requests - sum(sink.applied.values())  # + the receiver's non-2xx answers
        injected += cloud.invocations.timed_out if cloud.invocations else 0  # + invocations stopped at the timeout
        return result, drained if waited < timeout_s else float("inf"), len(sub.refused), injected
    finally:
        cloud.stop()
        sink.stop()


def _describe(rt: Runtime, job_id: str) -> str:
    """What a lost job's record says, for the note under the table."""
    job = rt.store.get(job_id)
    if job is None:
        return f"{job_id}: no record"
    errors = "; ".join(e.reason[:80] for e in job.history[-2:]) or "no errors"
    times = f"created {job.created_at}, started {job.started_at}, updated {job.updated_at}"
    return f"{job_id} ({job.type}): {job.status.value}, attempt {job.attempts} of {job.max_attempts}, {errors}; {times}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds each scenario may take to drain")
    parser.add_argument("--only", nargs="*", help="scenario names", default=None)
    parser.add_argument("--quick", action="store_true", help="skip the scenarios that outlast SQS's 15-minute delay")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if (not args.only or s.name in args.only) and not (args.quick and s.long)]
    mix = Mix.of_total(args.jobs)
    heads = ("scenario", "faults", "submitted", "completed", "failed", "cancelled", "refused", "lost", "dup")
    heads += ("hook lost", "stats", "drain s")
    rows, notes, ok = [], [], True
    for scenario in chosen:
        print(f"{scenario.name}: {scenario.what} ...", flush=True)
        timeout_s = args.timeout + (SQS_MAX_DELAY_S if scenario.long else 0)
        result, drained, refused, injected = run(scenario, mix, timeout_s)
        ok &= not result.lost and not result.duplicated and not result.hooks_lost
        rows.append(
            (
                scenario.name,
                injected,
                result.submitted,
                result.by_status["completed"],
                result.by_status["failed"],
                result.by_status["cancelled"],
                refused,
                len(result.lost),
                result.duplicated,
                len(result.hooks_lost),
                "ok" if result.stats_add_up else "NO",
                f"{drained:.1f}",
            )
        )
        notes += [f"{scenario.name}: failed x{n}: {reason}" for reason, n in result.failed_reasons.most_common(8)]
        if not result.stats_add_up:
            notes.append(f"{scenario.name}: {result.stats_note}")
        notes += [f"{scenario.name}: lost {detail}" for detail in result.lost_detail]
        notes += [f"{scenario.name}: delivered twice {detail}" for detail in result.dup_detail]
        if result.hooks_lost:
            notes.append(f"{scenario.name}: no webhook for {len(result.hooks_lost)} jobs, e.g. {result.hooks_lost[0]}")
    print()
    first = max(len(heads[0]), *(len(row[0]) for row in rows))
    print(" | ".join(f"{h:>{first}}" if i == 0 else f"{h:>9}" for i, h in enumerate(heads)))
    for row in rows:
        print(" | ".join(f"{c!s:>{first}}" if i == 0 else f"{c!s:>9}" for i, c in enumerate(row)))
    print(
        "faults: copies of received messages sent, AWS errors answered, the receiver's non-2xx answers, "
        "invocations killed or stopped at their timeout"
    )
    for note in notes:
        print(f"  {note}")
    print(f"\nchaos: {'PASS' if ok else 'FAIL'} (lost, dup and hook lost must be 0 in every scenario)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
