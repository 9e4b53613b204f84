"""The errors a processor raises to tell the worker what to do with a job."""

from __future__ import annotations


class JobError(Exception):
    """Base class for offload's job-outcome errors."""


class RetryableError(JobError):
    """Try again later with backoff (any exception that is not a JobError is treated the same)."""


class NonRetryableError(JobError):
    """Fail the job now: retrying cannot help (bad input, a 4xx from a provider, ...)."""


class RateLimitedError(JobError):
    """No capacity right now: re-run after `retry_after_s` without using up an attempt."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class JobCancelledError(JobError):
    """The job was cancelled while running; it ends `cancelled`."""


class JobTimeoutError(NonRetryableError):
    """The job ran past its type's timeout (checked at each progress update)."""


class InvocationEndingError(JobError):
    """The function invocation running the job is about to end (earlier records of its batch used the time):
    the job goes back to its queue to run in a fresh invocation, without using up an attempt."""
