from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from bcpoller.delivery.policy import (
    JITTER,
    MAX_ATTEMPTS,
    MAX_VISIBILITY_SECONDS,
    RETRY_DELAYS_SECONDS,
    AttemptResult,
    Outcome,
    classify,
    is_last_attempt,
    parse_retry_after,
    retry_delay_seconds,
)
from hypothesis import given
from hypothesis import strategies as st


def result(code: int | None, *, retryable: bool = False) -> AttemptResult:
    return AttemptResult(code, 10, None if code else "boom", retryable_error=retryable)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (299, Outcome.DELIVERED),
        (301, Outcome.FAILED),
        (302, Outcome.FAILED),
        (400, Outcome.FAILED),
        (404, Outcome.FAILED),
        (410, Outcome.GONE),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
    ],
)
def test_classify_status_codes(code: int, outcome: Outcome) -> None:
    assert classify(result(code)) is outcome


def test_classify_errors_without_a_response() -> None:
    assert classify(result(None, retryable=True)) is Outcome.RETRY
    assert classify(result(None, retryable=False)) is Outcome.FAILED


def test_schedule_is_the_svix_like_one() -> None:
    assert RETRY_DELAYS_SECONDS == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert MAX_ATTEMPTS == 8
    assert not is_last_attempt(7) and is_last_attempt(8) and is_last_attempt(10)


@given(attempt=st.integers(1, MAX_ATTEMPTS - 1), seed=st.integers(0, 2**32))
def test_delay_stays_within_the_jitter(attempt: int, seed: int) -> None:
    delay = retry_delay_seconds(attempt, rng=random.Random(seed))
    base = RETRY_DELAYS_SECONDS[attempt - 1]
    assert round(base * (1 - JITTER)) <= delay <= round(base * (1 + JITTER))
    assert delay <= MAX_VISIBILITY_SECONDS


def test_jitter_spreads_delays() -> None:
    delays = {retry_delay_seconds(3, rng=random.Random(seed)) for seed in range(50)}
    assert len(delays) > 10


def test_delays_scale_with_the_local_minute() -> None:
    rng = random.Random(1)
    full = retry_delay_seconds(4, rng=random.Random(1))
    fast = retry_delay_seconds(4, seconds_per_minute=6, rng=rng)
    assert abs(fast - full / 10) <= 1
    assert retry_delay_seconds(1, seconds_per_minute=1) == 0


def test_retry_after_longer_than_the_schedule_wins() -> None:
    assert retry_delay_seconds(1, retry_after="120", rng=random.Random(0)) == 120
    # Shorter than the schedule: the schedule stands.
    assert retry_delay_seconds(3, retry_after="1", rng=random.Random(0)) >= 1800 * (1 - JITTER)
    # Capped at SQS's 12-hour maximum visibility.
    assert retry_delay_seconds(1, retry_after=str(10**6)) == MAX_VISIBILITY_SECONDS


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


def test_attempt_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt must be between 1 and 7"):
        retry_delay_seconds(MAX_ATTEMPTS)
    with pytest.raises(ValueError, match="attempt"):
        retry_delay_seconds(0)
