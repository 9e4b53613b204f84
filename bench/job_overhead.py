"""Job overhead: AWS requests and cost per job, and the worker handler's cold import time.

Runs the real worker Lambda handler (`offload/handlers/worker.py`) in-process on moto:
1,000 `diag.echo` jobs that succeed, then 100 `diag.flaky` jobs that fail every attempt.
Every AWS request is counted by a botocore `before-call` hook on the session that makes
it (the enqueuer's runtime, the handler's runtime, the emulated SQS event source) and
cross-checked against a hook that every botocore session gets. Prints requests per job
against the targets, the cost per million jobs from published prices, and the handler's
cold import time (as asked, and with Lambda's environment and active tracing); exits 1
when a target is missed.

Run from the repo root: `make bench` or `.venv/bin/python bench/job_overhead.py`.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# us-east-1 list prices in USD, from the AWS pricing pages (check before quoting; docs/cost.md
# carries the same table): aws.amazon.com/lambda/pricing (requests; duration, Arm),
# aws.amazon.com/sqs/pricing (standard queue requests), aws.amazon.com/dynamodb/pricing/on-demand
# (write/read request units), aws.amazon.com/eventbridge/pricing (custom events),
# aws.amazon.com/sns/pricing (publishes), aws.amazon.com/s3/pricing (Standard PUT / GET requests),
# aws.amazon.com/cloudwatch/pricing (Logs ingestion, reported but not in the totals).
PRICES_USD = {
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm64": 0.0000133334,
    "sqs_request": 0.40 / 1e6,
    "dynamodb_write_unit": 0.625 / 1e6,
    "dynamodb_read_unit": 0.125 / 1e6,
    "eventbridge_event": 1.00 / 1e6,
    "sns_publish": 0.50 / 1e6,
    "s3_put": 0.005 / 1e3,
    "s3_get": 0.0004 / 1e3,
    "cloudwatch_logs_gb": 0.50,
}

QUEUE = "default"
SUCCESS_JOBS = 1000
FAILED_JOBS = 100
FAILED_ATTEMPTS = 3
# Jobs are enqueued in rounds of this many, each delivered before the next: moto's SQS scans the
# whole queue on every send and receive, so one 1,000-deep queue makes the run quadratic.
# Requests per job don't depend on it (idle polls between rounds are counted apart).
ROUND_SIZE = 100
# Per successful job: at most this many requests of each kind.
TARGETS = {"DynamoDB writes": 3.0, "SQS requests": 1.3, "EventBridge requests": 0.2}
IMPORT_TARGET_MS = 400.0
IMPORT_RUNS = 5
HANDLER_MODULE = "offload.handlers.worker"
# The handler module and the packages Python imports first, nested under it in `-X importtime`.
_HANDLER_CHAIN = frozenset(".".join(HANDLER_MODULE.split(".")[:i]) for i in range(1, HANDLER_MODULE.count(".") + 2))
RUN_TIMEOUT_S = 90.0

# The requests the cost model knows how to bill; anything else stops the bench so it gets classified.
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
DYNAMODB_READS = {"GetItem", "Query", "Scan"}
S3_GETS = {"GetObject", "HeadObject"}
S3_PUTS = {"PutObject", "CopyObject", "ListObjectsV2"}

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "offload",
    "POWERTOOLS_METRICS_NAMESPACE": "Offload",
    "LOG_LEVEL": "INFO",  # the stack's default (offload/cdk/stack.py), so log volume is realistic
}
# Never reach a real account, whatever the shell holds.
UNSET_ENV = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")

ENQUEUE, WORKER, EVENT_SOURCE, BENCH = "enqueue", "worker", "event source", "bench"
COUNTED_SOURCES = (ENQUEUE, WORKER, EVENT_SOURCE)


def say(message: str) -> None:
    """Progress line, flushed at once (stdout is redirected while the handler runs)."""
    print(message, file=sys.__stdout__, flush=True)


# -- counting requests -------------------------------------------------------------------
Key = tuple[str, str, str]  # (source, service id, operation)
JobSpec = tuple[str, dict[str, Any], int | None]  # (type, data, attempts)


def _batch_items(params: dict[str, Any]) -> int:
    """How many entries a call carries (PutEvents and *Batch calls hold several)."""
    entries = params.get("Entries")
    return len(entries) if isinstance(entries, list) else 1


@dataclass(frozen=True)
class IndexShape:
    """A global secondary index's key attributes; its projection decides which updates touch it."""

    keys: frozenset[str]
    projects_all: bool

    def write_units(self, op: str, params: dict[str, Any]) -> int:
        """Index writes a table write causes (AWS: a changed index key costs a delete plus a put).

        Assumes every item carries the index key (true for job records) and index items < 1 KB.
        """
        if op in ("PutItem", "DeleteItem"):
            return 1
        if op != "UpdateItem":
            return 0
        names = set(params.get("ExpressionAttributeNames", {}).values())
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", params.get("UpdateExpression", ""))) | names
        if words & self.keys:
            return 2
        return 1 if self.projects_all else 0


