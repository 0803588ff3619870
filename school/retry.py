"""Retrying a call to an outside HTTP service (the LLM, SendGrid): one way, on one library (tenacity).

Each attempt returns, or raises an exception that says whether another try may help (`retryable`) and how
long the server asked us to wait (`retry_after`: Retry-After, a rate-limit reset, or None). `with_retries`
makes at most `attempts` tries, waits `delay(attempt, retry_after)` seconds between two (each client keeps
its own backoff and cap), logs each wait, and re-raises the last failure. Celery tasks retry with Celery's
own options instead (`autoretry_for`, `retry_backoff`), never with this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import tenacity

logger = logging.getLogger(__name__)

T = TypeVar("T")


def with_retries(
    attempt_once: Callable[[], T],
    *,
    attempts: int,
    delay: Callable[[int, float | None], float],
    what: str,
) -> T:
    def wait(state: tenacity.RetryCallState) -> float:
        return delay(state.attempt_number, _retry_after(state))

    def log(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        seconds = state.next_action.sleep if state.next_action else 0.0
        logger.info(
            "%s: attempt %s failed (%s); retrying in %.2fs", what, state.attempt_number, error, seconds
        )

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=wait,
        retry=tenacity.retry_if_exception(lambda error: bool(getattr(error, "retryable", False))),
        before_sleep=log,
        reraise=True,
    )
    return retrying(attempt_once)


def _retry_after(state: tenacity.RetryCallState) -> float | None:
    error = state.outcome.exception() if state.outcome else None
    return getattr(error, "retry_after", None)
