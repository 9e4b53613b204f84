"""offload.jobs.batch gives the partial batch responses Powertools' BatchProcessor gives.

The worker dropped `aws_lambda_powertools.utilities.batch` for its cold start; these tests run
the same events through both and require the same response (or the same exception)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch import process_partial_response as powertools_process
from aws_lambda_powertools.utilities.batch.exceptions import UnexpectedBatchTypeError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord as PowertoolsSQSRecord

from offload.jobs.batch import SQSRecord, process_partial_response

ARN = "arn:aws:sqs:us-east-1:123456789012:offload-default"


def _record(i: int, body: str) -> dict[str, Any]:
    return {
        "messageId": f"m-{i}",
        "receiptHandle": f"rh-{i}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1700000000000"},
        "messageAttributes": {"k": {"stringValue": "v", "dataType": "String"}},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": ARN,
        "awsRegion": "us-east-1",
    }


def _event(*bodies: str) -> dict[str, Any]:
    return {"Records": [_record(i, b) for i, b in enumerate(bodies)]}


def _handler(seen: list[str]) -> Any:
    def handle(record: Any) -> str:
        seen.append(record.message_id)
        if record.body.startswith("fail"):
            raise RuntimeError(record.body)
        if record.body == "value-error":
            raise ValueError("bad")
        return record.body

    return handle


def _both(event: Any) -> tuple[Any, Any]:
    """(offload's outcome, Powertools' outcome): the response, or the exception's type and text."""
    outcomes = []
    for run in (
        lambda h: process_partial_response(event, h),
        lambda h: powertools_process(
            event=event,
            record_handler=h,
            processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
            context=None,
        ),
    ):
        seen: list[str] = []
        try:
            outcomes.append((run(_handler(seen)), seen))
        except Exception as exc:
            outcomes.append(((type(exc), str(exc)), seen))
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize(
    "bodies",
    [
        ("ok",),
        ("ok", "ok", "ok"),
        ("fail-1",),
        ("ok", "fail-1", "ok", "value-error", "fail-2"),
        ("fail-1", "fail-2", "fail-3"),  # the entire batch failing is still a partial response
    ],
)
def test_partial_batch_response_matches_powertools(bodies):
    ours, theirs = _both(_event(*bodies))
    assert ours == theirs
    response, seen = ours
    assert seen == [f"m-{i}" for i in range(len(bodies))], "every record runs, in order"
    failed = [{"itemIdentifier": f"m-{i}"} for i, b in enumerate(bodies) if b.startswith("fail") or b == "value-error"]
    assert response == {"batchItemFailures": failed}


@pytest.mark.parametrize("event", [{}, {"Records": []}, {"Records": {"a": 1}}, "not a dict", None])
def test_unusable_events_raise_what_powertools_raises(event):
    ours, theirs = _both(event)
    assert ours == theirs
    (error_type, _), _ = ours
    assert error_type in (ValueError, UnexpectedBatchTypeError)


def test_base_exceptions_propagate_as_in_powertools():
    def interrupt(record: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        process_partial_response(_event("ok"), interrupt)
    with pytest.raises(KeyboardInterrupt):
        powertools_process(
            event=_event("ok"),
            record_handler=interrupt,
            processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
        )


def test_record_reads_like_the_powertools_record():
    raw = _record(7, '{"type": "diag.echo"}')
    ours, theirs = SQSRecord(raw), PowertoolsSQSRecord(raw)
    for name in (
        "message_id",
        "receipt_handle",
        "body",
        "event_source_arn",
        "md5_of_body",
        "event_source",
        "aws_region",
        "raw_event",
        "json_body",
        "queue_url",
    ):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.attributes.approximate_receive_count == "2"
    assert ours.message_attributes["k"].string_value == "v"
    assert dict(ours) == dict(theirs) == raw and ours["messageId"] == "m-7" and ours.get("nope") is None
    with pytest.raises(AttributeError):
        ours.no_such_property  # noqa: B018
