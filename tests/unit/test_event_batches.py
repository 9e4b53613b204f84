"""Terminal events: a batch is sent in PutEvents requests that stay under EventBridge's 256 KB."""

from __future__ import annotations

from typing import Any

from offload.jobs.model import Job, JobErrorInfo, JobStatus, now_iso
from offload.jobs.notify import EventBuffer, event_detail


class RecordingEvents:
    """An EventBridge client edge that records each PutEvents request (no network)."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, int]:
        self.requests.append(Entries)
        return {"FailedEntryCount": 0}


def _job(n: int, result: Any) -> Job:
    ts = now_iso()
    failures = [JobErrorInfo(step="process", reason="y" * 1000, attempt=a) for a in range(10)]
    return Job(
        job_id=f"job-{n}", type="diag.echo", queue="default", status=JobStatus.COMPLETED, max_attempts=3,
        backoff={"kind": "exponential", "delay_s": 1.0, "max_delay_s": 900}, timeout_s=60, result=result,
        history=failures,
        created_at=ts, updated_at=ts,
    )  # fmt: skip


def test_ten_events_with_large_results_are_split_below_the_request_limit():
    client = RecordingEvents()
    buffer = EventBuffer(client, "bus")
    for n in range(10):
        buffer.add(_job(n, {"text": "x" * 15_000}))  # a result kept inline, and 10 failed attempts of history
    assert buffer.flush() == 0
    sizes = [sum(len(e["Detail"]) for e in request) for request in client.requests]
    assert len(client.requests) > 1 and max(sizes) < 256 * 1024
    assert sum(len(r) for r in client.requests) == 10


def test_a_result_too_large_for_an_event_travels_by_reference():
    detail = event_detail(_job(1, {"text": "x" * 40_000}))
    assert detail["result"] is None and "offload jobs get" in detail["result_omitted"]
    assert event_detail(_job(2, {"ok": True}))["result"] == {"ok": True}
