"""What a processor gets besides its data: progress, deadline, cancellation, and the runtime."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from offload.errors import InvocationEndingError, JobCancelledError, JobTimeoutError

if TYPE_CHECKING:
    from offload.catalog import RateLimit
    from offload.jobs.model import Job
    from offload.runtime import Runtime


class JobContext:
    """Handed to a processor for one attempt of one job."""

    def __init__(self, job: Job, runtime: Runtime, *, deadline: float, cut_short: bool = False) -> None:
        self.job_id = job.job_id
        self.job_type = job.type
        self.queue = job.queue
        self.attempt = job.attempts
        self.max_attempts = job.max_attempts
        self.deadline = deadline
        # The deadline is the invocation's, well before the job's own timeout: the batch's earlier records
        # used the time. Passing it then is not the job's fault (InvocationEndingError, not JobTimeoutError).
        self.cut_short = cut_short
        self.runtime = runtime
        self.progress = job.progress

    def remaining_s(self) -> float:
        """Seconds left before this attempt's deadline (the type's timeout or Lambda's, whichever is first)."""
        return self.deadline - time.time()

    def update_progress(self, percent: int) -> None:
        """Record progress (0-100); raises if the job was cancelled or has run past its timeout."""
        if not 0 <= percent <= 100:
            raise ValueError(f"progress must be 0..100, got {percent}")
        job = self.runtime.store.set_progress(self.job_id, int(percent))
        self.progress = int(percent)
        if job is None or job.cancel_requested:
            raise JobCancelledError(f"job {self.job_id} was cancelled while running")
        if self.remaining_s() > 0:
            return
        if self.cut_short:
            raise InvocationEndingError(f"job {self.job_id}: the invocation ends before the job could (at {percent}%)")
        raise JobTimeoutError(f"job {self.job_id} ran past its timeout at {percent}% progress")

    def rate_limit(self, name: str, limit: RateLimit) -> None:
        """Take a slot of a named shared limit (e.g. "openai"); when there is none the job is
        deferred until one frees up, without using an attempt. No cache configured: no limit."""
        limiter = self.runtime.rate_limiter
        if limiter is not None:
            limiter.acquire_or_raise(name, limit)

    def cancelled(self) -> bool:
        """True once someone has asked for this job to be cancelled."""
        job = self.runtime.store.get(self.job_id)
        return job is None or job.cancel_requested or job.status.value == "cancelled"
