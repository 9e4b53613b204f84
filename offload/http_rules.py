"""HTTP retry rules, the one place that says which answers are worth another attempt.

Used by the processors that call out (`http.fetch`, `webhook.deliver`) and by the OpenAI adapter:
408, 425, 429 and 5xx are retryable (throttling, and server-side trouble that often passes), other
statuses are permanent; `Retry-After` (seconds or an HTTP date) and `retry-after-ms` say how long to wait.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from offload.errors import NonRetryableError, RetryableError

# Statuses worth retrying besides every 5xx: a timeout, "too early", throttling.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
DEFAULT_RETRY_AFTER_S = 5.0


def is_retryable_status(status: int) -> bool:
    """True for 408, 425, 429 and every 5xx."""
    return status in RETRYABLE_STATUSES or status >= 500


def error_for_status(status: int, url: str, detail: str = "") -> RetryableError | NonRetryableError:
    """A retryable error for 429/5xx-like statuses, a permanent one for the rest."""
    text = f"{url} answered HTTP {status}" + (f": {detail[:200]}" if detail else "")
    return RetryableError(text) if is_retryable_status(status) else NonRetryableError(text)


def retry_after_s(headers: Mapping[str, str], default: float = DEFAULT_RETRY_AFTER_S) -> float:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or HTTP date), else `default`.

    Header names are matched case-insensitively; a negative or past value means 0.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())