@dataclass
class RequestCounter:
    """AWS requests by source, service and operation, counted as botocore makes each call."""

    calls: Counter[Key] = field(default_factory=Counter)
    items: Counter[Key] = field(default_factory=Counter)
    index_writes: Counter[str] = field(default_factory=Counter)  # GSI write units by source
    indexes: tuple[IndexShape, ...] = ()
    empty_receives: int = 0
    retries: int = 0
    # The cross-check: a hook in every session, attributing calls to whatever phase is running.
    phase: str = BENCH
    by_phase: Counter[Key] = field(default_factory=Counter)

    def reset(self) -> None:
        self.calls.clear()
        self.items.clear()
        self.index_writes.clear()
        self.by_phase.clear()
        self.empty_receives = 0  # retries stay cumulative: the summary reports both runs

    def watch(self, emitter: Any, source: str) -> None:
        """Count every call made through clients sharing this event emitter as `source`."""

        def on_call(model: Any, **_: Any) -> None:
            self.calls[(source, model.service_model.service_id, model.name)] += 1

        def on_params(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            # before-call sees the serialized request; this event sees the API parameters.
            self.items[(source, model.service_model.service_id, model.name)] += _batch_items(params)
            if model.service_model.service_id == "DynamoDB":
                context["bench_index_writes"] = sum(ix.write_units(model.name, params) for ix in self.indexes)

        def on_result(model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            self.retries += int(parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            if "Error" not in parsed:  # a refused conditional write changes no index
                self.index_writes[source] += context.get("bench_index_writes", 0)
            if model.name == "ReceiveMessage" and not parsed.get("Messages"):
                self.empty_receives += 1

        emitter.register("before-call", on_call)
        emitter.register("before-parameter-build", on_params)
        emitter.register("after-call", on_result)

    def on_any_call(self, model: Any, **_: Any) -> None:
        """Registered for every botocore session (see install_global_hook)."""
        self.by_phase[(self.phase, model.service_model.service_id, model.name)] += 1

    @contextlib.contextmanager
    def during(self, phase: str) -> Iterator[None]:
        previous, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = previous

    def check_against_global_hook(self) -> None:
        """Every call the sessions saw happened in its own phase, and every counted phase's call was seen."""
        counted = {k: n for k, n in self.by_phase.items() if k[0] in COUNTED_SOURCES}
        if counted != dict(self.calls):
            diff = (Counter(counted) - self.calls) + (self.calls - Counter(counted))
            raise AssertionError(f"session hooks and the global hook disagree: {dict(diff)}")


def install_global_hook(counter: RequestCounter) -> None:
    """Give every botocore session created from now on the cross-check hook (as moto installs its stub)."""
    from botocore.handlers import BUILTIN_HANDLERS

    BUILTIN_HANDLERS.append(("before-call", counter.on_any_call))


# -- the emulated Lambda side ------------------------------------------------------------
@dataclass
class FakeLambdaContext:
    """The fields of Lambda's context object that Powertools and the worker read."""

    memory_limit_in_mb: int
    timeout_s: int
    function_name: str = "offload-worker-default"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:offload-worker-default"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/offload-worker-default"
    log_stream_name: str = "bench"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int((self.started + self.timeout_s - time.monotonic()) * 1000)


class ByteCountingSink(io.TextIOBase):
    """Swallows what the handler prints (JSON logs, EMF metrics) and counts the bytes."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, s: str) -> int:
        self.bytes += len(s.encode())
        return len(s)

    def writable(self) -> bool:
        return True


@dataclass
class RunResult:
    """What one run of jobs cost in requests, invocations and time."""

    name: str
    jobs: int
    calls: Counter[Key]
    items: Counter[Key]
    index_writes: int
    empty_receives: int
    batch_ms: list[float]
    log_bytes: int
    wall_s: float

    def per_job(self, service: str, ops: set[str] | None = None, *, source: str | None = None) -> float:
        n = sum(
            c
            for (src, svc, op), c in self.calls.items()
            if svc == service and (ops is None or op in ops) and (source is None or src == source)
        )
        if service == "SQS" and source in (None, EVENT_SOURCE):
            n -= self.empty_receives  # idle polls: a fixed cost per queue, not per job
        return n / self.jobs

    def events_per_job(self) -> float:
        return sum(n for (_, svc, op), n in self.items.items() if (svc, op) == ("EventBridge", "PutEvents")) / self.jobs

    @property
    def invocations_per_job(self) -> float:
        return len(self.batch_ms) / self.jobs

    @property
    def billed_ms_per_job(self) -> float:
        return sum(math.ceil(ms) for ms in self.batch_ms) / self.jobs


class Bench:
    """The moto stack, the enqueuer's runtime, the real handler, and the emulated event source."""

    def __init__(self, counter: RequestCounter) -> None:
        from offload.aws import Clients
        from offload.jobs.store import JobStore
        from offload.local.sqs_events import queue_arn
        from offload.packs import everything as CATALOG
        from offload.runtime import Runtime
        from offload.testing.aws import REGION, provision

        self.counter = counter
        self.spec = CATALOG.queue(QUEUE)
        with counter.during(BENCH):
            self.settings = provision(CATALOG, prefix="offload-bench")
        os.environ.update(self.settings.to_env() | {"OFFLOAD_QUEUE": QUEUE})

        # The handler builds its own runtime from OFFLOAD_* at import (as on Lambda); its logger
        # binds to stdout then, so import it while stdout is the counting sink.
        self.sink = ByteCountingSink()
        with contextlib.redirect_stdout(self.sink):
            import offload.observability  # noqa: F401  (binds the Powertools logger to the sink)
            from offload.handlers import worker as handler_module
            from offload.runtime import default_runtime
        self.handler = handler_module.handler
        handler_runtime = default_runtime()
        assert handler_module.worker.rt is handler_runtime, "the handler should use the default runtime"
        counter.watch(handler_runtime.clients.session_events, WORKER)

        self.rt = Runtime(self.settings, Clients(region=REGION), catalog=CATALOG)
        counter.watch(self.rt.clients.session_events, ENQUEUE)
        self.event_source = Clients(region=REGION)
        counter.watch(self.event_source.session_events, EVENT_SOURCE)
        # The bench's own reads (progress checks, item sizes) go through a session nobody counts.
        self.check = Clients(region=REGION)
        self.check_store = JobStore(
            self.check.dynamodb,
            self.settings.table,
            retain_completed_s=self.settings.retain_completed_s,
            retain_failed_s=self.settings.retain_failed_s,
        )
        self.url = self.settings.queue_urls(QUEUE).url
        self.batch_ms: list[float] = []
        with counter.during(BENCH):
            self.arn = queue_arn(self.check.sqs, self.url)
            table = self.check.dynamodb.describe_table(TableName=self.settings.table)["Table"]
        counter.indexes = tuple(
            IndexShape(
                keys=frozenset(k["AttributeName"] for k in ix["KeySchema"]),
                projects_all=ix["Projection"]["ProjectionType"] == "ALL",
            )
            for ix in table.get("GlobalSecondaryIndexes", [])
        )

    def invoke(self, event: dict[str, Any], context: Any) -> Any:
        """One Lambda invocation of the real handler, timed, with its output counted."""
        with self.counter.during(WORKER), contextlib.redirect_stdout(self.sink):
            began = time.perf_counter()
            response = self.handler(event, context)
            self.batch_ms.append((time.perf_counter() - began) * 1000)
        return response

    def run(self, name: str, jobs: list[JobSpec], done_status: str, *, round_size: int) -> RunResult:
        """Enqueue the jobs a round at a time; after each round, poll/invoke/settle as the event
        source does until every job enqueued so far reaches done_status."""
        from offload.jobs.model import JobStatus

        self.counter.reset()
        self.batch_ms = []
        self.sink.bytes = 0
        started = time.perf_counter()
        target = JobStatus(done_status)
        already = self.check_store.count(QUEUE, target)
        for first in range(0, len(jobs), round_size):
            self._enqueue(jobs[first : first + round_size])
            self._deliver_until(lambda n=first + round_size: self.check_store.count(QUEUE, target) - already >= n)
            say(
                f"  [{name}] {min(first + round_size, len(jobs))}/{len(jobs)} {done_status} "
                f"({len(self.batch_ms)} invocations, {time.perf_counter() - started:.1f} s)"
            )
        self.counter.check_against_global_hook()
        return RunResult(
            name=name,
            jobs=len(jobs),
            calls=Counter(self.counter.calls),
            items=Counter(self.counter.items),
            index_writes=sum(self.counter.index_writes.values()),
            empty_receives=self.counter.empty_receives,
            batch_ms=list(self.batch_ms),
            log_bytes=self.sink.bytes,
            wall_s=time.perf_counter() - started,
        )

    def _enqueue(self, jobs: list[JobSpec]) -> None:
        from offload.jobs.enqueue import enqueue

        with self.counter.during(ENQUEUE):
            for type_name, data, attempts in jobs:
                enqueue(type_name, data, attempts=attempts, runtime=self.rt)

    def _deliver_until(self, done: Callable[[], bool]) -> None:
        from offload.local.sqs_events import deliver_once

        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:
            context = FakeLambdaContext(memory_limit_in_mb=self.spec.memory_mb, timeout_s=self.spec.timeout_s)
            with self.counter.during(EVENT_SOURCE):
                delivered, _ = deliver_once(
                    self.event_source.sqs,
                    self.url,
                    self.invoke,
                    arn=self.arn,
                    batch_size=self.spec.batch_size,
                    context=context,
                )
            if delivered:
                continue
            with self.counter.during(BENCH):
                if done():
                    return
            if time.monotonic() > deadline:
                raise SystemExit(f"jobs not finished after {RUN_TIMEOUT_S} s: see the handler's logs")
            time.sleep(0.2)  # waiting for retry backoffs to end; the event source keeps polling

    def dlq_depth(self) -> int:
        urls = self.settings.queue_urls(QUEUE)
        with self.counter.during(BENCH):
            attrs = self.check.sqs.get_queue_attributes(
                QueueUrl=urls.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
            )
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    def largest_item_bytes(self) -> int:
        """The largest job record, sized as DynamoDB bills it (attribute names + values)."""
        largest = 0
        with self.counter.during(BENCH):
            for page in self.check.dynamodb.get_paginator("scan").paginate(TableName=self.settings.table):
                for item in page["Items"]:
                    largest = max(largest, _item_size(item))
        return largest


def _item_size(item: dict[str, Any]) -> int:
    size = 0
    for name, typed in item.items():
        ((kind, value),) = typed.items()
        size += len(name.encode())
        if kind == "S":
            size += len(value.encode())
        elif kind == "N":
            size += len(value.strip("-").replace(".", "").lstrip("0")) // 2 + 1
        else:
            size += 1
    return size


# -- checks on the counts ----------------------------------------------------------------
# Only what the design guarantees whatever the worker's internals: each enqueue is one put and
# one send; each finished message is deleted once; each terminal job is one event; each failed
# job is one alert, one DLQ copy and one backoff per retry. With the hooks-vs-global-hook check,
# these catch both double counting and missed sessions.
def verify_success_counts(r: RunResult) -> None:
    """Invariant counts for jobs that succeed at the first attempt."""
    n = r.jobs
    _expect_calls(r, {(ENQUEUE, "DynamoDB", "PutItem"): n, (ENQUEUE, "SQS", "SendMessage"): n})
    _expect_entries(r, {(EVENT_SOURCE, "SQS", "DeleteMessageBatch"): n, (WORKER, "EventBridge", "PutEvents"): n})
    _expect_index_writes_plausible(r)


def verify_failure_counts(r: RunResult, attempts: int, dlq_depth: int) -> None:
    """Invariant counts for jobs that fail every one of `attempts` attempts."""
    n = r.jobs
    expect = {
        (ENQUEUE, "DynamoDB", "PutItem"): n,
        (ENQUEUE, "SQS", "SendMessage"): n,
        (WORKER, "SQS", "ChangeMessageVisibility"): (attempts - 1) * n,  # the backoff before each retry
        (WORKER, "SQS", "SendMessage"): n,  # the copy to the DLQ
        (WORKER, "SNS", "Publish"): n,
    }
    _expect_calls(r, expect)
    _expect_entries(r, {(EVENT_SOURCE, "SQS", "DeleteMessageBatch"): n, (WORKER, "EventBridge", "PutEvents"): n})
    _expect_index_writes_plausible(r)
    if dlq_depth != n:
        raise AssertionError(f"[{r.name}] DLQ holds {dlq_depth} messages, expected {n}")


def _expect_calls(r: RunResult, expect: dict[Key, int]) -> None:
    wrong = {k: (r.calls[k], v) for k, v in expect.items() if r.calls[k] != v}
    if wrong:
        raise AssertionError(f"[{r.name}] request counter is off (counted, expected): {wrong}")


def _expect_entries(r: RunResult, expect: dict[Key, int]) -> None:
    wrong = {k: (r.items[k], v) for k, v in expect.items() if r.items[k] != v}
    if wrong:
        raise AssertionError(f"[{r.name}] batch entries are off (counted, expected): {wrong}")


def _expect_index_writes_plausible(r: RunResult) -> None:
    """With an ALL-projected index, every table write costs 1 or 2 index writes."""
    table_writes = sum(n for (_, svc, op), n in r.calls.items() if svc == "DynamoDB" and op in DYNAMODB_WRITES)
    if not table_writes <= r.index_writes <= 2 * table_writes:
        raise AssertionError(f"[{r.name}] {r.index_writes} GSI writes for {table_writes} table writes")


def check_classified(r: RunResult) -> None:
    """Fail loudly on a request the cost model would silently leave out."""
    known = {
        "DynamoDB": DYNAMODB_WRITES | DYNAMODB_READS,
        "S3": S3_GETS | S3_PUTS,
        "SQS": None,
        "EventBridge": {"PutEvents"},
        "SNS": {"Publish"},
    }
    for _, svc, op in r.calls:
        ops = known.get(svc, set())
        if ops is not None and op not in ops:
            raise AssertionError(f"[{r.name}] {svc} {op} is not in the cost model: classify it in this bench")


# -- report --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PerJob:
    """Billed units per job, the figures the cost model multiplies by prices."""

    invocations: float
    billed_ms: float
    ddb_writes: float
    ddb_index_writes: float
    ddb_reads: float
    sqs: float
    sqs_enqueue: float
    sqs_worker: float
    sqs_event_source: float
    eventbridge_requests: float
    eventbridge_events: float
    sns: float
    s3_puts: float
    s3_gets: float
    log_bytes: float

    @classmethod
    def of(cls, r: RunResult) -> PerJob:
        return cls(
            invocations=r.invocations_per_job,
            billed_ms=r.billed_ms_per_job,
            ddb_writes=r.per_job("DynamoDB", DYNAMODB_WRITES),
            ddb_index_writes=r.index_writes / r.jobs,
            ddb_reads=r.per_job("DynamoDB", DYNAMODB_READS),
            sqs=r.per_job("SQS"),
            sqs_enqueue=r.per_job("SQS", source=ENQUEUE),
            sqs_worker=r.per_job("SQS", source=WORKER),
            sqs_event_source=r.per_job("SQS", source=EVENT_SOURCE),
            eventbridge_requests=r.per_job("EventBridge"),
            eventbridge_events=r.events_per_job(),
            sns=r.per_job("SNS"),
            s3_puts=r.per_job("S3", S3_PUTS),
            s3_gets=r.per_job("S3", S3_GETS),
            log_bytes=r.log_bytes / r.jobs,
        )

    def summary(self) -> str:
        return (
            f"Lambda {self.invocations:.2f} invocations; DynamoDB {self.ddb_writes:.2f} writes "
            f"(+{self.ddb_index_writes:.2f} GSI WRU), {self.ddb_reads:.2f} reads; SQS {self.sqs:.2f}; "
            f"EventBridge {self.eventbridge_requests:.2f} requests ({self.eventbridge_events:.2f} events); "
            f"SNS {self.sns:.2f}; S3 {self.s3_puts + self.s3_gets:.2f}"
        )

    def cost_per_million(self, memory_mb: int) -> dict[str, float]:
        p, m = PRICES_USD, 1e6
        return {
            "Lambda requests": self.invocations * p["lambda_request"] * m,
            "Lambda duration (estimate)": self.billed_ms / 1000 * memory_mb / 1024 * p["lambda_gb_second_arm64"] * m,
            "SQS": self.sqs * p["sqs_request"] * m,
            "DynamoDB writes (table)": self.ddb_writes * p["dynamodb_write_unit"] * m,
            "DynamoDB writes (GSI)": self.ddb_index_writes * p["dynamodb_write_unit"] * m,
            "DynamoDB reads": self.ddb_reads * p["dynamodb_read_unit"] * m,
            "EventBridge events": self.eventbridge_events * p["eventbridge_event"] * m,
            "SNS": self.sns * p["sns_publish"] * m,
            "S3": (self.s3_puts * p["s3_put"] + self.s3_gets * p["s3_get"]) * m,
        }


def print_breakdown(r: RunResult) -> None:
    say(f"\nRequests in the {r.name} run ({r.jobs} jobs), by source/service/operation:")
    for (src, svc, op), n in sorted(r.calls.items()):
        extra = f" ({r.items[(src, svc, op)]} entries)" if r.items[(src, svc, op)] != n else ""
        empty = f", {r.empty_receives} of them empty polls" if op == "ReceiveMessage" else ""
        say(f"  {src:<13} {svc:<12} {op:<24} {n:>6}{extra}{empty}")


def print_table(ok: PerJob, bad: PerJob) -> None:
    rows = [
        ("Lambda invocations (batches)", ok.invocations, bad.invocations),
        ("Lambda billed ms (this machine)", ok.billed_ms, bad.billed_ms),
        ("DynamoDB writes (WRU)", ok.ddb_writes, bad.ddb_writes),
        ("  + GSI writes they cause (WRU)", ok.ddb_index_writes, bad.ddb_index_writes),
        ("DynamoDB reads (RRU)", ok.ddb_reads, bad.ddb_reads),
        ("SQS requests", ok.sqs, bad.sqs),
        ("  enqueue (SendMessage)", ok.sqs_enqueue, bad.sqs_enqueue),
        ("  worker", ok.sqs_worker, bad.sqs_worker),
        ("  event source (receive+delete)", ok.sqs_event_source, bad.sqs_event_source),
        ("EventBridge requests (PutEvents)", ok.eventbridge_requests, bad.eventbridge_requests),
        ("EventBridge events (billed)", ok.eventbridge_events, bad.eventbridge_events),
        ("SNS publishes", ok.sns, bad.sns),
        ("S3 requests", ok.s3_puts + ok.s3_gets, bad.s3_puts + bad.s3_gets),
        ("log bytes written", ok.log_bytes, bad.log_bytes),
    ]
    say(f"\n{'Per job':<34}{'successful':>12}{'failed':>12}")
    for label, a, b in rows:
        say(f"{label:<34}{a:>12.3f}{b:>12.3f}")


def check_targets(ok: PerJob) -> list[tuple[str, float, float, bool]]:
    measured = {
        "DynamoDB writes": ok.ddb_writes,
        "SQS requests": ok.sqs,
        "EventBridge requests": ok.eventbridge_requests,
    }
    return [(name, measured[name], limit, measured[name] <= limit + 1e-9) for name, limit in TARGETS.items()]


def print_costs(ok: PerJob, bad: PerJob, memory_mb: int) -> tuple[float, float]:
    a, b = ok.cost_per_million(memory_mb), bad.cost_per_million(memory_mb)
    say(f"\n{'Cost per 1M jobs, USD (us-east-1)':<34}{'successful':>12}{'failed':>12}")
    for label in a:
        say(f"{label:<34}{a[label]:>12.2f}{b[label]:>12.2f}")
    total_a, total_b = sum(a.values()), sum(b.values())
    say(f"{'total':<34}{total_a:>12.2f}{total_b:>12.2f}")
    logs = PRICES_USD["cloudwatch_logs_gb"] / 1e9 * 1e6
    say(f"{'CloudWatch Logs ingest (not in total)':<34}{ok.log_bytes * logs:>12.2f}{bad.log_bytes * logs:>12.2f}")
    return total_a, total_b


# -- cold import ---------------------------------------------------------------------------
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


@dataclass(frozen=True)
class ImportEntry:
    """One `-X importtime` line; `parent` is the index of the entry that imported it."""

    name: str
    self_us: int
    cumulative_us: int
    depth: int
    parent: int | None


def parse_importtime(stderr: str) -> list[ImportEntry]:
    """`-X importtime` lines, parents before children (Python prints a module when it finishes)."""
    raw = []
    for line in stderr.splitlines():
        m = _IMPORT_LINE.match(line)
        if m:
            raw.append((m[4], int(m[1]), int(m[2]), len(m[3]) // 2))
    entries: list[ImportEntry] = []
    stack: list[int] = []  # indices of the open ancestors of the next entry
    for name, self_us, cum_us, depth in reversed(raw):
        while stack and entries[stack[-1]].depth >= depth:
            stack.pop()
        entries.append(ImportEntry(name, self_us, cum_us, depth, stack[-1] if stack else None))
        stack.append(len(entries) - 1)
    return entries


def _is_handler_chain(name: str) -> bool:
    return name in _HANDLER_CHAIN


def handler_import_ms(entries: list[ImportEntry]) -> float:
    """The handler's cumulative time (Python nests `offload` and `offload.handlers` under it)."""
    return sum(e.cumulative_us for e in entries if e.depth == 0 and _is_handler_chain(e.name)) / 1000


def heaviest_imports(entries: list[ImportEntry], n: int = 5) -> list[tuple[ImportEntry, str]]:
    """The n heaviest imports by cumulative time outside offload's own modules, one per subtree,
    each with the module that imported it."""
    under = _under_handler(entries)
    chosen: list[int] = []
    for i in sorted(under, key=lambda i: entries[i].cumulative_us, reverse=True):
        name = entries[i].name
        if _is_handler_chain(name) or name.split(".")[0] == "offload":
            continue
        ancestors, p = set(), entries[i].parent
        while p is not None:
            ancestors.add(p)
            p = entries[p].parent
        if ancestors.isdisjoint(chosen):
            chosen.append(i)
        if len(chosen) == n:
            break
    return [(entries[i], _parent_name(entries, i)) for i in chosen]


def _parent_name(entries: list[ImportEntry], i: int) -> str:
    p = entries[i].parent
    return "top level" if p is None else entries[p].name


def _under_handler(entries: list[ImportEntry]) -> list[int]:
    """Indices of the handler's import and everything it imported (not interpreter start-up)."""
    under: set[int] = set()
    for i, e in enumerate(entries):  # parents come first in this order
        if _is_handler_chain(e.name) or e.parent in under:
            under.add(i)
    return sorted(under)


def self_time_by_package(entries: list[ImportEntry]) -> list[tuple[str, float]]:
    """Exclusive import time (ms) under the handler, summed by top-level package."""
    totals: Counter[str] = Counter()
    for i in _under_handler(entries):
        totals[entries[i].name.split(".")[0]] += entries[i].self_us
    return [(pkg, us / 1000) for pkg, us in totals.most_common()]


@dataclass(frozen=True)
class ImportResult:
    """Cold import times of the handler in one environment, and the import tree of its first run."""

    label: str
    runs_ms: list[float]
    entries: list[ImportEntry]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)

    @property
    def passed(self) -> bool:
        return self.median_ms < IMPORT_TARGET_MS


def import_environments(bench_env: dict[str, str]) -> dict[str, dict[str, str]]:
    """As asked (OFFLOAD_* set, tracing off), and as on Lambda: LAMBDA_TASK_ROOT set (the X-Ray SDK then
    skips its sampler's botocore client) and active tracing on, so Powertools' Tracer patches botocore."""
    plain = {**bench_env, "PYTHONDONTWRITEBYTECODE": "1"}  # leave no __pycache__ in the tree
    lambda_like = {k: v for k, v in plain.items() if k != "POWERTOOLS_TRACE_DISABLED"}
    lambda_like |= {"LAMBDA_TASK_ROOT": str(ROOT), "AWS_LAMBDA_FUNCTION_NAME": "offload-worker-default"}
    return {"OFFLOAD_* set, tracing disabled": plain, "Lambda-like: LAMBDA_TASK_ROOT set, tracing on": lambda_like}


def measure_cold_import(label: str, env: dict[str, str]) -> ImportResult:
    """Import the handler in fresh interpreters, IMPORT_RUNS times."""
    times: list[float] = []
    first: list[ImportEntry] = []
    for _ in range(IMPORT_RUNS):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {HANDLER_MODULE}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"importing {HANDLER_MODULE} failed:\n{proc.stderr[-2000:]}")
        entries = parse_importtime(proc.stderr)
        times.append(handler_import_ms(entries))
        first = first or entries
    say(f"  {label}: {', '.join(f'{t:.0f}' for t in times)} ms")
    return ImportResult(label, times, first)


def print_import(result: ImportResult) -> None:
    verdict = "PASS" if result.passed else "FAIL"
    say(f"\nCold import of {HANDLER_MODULE} ({result.label}): median {result.median_ms:.0f} ms  {verdict}")
    say("  5 heaviest imports by cumulative time (outside offload, one per subtree):")
    for e, parent in heaviest_imports(result.entries):
        say(f"    {e.cumulative_us / 1000:7.1f} ms  {e.name}  (imported by {parent})")
    top = ", ".join(f"{pkg} {ms:.0f}" for pkg, ms in self_time_by_package(result.entries)[:6])
    say(f"  self time by package, ms: {top}")


# -- main ----------------------------------------------------------------------------------
def main() -> int:
    for name in UNSET_ENV:
        os.environ.pop(name, None)
    os.environ.update(FAKE_AWS_ENV)
    sys.path.insert(0, str(ROOT))
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    overall = time.perf_counter()

    from moto import mock_aws

    counter = RequestCounter()
    install_global_hook(counter)
    say(f"offload job overhead bench: {SUCCESS_JOBS} successful + {FAILED_JOBS} failed jobs on moto")
    with mock_aws():
        bench = Bench(counter)
        spec = bench.spec
        say(f"queue {QUEUE!r}: batch size {spec.batch_size}, {spec.memory_mb} MB, timeout {spec.timeout_s} s")

        say(f"\n[1/3] {SUCCESS_JOBS} diag.echo jobs")
        echo_jobs: list[JobSpec] = [("diag.echo", {"n": i}, None) for i in range(SUCCESS_JOBS)]
        ok_run = bench.run("success", echo_jobs, "completed", round_size=ROUND_SIZE)
        verify_success_counts(ok_run)
        check_classified(ok_run)

        say(f"\n[2/3] {FAILED_JOBS} diag.flaky jobs failing all {FAILED_ATTEMPTS} attempts (1 s + 2 s backoff)")
        bad_jobs: list[JobSpec] = [("diag.flaky", {"fail_times": 99}, FAILED_ATTEMPTS) for _ in range(FAILED_JOBS)]
        bad_run = bench.run("failure", bad_jobs, "failed", round_size=FAILED_JOBS)
        verify_failure_counts(bad_run, FAILED_ATTEMPTS, bench.dlq_depth())
        check_classified(bad_run)
        largest_item = bench.largest_item_bytes()
        bench_env = dict(os.environ)
    say(
        f"  counters verified: invariant counts (puts, sends, deletes, events, alerts, backoffs) exact; "
        "session hooks == global hook; "
        f"SDK retries: {counter.retries}"
    )

    say(f"\n[3/3] cold import of {HANDLER_MODULE} ({IMPORT_RUNS} fresh interpreters each)")
    imports = [measure_cold_import(label, env) for label, env in import_environments(bench_env).items()]

    print_breakdown(ok_run)
    print_breakdown(bad_run)
    ok, bad = PerJob.of(ok_run), PerJob.of(bad_run)
    print_table(ok, bad)
    results = check_targets(ok)
    say("\nTargets per successful job:")
    for name, value, limit, passed in results:
        say(f"  {name:<22} {value:6.3f} <= {limit:<4}  {'PASS' if passed else 'FAIL'}")
    total_ok, total_bad = print_costs(ok, bad, spec.memory_mb)

    for result in imports:
        print_import(result)

    mean_batch = statistics.mean(ok_run.batch_ms)
    say("\n" + "=" * 78)
    say("SUMMARY")
    say(f"  machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; moto in-process, no network")
    say(f"  successful jobs: {ok_run.jobs} in {len(ok_run.batch_ms)} invocations ({ok_run.wall_s:.1f} s)")
    say(f"  failed jobs:     {bad_run.jobs} in {len(bad_run.batch_ms)} invocations ({bad_run.wall_s:.1f} s)")
    say(f"  per successful job: {ok.summary()}")
    say(f"  per failed job:     {bad.summary()}")
    say(
        f"  idle event-source polls (not per job): {ok_run.empty_receives} + {bad_run.empty_receives} "
        "empty ReceiveMessage calls"
    )
    say(
        f"  handler wall time per batch of {spec.batch_size} (estimate of Lambda duration): "
        f"mean {mean_batch:.1f} ms, median {statistics.median(ok_run.batch_ms):.1f} ms, "
        f"max {max(ok_run.batch_ms):.1f} ms"
    )
    say(f"  largest job record: {largest_item} bytes (1 WRU per write assumes < 1 KB)")
    say(f"  cost per 1M successful jobs: ${total_ok:.2f}; per 1M failed jobs: ${total_bad:.2f}")
    for name, value, limit, passed in results:
        say(f"  target {name} per successful job <= {limit}: {value:.3f}  {'PASS' if passed else 'FAIL'}")
    for result in imports:
        say(
            f"  target cold import < {IMPORT_TARGET_MS:.0f} ms ({result.label}): median {result.median_ms:.0f} ms  "
            f"{'PASS' if result.passed else 'FAIL'}"
        )
    say(f"  bench time: {time.perf_counter() - overall:.1f} s")
    if largest_item >= 1024:
        say("  WARNING: a job record is >= 1 KB, so some writes cost 2 WRU: the cost above is low")
    missed = [name for name, _, _, passed in results if not passed]
    missed += [f"cold import ({r.label})" for r in imports if not r.passed]
    say(f"  result: {'all targets met' if not missed else 'MISSED: ' + ', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
