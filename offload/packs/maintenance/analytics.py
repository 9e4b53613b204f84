"""Job analytics: per job type and queue, what the records of a period say.

Counts by status, failure rate, p50/p95 run time, retries, deferrals and the top errors, read
from the jobs table's by-queue-status index (one query per queue and status over the period's
`created_at` range), so a day's report reads that day's records only. Run times also go into a
log-scale histogram, so the weekly report can merge days without keeping every sample.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from offload.jobs.model import Job, JobStatus
from offload.stats import percentile

if TYPE_CHECKING:
    from offload.runtime import Runtime

# Histogram buckets are 2^(k/4) ms wide at the top: an estimate from them is within 19% of the sample.
BUCKETS_PER_OCTAVE = 4
TOP_ERRORS = 5
ERROR_CHARS = 160


def bucket_of(ms: float) -> int:
    """The histogram bucket of a run time: k with 2^((k-1)/4) < ms <= 2^(k/4); 0 for up to 1 ms."""
    return max(0, math.ceil(BUCKETS_PER_OCTAVE * math.log2(ms))) if ms > 1 else 0


def bucket_upper_ms(bucket: int) -> float:
    """The largest run time a bucket holds."""
    return float(2 ** (bucket / BUCKETS_PER_OCTAVE))


def histogram_percentile(histogram: Mapping[str, int], q: float) -> float | None:
    """The q-quantile of merged histograms, as the upper bound of the bucket the rank falls in."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = min(total - 1, round(q * (total - 1)))
    seen = 0
    for bucket in sorted(histogram, key=int):
        seen += histogram[bucket]
        if seen > rank:
            return round(bucket_upper_ms(int(bucket)), 1)
    raise AssertionError("unreachable: the rank is below the total")


def _ms_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000


def error_line(job: Job) -> str:
    """A failed job's error as the report groups it: `step: first line of the reason` (bounded)."""
    if job.error is None:
        return "(no error recorded)"
    first = (job.error.reason.strip().splitlines() or [""])[0]
    return f"{job.error.step}: {first[:ERROR_CHARS]}"


@dataclass
class TypeFigures:
    """What one job type on one queue did in the period."""

    type: str
    queue: str
    counts: Counter[str] = field(default_factory=Counter)
    durations_ms: list[float] = field(default_factory=list)
    retries: int = 0
    retried_jobs: int = 0
    deferrals: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, job: Job) -> None:
        """Count one job record."""
        self.counts[job.status.value] += 1
        if job.status.terminal:
            ms = _ms_between(job.started_at, job.finished_at)
            if ms is not None and job.status != JobStatus.CANCELLED:
                self.durations_ms.append(max(ms, 0.0))
        # A started job's attempts count its runs; the first is not a retry.
        if job.attempts > 1:
            self.retries += job.attempts - 1
            self.retried_jobs += 1
        self.deferrals += job.deferrals
        if job.status == JobStatus.FAILED:
            self.errors[error_line(job)] += 1

    def as_dict(self) -> dict[str, Any]:
        """The report's row for this type."""
        finished = self.counts["completed"] + self.counts["failed"]
        histogram = Counter(str(bucket_of(ms)) for ms in self.durations_ms)
        return {
            "type": self.type,
            "queue": self.queue,
            "counts": {s.value: self.counts[s.value] for s in JobStatus},
            "total": sum(self.counts.values()),
            "finished": finished,
            "failure_rate": round(self.counts["failed"] / finished, 4) if finished else None,
            "p50_ms": round(percentile(self.durations_ms, 0.5), 1) if self.durations_ms else None,
            "p95_ms": round(percentile(self.durations_ms, 0.95), 1) if self.durations_ms else None,
            "retries": self.retries,
            "retried_jobs": self.retried_jobs,
            "deferrals": self.deferrals,
            "top_errors": [{"error": e, "count": n} for e, n in self.errors.most_common(TOP_ERRORS)],
            "histogram": dict(sorted(histogram.items(), key=lambda kv: int(kv[0]))),
        }


def period_jobs(rt: Runtime, start: datetime, end: datetime) -> Iterable[Job]:
    """Every job of the deployed queues created in [start, end)."""
    since, until = start.isoformat(timespec="milliseconds"), end.isoformat(timespec="milliseconds")
    for spec in rt.catalog.queues:
        if spec.name not in rt.settings.queues:
            continue
        for status in JobStatus:
            yield from rt.store.created_between(spec.name, status, since, until)


def job_analytics(rt: Runtime, start: datetime, end: datetime) -> dict[str, Any]:
    """Per type and queue figures, totals and an hourly series of the jobs created in [start, end)."""
    by_type: dict[tuple[str, str], TypeFigures] = {}
    hours = max(1, math.ceil((end - start).total_seconds() / 3600))
    hourly = [{"hour": h, "created": 0, "failed": 0} for h in range(hours)]
    everything = TypeFigures(type="*", queue="*")
    for job in period_jobs(rt, start, end):
        by_type.setdefault((job.type, job.queue), TypeFigures(job.type, job.queue)).add(job)
        everything.add(job)
        hour = int((datetime.fromisoformat(job.created_at) - start).total_seconds() // 3600)
        hourly[min(hour, hours - 1)]["created"] += 1
        if job.status == JobStatus.FAILED:
            hourly[min(hour, hours - 1)]["failed"] += 1
    rows = sorted((f.as_dict() for f in by_type.values()), key=lambda r: (-r["total"], r["type"]))
    return {"types": rows, "totals": everything.as_dict(), "hourly": hourly}


def coverage(rt: Runtime, start: datetime, now: datetime) -> dict[str, Any]:
    """Whether the records of a period starting at `start` can all still be in the table at `now`:
    finished records expire after the stack's retention (cdk.json offload:completedRetentionHours)."""
    needed_s = (now - start).total_seconds()
    kept = {"completed": rt.settings.retain_completed_s, "failed": rt.settings.retain_failed_s}
    short = {status: s for status, s in kept.items() if s < needed_s}
    note = (
        "complete: every finished record of the period is still kept"
        if not short
        else "incomplete: "
        + ", ".join(f"{status} records are kept {s / 3600:g} h" for status, s in short.items())
        + f", the period began {needed_s / 3600:.1f} h ago; raise offload:completedRetentionHours / "
        "offload:failedRetentionHours in cdk.json above that for full figures"
    )
    return {"retained_s": kept, "needed_s": round(needed_s), "complete": not short, "note": note}
