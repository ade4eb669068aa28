"""The coalescing rules on an in-memory WakeState (the moto-backed one is in
tests/integration/test_wakeup.py)."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest
from bcpoller.wakeup.coalesce import (
    GAP_MAX_S,
    PassMark,
    WakeRefused,
    WakeService,
    WakeTicket,
    next_gap,
    run_woken,
    secret_hash,
)


class FakeState:
    def __init__(self, secret: str = "s") -> None:
        self.hash: str | None = secret_hash(secret)
        self.req = 0
        self.done = 0
        self.at: float | None = None
        self.gap = 0.0
        self.next_at: float | None = None
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

    def start_pass(self, instance_id: str, now: float) -> PassMark | None:
        if self.hash is None:
            return None
        self.at = now
        return PassMark(self.req, self.done, self.gap, self.next_at)

    def finish(self, instance_id: str, seq: int) -> int | None:
        if self.req != seq:
            return self.req
        self.done, self.at, self.gap, self.next_at = seq, None, 0.0, None
        return None

    def hand_over(self, instance_id: str, gap: float = 0.0, next_at: float | None = None) -> None:
        self.at, self.gap, self.next_at = 0.0, gap, next_at
        self.handed_over += 1


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
    assert (run.polls, run.refused, run.outcome, slept) == (1, 2, "done", [1.0, 2.0])  # backing off


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


# -- spacing during bursts (a fake clock: polls and sleeps advance it, hooks arrive on it) --


class Sim:
    """Hooks arriving at given times on a fake clock, the route (WakeService) counting
    them, and woken polls run one invocation at a time (``timeout_s`` each), each pass
    taking ``pass_s``. Records every pass's start and every runner started; times are
    seconds from the first hook (the clock itself reads epoch-like values, as the route's
    staleness check expects)."""

    BASE = 1_000_000.0

    def __init__(self, arrivals: list[float], *, pass_s: float = 3.0, timeout_s: float = 120.0) -> None:
        self.t = self.BASE
        self.pending = sorted(self.BASE + a for a in arrivals)
        self.state = FakeState()
        self.pass_s = pass_s
        self.timeout_s = timeout_s
        self.passes: list[float] = []  # start time of each pass
        self.covered: list[int] = []  # wakeReq each pass covered
        self.triggered: list[float] = []
        self.running = False
        self.overlapping_runners = 0
        self.service = WakeService(self.state, self._trigger, clock=lambda: self.t)
        self.deadline = 0.0

    def _trigger(self, instance_id: str) -> None:
        self.triggered.append(self.t)

    def advance(self, seconds: float) -> None:
        end = self.t + seconds
        while self.pending and self.pending[0] <= end:
            self.t = max(self.t, self.pending.pop(0))
            before = len(self.triggered)
            self.service.wake("i", "s")
            if self.running and len(self.triggered) > before:
                self.overlapping_runners += 1
        self.t = end

    def poll(self) -> Any:
        self.passes.append(self.t - self.BASE)
        self.covered.append(self.state.req)
        self.advance(self.pass_s)
        return OK

    def run(self) -> list[str]:
        outcomes: list[str] = []
        handled = 0
        while self.pending or handled < len(self.triggered):
            if handled == len(self.triggered):
                self.advance(self.pending[0] - self.t)
                continue
            self.t = max(self.t, self.triggered[handled]) + 0.5  # the invoke's start
            handled += 1
            self.deadline = self.t + self.timeout_s
            self.running = True
            result = run_woken(
                "i",
                self.state,
                self.poll,
                now=lambda: self.t,
                remaining_ms=lambda: int((self.deadline - self.t) * 1000),
                sleep=self.advance,
            )
            self.running = False
            outcomes.append(result.outcome)
        return outcomes


def _burst(count: int, per_s: float, start: float = 0.0) -> list[float]:
    return [start + n / per_s for n in range(count)]


def test_the_gap_grows_while_passes_are_crowded_and_is_none_for_spaced_changes() -> None:
    assert next_gap(0.0, 1, 1.0) == 0.0  # one change during a pass: no wait
    assert next_gap(0.0, 2, 2.0) == 0.0  # changes a second or more apart: no wait
    assert next_gap(0.0, 3, 6.0) == 0.0  # ...however long the pass
    assert next_gap(0.0, 20, 3.0) == 4.0
    assert next_gap(4.0, 20, 3.0) == 16.0
    assert next_gap(16.0, 20, 3.0) == GAP_MAX_S
    assert next_gap(GAP_MAX_S, 20, 3.0) == GAP_MAX_S
    assert next_gap(GAP_MAX_S, 1, 3.0) == 0.0  # the stream thinned out: back to at once


@pytest.mark.parametrize(
    ("per_s", "most_passes"),
    [
        (7.0, 5),  # the local stack's rate: 1,000 hooks over 143 s
        (50.0, 3),  # API Gateway's throttle rate: over 20 s
        (1_000.0, 2),  # all at once
    ],
)
def test_a_burst_of_1000_hooks_costs_a_handful_of_passes(per_s: float, most_passes: int) -> None:
    sim = Sim(_burst(1000, per_s))
    sim.run()
    assert sim.state.req == sim.state.done == 1000  # every request covered, run settled
    assert max(sim.passes) > (1000 - 1) / per_s  # a pass started after the last hook
    assert sim.overlapping_runners == 0
    assert len(sim.passes) <= most_passes, sim.passes


def test_spaced_changes_are_polled_at_once_every_time() -> None:
    """A change every 1-4 s (a person editing): no pass ever waits a gap, so each change
    is read by a pass starting within two pass-lengths of it."""
    rng = random.Random(5)
    arrivals, t = [], 0.0
    for _ in range(60):
        t += rng.uniform(1.0, 4.0)
        arrivals.append(t)
    sim = Sim(arrivals, pass_s=1.5)
    sim.run()
    for at in arrivals:
        first_after = min(p for p in sim.passes if p >= at)
        assert first_after - at <= 2 * 1.5 + 0.5 + 1e-9, (at, first_after)
    assert sim.state.req == sim.state.done == 60


def test_after_a_quiet_spell_the_next_hook_is_polled_at_once() -> None:
    sim = Sim([*_burst(500, 10.0), 400.0])
    sim.run()
    assert sim.state.gap == 0.0  # the burst's run finished: its spacing is gone
    assert sim.passes[-1] == pytest.approx(400.5)  # the lone change's invoke, then its pass


def test_a_handed_over_run_keeps_its_spacing() -> None:
    """A runner short of time for its next wait hands over the gap; the runner that takes
    over (started by the next hook) waits until wakeNext instead of polling at once."""
    sim = Sim(_burst(2000, 7.0), timeout_s=120.0)
    outcomes = sim.run()
    assert outcomes[:-1] and set(outcomes[:-1]) == {"handed_over"} and outcomes[-1] == "done"
    gaps = [b - a for a, b in zip(sim.passes, sim.passes[1:], strict=False)]
    # Once spread out, passes stay spread out across the hand-overs.
    assert all(g >= GAP_MAX_S for g in gaps[4:]), gaps
    assert sim.overlapping_runners == 0
    assert sim.state.req == sim.state.done == 2000
