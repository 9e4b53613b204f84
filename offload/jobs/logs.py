"""A job's own log lines: the functions' JSON logs (Powertools) filtered by job id.

On AWS they are in the stack's CloudWatch log groups and read with Logs Insights; on the local
cloud the functions write them to `.offload-local/functions.log`. The worker appends `job_id` to
every line it logs for a job, so the id is the one filter both need.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from offload.jobs.model import JOB_ID_PATTERN, Job

# The fields every Powertools line carries; what is left is what the code logged with the message.
_STANDARD = {
    "level",
    "location",
    "message",
    "timestamp",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "xray_trace_id",
    "sampling_rate",
    "job_id",
    "job_type",
    "queue",
}
MAX_LINES = 200
# A local log file is read from its end: this much of it is searched for the job's lines.
LOCAL_TAIL_BYTES = 32 * 1024 * 1024
# Logs Insights: how long to wait for a query, and the time window around the job that it searches.
INSIGHTS_TIMEOUT_S = 20.0
_WINDOW_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class LogLine:
    """One line a function logged about a job."""

    timestamp: str
    level: str
    message: str
    function: str
    fields: dict[str, Any] = field(default_factory=dict)


class JobLogs(Protocol):
    """Where a deployment's job log lines are read from."""

    @property
    def where(self) -> str:
        """Where the lines come from, for the page: the file's path, or the log groups."""
        ...

    def lines(self, job: Job, limit: int = MAX_LINES) -> list[LogLine]:
        """The job's lines, oldest first, at most `limit` (the latest kept)."""
        ...


def parse_line(raw: str, job_id: str) -> LogLine | None:
    """A Powertools JSON line about `job_id` as a LogLine; None for any other line."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("job_id") != job_id:
        return None
    return LogLine(
        timestamp=str(doc.get("timestamp", "")),
        level=str(doc.get("level", "")),
        message=str(doc.get("message", "")),
        function=str(doc.get("function_name", "")),
        fields={k: v for k, v in doc.items() if k not in _STANDARD},
    )


@dataclass
class FileJobLogs:
    """The local cloud's function log (`.offload-local/functions.log`)."""

    path: Path

    @property
    def where(self) -> str:
        return str(self.path)

    def lines(self, job: Job, limit: int = MAX_LINES) -> list[LogLine]:
        if not self.path.is_file():
            return []
        with self.path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - LOCAL_TAIL_BYTES))
            text = f.read().decode("utf-8", "replace")
        # The id as a cheap first filter (parsing every line of a busy log is slow), then the JSON field.
        found = [line for raw in text.splitlines() if job.job_id in raw and (line := parse_line(raw, job.job_id))]
        return found[-limit:]


@dataclass
class InsightsJobLogs:
    """The stack's CloudWatch log groups, queried with Logs Insights around the job's lifetime."""

    logs: Any  # a botocore "logs" client
    log_groups: list[str]
    timeout_s: float = INSIGHTS_TIMEOUT_S

    @property
    def where(self) -> str:
        return f"CloudWatch Logs Insights over {len(self.log_groups)} log groups"

    def lines(self, job: Job, limit: int = MAX_LINES) -> list[LogLine]:
        if not self.log_groups or not JOB_ID_PATTERN.fullmatch(job.job_id):
            return []
        start = datetime.fromisoformat(job.created_at) - _WINDOW_SLACK
        end = (datetime.fromisoformat(job.finished_at) if job.finished_at else datetime.now(UTC)) + _WINDOW_SLACK
        query = f'fields @timestamp, @message | filter job_id = "{job.job_id}" | sort @timestamp desc | limit {limit}'
        started = self.logs.start_query(
            logGroupNames=self.log_groups[:50],  # Insights' limit per query
            startTime=int(start.timestamp()),
            endTime=int(end.timestamp()),
            queryString=query,
            limit=limit,
        )
        deadline = time.monotonic() + self.timeout_s
        while True:
            result = self.logs.get_query_results(queryId=started["queryId"])
            if result["status"] not in ("Scheduled", "Running"):
                break
            if time.monotonic() > deadline:
                self.logs.stop_query(queryId=started["queryId"])
                raise TimeoutError(
                    f"Logs Insights did not answer within {self.timeout_s:g} s for job {job.job_id}; "
                    "reload the page to ask again"
                )
            time.sleep(0.5)
        messages = ({c["field"]: c["value"] for c in row}.get("@message", "") for row in result.get("results", []))
        found = [line for raw in messages if (line := parse_line(raw, job.job_id))]
        found.reverse()  # the query sorts newest first (so `limit` keeps the latest); the page reads oldest first
        return found


def stack_log_groups(cloudformation: Any, stack: str) -> list[str]:
    """The names of the log groups a CloudFormation stack declares (its functions' and state machines')."""
    names: list[str] = []
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack):
        names += _log_groups(page.get("StackResourceSummaries", []))
    return names


def _log_groups(resources: Iterable[dict[str, Any]]) -> list[str]:
    return [
        r["PhysicalResourceId"]
        for r in resources
        if r.get("ResourceType") == "AWS::Logs::LogGroup" and r.get("PhysicalResourceId")
    ]
