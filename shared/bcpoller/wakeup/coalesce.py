"""Coalesced wake-ups: however many hooks arrive, at most one woken poll runs and one
waits per instance.

The instance's last-poll item (``META#POLL``) carries two counters: ``wakeReq`` (wake-up
requests accepted) and ``wakeDone`` (the ``wakeReq`` a woken poll had read when it started
its last poll, written once it finished with nothing newer). A runner is outstanding
exactly while ``wakeReq > wakeDone``:

- the route adds 1 to ``wakeReq`` (one conditional UpdateItem that also checks the
  secret's hash) and starts a runner only when its own request is the first since the
  last finished run (``wakeReq == wakeDone + 1``); every other request is coalesced;
- the runner reads ``wakeReq`` as S *before* polling, polls, and sets ``wakeDone = S`` only
  if ``wakeReq`` is still S. Otherwise requests came in while it polled (their changes may
  be after its read): it polls again. That next pass is the "one waiting".

A runner that died leaves ``wakeReq > wakeDone``; its ``wakeAt`` (written at each pass)
then grows old, and the next request older than ``stale_s`` takes over with a second
conditional write (only one request wins it). The scheduled poll never depends on any of
this: a lost wake-up only means the change waits for the next tick.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

logger = logging.getLogger(__name__)

# Longer than PollFunction's timeout (120 s): a runner's pass cannot be older than this
# while it lives.
STALE_S = 180.0
# A runner stops looping when less than this is left of its invocation (one more poll
# must fit); with requests still pending it hands over to the next request.
MIN_REMAINING_MS = 40_000
# How long a woken poll waits before trying again when another poll holds the lease,
# doubling while it stays held (a long poll, 1,000 changes say): a few retries, not one a second.
LEASE_WAIT_S = 1.0
LEASE_WAIT_MAX_S = 8.0
# Before a repeat pass, wait while requests keep coming (checked this often), at most
# SETTLE_MAX_S: a burst of hooks arriving over many seconds then costs a few passes,
# not one per pass-length of the burst. A lone change after a quiet spell never waits.
SETTLE_S = 1.0
SETTLE_MAX_S = 5.0

WakeOutcome = Literal["started", "coalesced"]


def secret_hash(secret: str) -> str:
    """What the table keeps of the secret: its SHA-256 (the secret itself is KMS-encrypted
    with the instance's other secrets). The route compares hashes, so no timing of the
    comparison can tell anything about the secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class WakeTicket:
    """The counters as one accepted request left them."""

    req: int
    done: int
    at: float | None  # the runner's last pass (or the first pending request's time)


class WakeRefused(Exception):
    """Unknown instance, wake-up off, missing or wrong secret: one answer for all."""


class WakeState(Protocol):
    def request(self, instance_id: str, hashed_secret: str, now: float) -> WakeTicket | None:
        """Count one request if the instance's wake-up is on and ``hashed_secret`` is its
        secret's hash; None otherwise (nothing written)."""
        ...

    def take_over(self, instance_id: str, seen_at: float | None, now: float) -> bool:
        """Become the runner of a stale run: set ``wakeAt`` to now if it is still
        ``seen_at``. True for exactly one caller."""
        ...

    def start_pass(self, instance_id: str, now: float) -> int | None:
        """Mark a runner's pass (``wakeAt``) and return ``wakeReq``; None once wake-up is off."""
        ...

    def finish(self, instance_id: str, seq: int) -> bool:
        """``wakeDone = seq`` if ``wakeReq`` is still ``seq``; False when requests came in."""
        ...

    def hand_over(self, instance_id: str) -> None:
        """Leave the run to the next request (mark the pass stale at once)."""
        ...

    def requests(self, instance_id: str) -> int:
        """``wakeReq`` as it is now (a consistent read)."""
        ...


@dataclass
class WakeService:
    """The wake-up route's one call: check, count, maybe start a runner."""

    state: WakeState
    trigger: Callable[[str], None]  # invoke PollFunction asynchronously with {"wake": true}
    clock: Callable[[], float] = time.time
    stale_s: float = STALE_S

    def wake(self, instance_id: str, secret: str | None) -> WakeOutcome:
        now = self.clock()
        # A missing secret costs the same write as a wrong one: the answer's timing does
        # not say which it was, nor whether the instance exists.
        ticket = self.state.request(instance_id, secret_hash(secret or ""), now)
        if ticket is None:
            raise WakeRefused()
        start = ticket.req == ticket.done + 1
        if not start and (ticket.at is None or ticket.at < now - self.stale_s):
            start = self.state.take_over(instance_id, ticket.at, now)
        if not start:
            return "coalesced"
        try:
            self.trigger(instance_id)
        except Exception:
            # The scheduled poll still comes; the next request may start a runner at once.
            logger.exception("wake-up: could not start the poll")
            self.state.hand_over(instance_id)
        return "started"


@dataclass(frozen=True)
class WokenRun:
    polls: int
    outcome: Literal["done", "disarmed", "handed_over"]


def lease_refused(result: Any) -> bool:
    """The poll stopped before working because another poll held (or had just used) the
    work lease: that poll may have read the store before the change."""
    reason = str(getattr(result, "reason", "") or "")
    return getattr(result, "status", None) == "skipped" and "another poll" in reason


def run_woken(
    instance_id: str,
    state: WakeState,
    poll: Callable[[], Any],
    *,
    now: Callable[[], float] = time.time,
    remaining_ms: Callable[[], int],
    sleep: Callable[[float], None] = time.sleep,
    min_remaining_ms: int = MIN_REMAINING_MS,
    lease_wait_s: float = LEASE_WAIT_S,
    settle_s: float = SETTLE_S,
    settle_max_s: float = SETTLE_MAX_S,
) -> WokenRun:
    """The woken poll: poll until no request came in during a pass (see module doc)."""
    polls = 0
    wait_s = lease_wait_s
    while True:
        seq = state.start_pass(instance_id, now())
        if seq is None:
            return WokenRun(polls, "disarmed")
        result = poll()
        polls += 1
        if lease_refused(result):
            if remaining_ms() < min_remaining_ms:
                state.hand_over(instance_id)
                return WokenRun(polls, "handed_over")
            sleep(wait_s)
            wait_s = min(wait_s * 2, LEASE_WAIT_MAX_S)
            continue
        wait_s = lease_wait_s
        if state.finish(instance_id, seq):
            return WokenRun(polls, "done")
        if remaining_ms() < min_remaining_ms:
            state.hand_over(instance_id)
            return WokenRun(polls, "handed_over")
        _settle(instance_id, state, sleep, settle_s, settle_max_s)


def _settle(
    instance_id: str, state: WakeState, sleep: Callable[[float], None], step_s: float, max_s: float
) -> None:
    """Requests came in during the pass: wait until they stop (or ``max_s``), so the next
    pass covers the whole burst."""
    seen = state.requests(instance_id)
    waited = 0.0
    while waited < max_s:
        sleep(step_s)
        waited += step_s
        now = state.requests(instance_id)
        if now == seen:
            return
        seen = now
