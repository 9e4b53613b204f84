"""offload.http_rules: which HTTP answers are retried, and how long Retry-After says to wait."""

from __future__ import annotations

import email.utils
import time

import pytest

from offload.errors import NonRetryableError, RetryableError
from offload.http_rules import error_for_status, is_retryable_status, retry_after_s


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (408, True),
        (425, True),
        (429, True),
        (500, True),
        (599, True),
        (400, False),
        (401, False),
        (404, False),
        (409, False),
    ],
)
def test_throttling_timeouts_and_server_errors_are_retryable(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable
    assert isinstance(error_for_status(status, "https://x"), RetryableError if retryable else NonRetryableError)


def test_retry_after_reads_milliseconds_then_seconds_then_an_http_date() -> None:
    assert retry_after_s({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_s({"Retry-After": "7"}) == 7.0
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 < retry_after_s({"retry-after": in_a_minute}) <= 60


def test_retry_after_that_is_missing_or_unreadable_is_the_default_and_never_negative() -> None:
    assert retry_after_s({}) == 5.0
    assert retry_after_s({"retry-after": "soon"}, default=3.0) == 3.0
    assert retry_after_s({"retry-after": "-4"}) == 0.0
