"""Running one step of a media pipeline's state machine, the same way for every pack.

A step takes the execution state and returns it with its own output added. Errors leave a step
as one of three names the state machines know: RetryableError and RateLimitedError are retried
with backoff, NonRetryableError goes straight to the fail step; each message starts with the step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from offload.errors import JobError, NonRetryableError, RateLimitedError, RetryableError
from offload.observability import logger

P = TypeVar("P")
Step = Callable[[P, dict[str, Any]], dict[str, Any]]


def run_step(
    pipeline: P, handlers: Mapping[str, Step[P]], step: str, state: dict[str, Any], *, log_keys: Mapping[str, Any]
) -> dict[str, Any]:
    """Run `handlers[step]`; errors leave as RetryableError, RateLimitedError or NonRetryableError."""
    handler = handlers.get(step)
    if handler is None:
        raise NonRetryableError(f"unknown pipeline step {step!r}; steps: {', '.join(handlers)}")
    logger.thread_safe_append_keys(step=step, **log_keys)
    try:
        return handler(pipeline, state)
    except RateLimitedError:
        raise
    except NonRetryableError as exc:
        raise NonRetryableError(f"{step}: {exc}") from exc
    except JobError as exc:
        raise RetryableError(f"{step}: {exc}") from exc
    except Exception as exc:
        logger.exception("pipeline step failed; it will be retried")
        raise RetryableError(f"{step}: {type(exc).__name__}: {exc}") from exc
    finally:
        logger.thread_safe_remove_keys(["step", *log_keys])
