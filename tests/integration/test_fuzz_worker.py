"""Fuzzing the worker's message parsing: whatever body arrives, the batch returns, nothing loops.

Every example is a real Lambda SQS event handed to the real worker on moto. The property: the
worker never raises, never asks for a redelivery of a message it can't use (a crash loop), and a
message it can't use ends as a `failed` record with a reason and a copy in the DLQ. Examples are
few in `make test` (seconds); `HYPOTHESIS_PROFILE=chaos` (make chaos) runs many more.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from offload.jobs.model import JobStatus
from offload.jobs.worker import Worker
from offload.local.sqs_events import queue_arn

QUEUE = "default"
# Types the default queue runs that finish at once (echo anything, count, refuse non-retryably).
FAST_TYPES = ("diag.echo", "test.count", "test.refuse")

json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_value = st.recursive(
    json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
)
type_name = st.sampled_from(FAST_TYPES) | st.text(max_size=30)
job_id = st.text(max_size=60) | st.integers() | st.none() | st.sampled_from(["", " ", "a" * 3000])
moment = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=10) | st.integers()

job_messages = st.fixed_dictionaries(
    {"job_id": job_id, "type": type_name}, optional={"v": json_value, "not_before": moment, "extra": json_value}
)
foreign_messages = st.fixed_dictionaries({"type": type_name}, optional={"data": json_value})


def _dump(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


bodies = st.one_of(
    st.text(max_size=200),
    json_value.map(_dump),
    job_messages.map(_dump),
    foreign_messages.map(_dump),
    # JSON that Python reads but no other system writes (NaN, Infinity), and huge numbers.
    st.sampled_from(['{"job_id": "x", "type": "diag.echo", "not_before": Infinity}', '{"type": 1e999}']),
)


def _event(arn: str, bodies: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "fuzz",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }


def _record_of(runtime: Any, message_id: str, body: str) -> Any:
    """The job record a message made or ran, by the ids the worker gives them."""
    candidates = [f"msg-{message_id}", f"sqs-{message_id}"]
    try:
        raw = json.loads(body)
        if isinstance(raw, dict) and isinstance(raw.get("job_id"), str) and raw["job_id"].strip():
            candidates.append(raw["job_id"])
    except ValueError:
        pass
    for candidate in candidates:
        try:
            job = runtime.store.get(candidate)
        except Exception:  # an id DynamoDB refuses as a key can't have a record
            continue
        if job is not None:
            return job
    return None


@given(batch=st.lists(bodies, min_size=1, max_size=3))
def test_any_message_body_is_acknowledged_and_accounted_for(runtime, batch):
    worker = Worker(runtime, QUEUE)
    arn = queue_arn(runtime.clients.sqs, runtime.settings.queue_urls(QUEUE).url)
    event = _event(arn, batch)

    response = worker.handle_batch(event)

    assert response == {"batchItemFailures": []}, f"a redelivery asked for {batch!r}: a crash loop"
    for record, body in zip(event["Records"], batch, strict=True):
        job = _record_of(runtime, record["messageId"], body)
        delayed_hop = job is None and _is_future_job_message(body)
        assert job is not None or delayed_hop, f"no record for {body!r}"
        if job is not None and job.status == JobStatus.FAILED:
            assert job.error is not None and job.error.reason.strip(), f"failed without a reason: {body!r}"


def _is_future_job_message(body: str) -> bool:
    """A well-formed long-delay message is sent on (its record is the producer's, not made here)."""
    try:
        raw = json.loads(body)
    except ValueError:
        return False
    return isinstance(raw, dict) and isinstance(raw.get("not_before"), int | float) and "job_id" in raw
