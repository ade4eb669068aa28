"""The coalescing rules on an in-memory WakeState (the moto-backed one is in
tests/integration/test_wakeup.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from bcpoller.wakeup.coalesce import WakeRefused, WakeService, WakeTicket, run_woken, secret_hash


class FakeState:
    def __init__(self, secret: str = "s") -> None:
        self.hash: str | None = secret_hash(secret)
        self.req = 0
        self.done = 0
        self.at: float | None = None
        self.handed_over = 0

    def request(self, instance_id: str, hashed_secret: str, now: float) -> WakeTicket | None:
        if self.hash is None or hashed_secret != self.hash:
            return None
        self.req += 1
        if self.at is None:
            self.at = now
        return WakeTicket(self.req, self.done, self.at)

    def take_over(self, instance_id: str, seen_at: float | None, now: float) -> bool:
        if self.at != seen_at:
            return False
        self.at = now
        return True

    def start_pass(self, instance_id: str, now: float) -> int | None:
        if self.hash is None:
            return None
        self.at = now
        return self.req

    def finish(self, instance_id: str, seq: int) -> bool:
        if self.req != seq:
            return False
        self.done, self.at = seq, None
        return True

    def hand_over(self, instance_id: str) -> None:
        self.at = 0.0
        self.handed_over += 1

    def requests(self, instance_id: str) -> int:
        return self.req


OK = SimpleNamespace(status="ok", reason=None)
HELD = SimpleNamespace(status="skipped", reason="another poll holds the lease until 123")


@pytest.mark.parametrize("secret", [None, "", "wrong"])
def test_a_bad_or_missing_secret_is_refused_and_counts_nothing(secret: str | None) -> None:
    state, started = FakeState(), []
    with pytest.raises(WakeRefused):
        WakeService(state, started.append).wake("i", secret)
    assert (started, state.req) == ([], 0)


def test_only_the_first_request_of_a_run_starts_a_poll() -> None:
    state, started = FakeState(), []
    svc = WakeService(state, started.append, clock=lambda: 100.0)
    assert [svc.wake("i", "s") for _ in range(5)] == ["started"] + ["coalesced"] * 4
    assert started == ["i"]


def test_requests_during_a_pass_make_one_more_pass_then_it_settles() -> None:
    state = FakeState()
    passes: list[int] = []

    def poll() -> Any:
        passes.append(state.req)
        if len(passes) == 1:  # three hooks arrive while the first pass reads the store
            for _ in range(3):
                state.request("i", secret_hash("s"), 1.0)
        return OK

    state.request("i", secret_hash("s"), 0.0)
    run = run_woken("i", state, poll, remaining_ms=lambda: 100_000, sleep=lambda s: None)
    assert (run.polls, run.outcome, passes) == (2, "done", [1, 4])
    assert state.done == state.req == 4


def test_a_held_lease_makes_the_woken_poll_wait_and_try_again() -> None:
    state, results, slept = FakeState(), [HELD, HELD, OK], []
    state.request("i", secret_hash("s"), 0.0)
    run = run_woken("i", state, lambda: results.pop(0), remaining_ms=lambda: 100_000, sleep=slept.append)
    assert (run.polls, run.outcome, slept) == (3, "done", [1.0, 2.0])  # backing off


def test_out_of_time_with_requests_pending_hands_over() -> None:
    state = FakeState()
    state.request("i", secret_hash("s"), 0.0)

    def poll() -> Any:
        state.request("i", secret_hash("s"), 1.0)  # requests keep coming
        return OK

    run = run_woken("i", state, poll, remaining_ms=lambda: 1_000)
    assert (run.polls, run.outcome, state.handed_over) == (1, "handed_over", 1)
    # The next request takes over at once (the pass was marked stale).
    started: list[str] = []
    assert WakeService(state, started.append, clock=lambda: 1_000.0).wake("i", "s") == "started"


def test_wakeup_switched_off_stops_the_runner() -> None:
    state = FakeState()
    state.hash = None
    assert run_woken("i", state, lambda: OK, remaining_ms=lambda: 100_000).outcome == "disarmed"


def test_a_failed_trigger_leaves_the_run_to_the_next_request() -> None:
    state = FakeState()

    def boom(instance_id: str) -> None:
        raise RuntimeError("invoke failed")

    assert WakeService(state, boom, clock=lambda: 1_000.0).wake("i", "s") == "started"
    started: list[str] = []
    assert WakeService(state, started.append, clock=lambda: 1_001.0).wake("i", "s") == "started"
    assert started == ["i"]


def test_a_stream_of_requests_is_waited_out_before_the_next_pass() -> None:
    """Hooks trickling in during the settle wait join the next pass instead of causing one each."""
    state = FakeState()
    passes: list[int] = []
    arrivals = iter([3, 2, 0])  # requests arriving during each settle step

    def poll() -> Any:
        passes.append(state.req)
        if len(passes) == 1:
            state.request("i", secret_hash("s"), 1.0)
        return OK

    def sleep(seconds: float) -> None:
        for _ in range(next(arrivals, 0)):
            state.request("i", secret_hash("s"), 2.0)

    state.request("i", secret_hash("s"), 0.0)
    run = run_woken("i", state, poll, remaining_ms=lambda: 100_000, sleep=sleep)
    assert (run.polls, passes) == (2, [1, 7])
