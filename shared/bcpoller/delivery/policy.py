"""Delivery policy: what an attempt's result means and when the next attempt happens.

Pure functions (no I/O), so the schedule and the outcome rules are unit tested alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

# Svix-like schedule (DESIGN.md "Delivery policy"): the delay after failed attempt n is
# RETRY_DELAYS_SECONDS[n - 1]; after the last one the event goes to the DLQ.
RETRY_DELAYS_SECONDS: tuple[int, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS_SECONDS) + 1
JITTER = 0.1  # +-10%: spreads a recovering endpoint's backlog instead of a thundering herd
# SQS refuses a visibility timeout above 12 hours.
MAX_VISIBILITY_SECONDS = 12 * 3600
# Per instance, `event.notification.timeout_seconds` (our extension) sets how long one POST
# may take; the stack's DELIVERY_TIMEOUT_SECONDS (15) is the default. The ceiling leaves the
# batch room inside DeliveryFunction's 30 s timeout to record the outcome.
TIMEOUT_KEY = "event.notification.timeout_seconds"
MIN_TIMEOUT_SECONDS = 1
MAX_TIMEOUT_SECONDS = 25


def parse_timeout_seconds(value: object) -> int | None:
    """The per-instance POST deadline: a whole number of seconds within the bounds (a digit
    string is accepted, as Open Connectors bodies send numbers as strings), None when
    empty. ValueError names the problem."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds, not a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # isascii: str.isdigit and int() also take fullwidth and other scripts' digits.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise ValueError(f"must be a whole number of seconds (or empty for the default), got {value!r}")
    if not MIN_TIMEOUT_SECONDS <= value <= MAX_TIMEOUT_SECONDS:
        raise ValueError(
            f"must be between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS} seconds, got {value}"
        )
    return value


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # 429, 5xx, timeout, connection error
    GONE = "gone"  # 410: the endpoint asks us to stop; notifications are turned off
    FAILED = "failed"  # other 4xx, 3xx (redirects are not followed), unsafe URL


@dataclass(frozen=True)
class AttemptResult:
    """What one POST gave: a status code, or an error (timeout, connection) without one."""

    status_code: int | None
    latency_ms: int
    error: str | None = None
    retryable_error: bool = False  # timeouts and connection errors are worth another try
    retry_after: str | None = None
    # The first 2 KB of a refusing answer's body (text), for the event inspector; None
    # for a 2xx answer, which is never kept (delivered events stay small).
    response_head: str | None = None


def classify(result: AttemptResult) -> Outcome:
    code = result.status_code
    if code is None:
        return Outcome.RETRY if result.retryable_error else Outcome.FAILED
    if 200 <= code < 300:
        return Outcome.DELIVERED
    if code == 410:
        return Outcome.GONE
    if code == 429 or code >= 500:
        return Outcome.RETRY
    return Outcome.FAILED


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_delay_seconds(
    attempt: int,
    *,
    seconds_per_minute: float = 60.0,
    retry_after: str | None = None,
    rng: random.Random | None = None,
    now: datetime | None = None,
) -> int:
    """Visibility timeout (whole seconds) before the attempt after ``attempt`` (1-based).

    Scaled by seconds_per_minute/60 so the local stack can run the schedule in minutes;
    a Retry-After longer than the schedule wins (scaled the same way)."""
    if not 1 <= attempt < MAX_ATTEMPTS:
        raise ValueError(f"attempt must be between 1 and {MAX_ATTEMPTS - 1}, got {attempt}")
    delay = RETRY_DELAYS_SECONDS[attempt - 1] * (rng or random).uniform(1 - JITTER, 1 + JITTER)
    asked = parse_retry_after(retry_after, now=now)
    if asked is not None:
        delay = max(delay, asked)  # never earlier than the endpoint asked
    scaled = delay * (seconds_per_minute / 60.0)
    return max(0, min(MAX_VISIBILITY_SECONDS, round(scaled)))


def is_last_attempt(attempt: int) -> bool:
    return attempt >= MAX_ATTEMPTS
