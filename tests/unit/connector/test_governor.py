"""The rate governor waits for the window instead of drawing 429s."""

from __future__ import annotations

import pytest
from bcpoller.connector.errors import DeadlineExceeded
from bcpoller.connector.governor import RateGovernor

from .fakes import FakeClock


def headers(left: int, reset_ms: int, quota: int = 150, window_ms: int = 30000) -> dict[str, str]:
    return {
        "X-Rate-Limit-Requests-Left": str(left),
        "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
        "X-Rate-Limit-Requests-Quota": str(quota),
        "X-Rate-Limit-Time-Window-Ms": str(window_ms),
    }


def test_no_wait_while_the_quota_lasts() -> None:
    clock = FakeClock()
    gov = RateGovernor(sleep=clock.sleep, clock=clock)
    gov.before_request()
    gov.after_response(headers(left=100, reset_ms=20000))
    gov.before_request()
    assert clock.sleeps == []


def test_waits_for_the_reset_when_nearly_spent() -> None:
    clock = FakeClock()
    gov = RateGovernor(reserve=1, sleep=clock.sleep, clock=clock)
    gov.before_request()
    gov.after_response(headers(left=1, reset_ms=7000))
    gov.before_request()
    assert len(clock.sleeps) == 1 and 7.0 <= clock.sleeps[0] < 7.1
    # A full window again: the next requests go straight out.
    gov.before_request()
    assert len(clock.sleeps) == 1


def test_the_window_turning_over_on_its_own_needs_no_wait() -> None:
    clock = FakeClock()
    gov = RateGovernor(sleep=clock.sleep, clock=clock)
    gov.after_response(headers(left=0, reset_ms=2000))
    clock.now += 3
    gov.before_request()
    assert clock.sleeps == []


def test_counts_requests_without_headers_against_the_last_known_left() -> None:
    clock = FakeClock()
    gov = RateGovernor(reserve=0, sleep=clock.sleep, clock=clock)
    gov.after_response(headers(left=2, reset_ms=5000))
    gov.before_request()
    gov.before_request()
    assert clock.sleeps == []
    gov.before_request()  # the estimate says 0 left: wait for the reset
    assert len(clock.sleeps) == 1


def test_429_waits_the_reset_it_names() -> None:
    clock = FakeClock()
    gov = RateGovernor(sleep=clock.sleep, clock=clock)
    gov.wait_after_429(headers(left=0, reset_ms=1500))
    assert 1.5 <= clock.sleeps[0] < 1.6


def test_never_waits_past_the_deadline() -> None:
    clock = FakeClock()
    gov = RateGovernor(sleep=clock.sleep, clock=clock)
    gov.after_response(headers(left=0, reset_ms=20000))
    with pytest.raises(DeadlineExceeded):
        gov.before_request(deadline=clock.now + 5)
    assert clock.sleeps == []
