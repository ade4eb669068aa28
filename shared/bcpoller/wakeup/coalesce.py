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

Spacing (``next_gap``): a burst of hooks must cost a handful of passes, not one per
pass-length of the burst. The first pass of a run starts at once (a lone change after a
quiet spell is polled within seconds). After a *crowded* pass -- one during which at least
``CROWD_MIN`` requests came in, at ``CROWD_RATE`` a second or more -- the next pass waits
``GAP_FIRST_S``, and the wait grows ``GAP_FACTOR`` times per crowded pass up to
``GAP_MAX_S``; a pass that was not crowded (spaced changes) is followed at once, and a
pass during which nothing arrived ends the run and so the spacing (``wakeGap`` and
``wakeNext`` are removed with the finish write). The number of passes then grows with the
logarithm of the burst's length, not with its length. A runner whose next wait does not
fit in its invocation hands over with ``wakeGap``/``wakeNext`` in the same write, and the
runner that takes over first waits until ``wakeNext``: spacing survives the hand-over.

No request is lost: every request is counted before the runner reads ``wakeReq`` at its
next pass or after it; in the second case ``finish`` fails and the runner makes another
pass (after the gap). The one exception is a runner that hands over (short of time): its
pending requests are then covered by the next request, which takes over at once, or --
when no further hook arrives -- by the scheduled poll (a later tick, nothing lost).
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
# Spacing of repeat passes during a burst (see the module doc). A pass is crowded when
# CROWD_MIN requests or more came in during it, at CROWD_RATE a second or more: changes a
# few seconds apart (a person editing) are never crowded, so they keep seconds of
# latency; a bulk import is, and its passes spread out 4, 16, 60 s apart.
CROWD_MIN = 3
CROWD_RATE = 1.0
GAP_FIRST_S = 4.0
GAP_FACTOR = 4.0
# At most this long between passes while hooks keep coming: no longer than the 1-minute
# schedule floor, and a sleep of this length still leaves MIN_REMAINING_MS of a fresh
# 120 s invocation for the pass after it.
GAP_MAX_S = 60.0

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


@dataclass(frozen=True)
class PassMark:
    """The counters as a runner's pass mark left them (``start_pass``)."""

    req: int  # wakeReq: this pass covers every request counted up to here
    done: int  # wakeDone: what the last finished run covered
    gap: float = 0.0  # wakeGap: the spacing a handed-over run had reached (0: none)
    next_at: float | None = None  # wakeNext: not before this, for a taken-over run


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

    def start_pass(self, instance_id: str, now: float) -> PassMark | None:
        """Mark a runner's pass (``wakeAt``) and return the counters; None once wake-up is off."""
        ...

    def finish(self, instance_id: str, seq: int) -> int | None:
        """``wakeDone = seq`` and the spacing removed if ``wakeReq`` is still ``seq``: None.
        When requests came in, ``wakeReq`` as the failed write found it (no extra read)."""
        ...

    def hand_over(self, instance_id: str, gap: float = 0.0, next_at: float | None = None) -> None:
        """Leave the run to the next request (mark the pass stale at once), keeping the
        spacing reached (``wakeGap``, ``wakeNext``) for the runner that takes over."""
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
    polls: int  # passes that polled the store
    outcome: Literal["done", "disarmed", "handed_over"]
    refused: int = 0  # attempts that found another poll holding the work lease (cheap: no store call)


def lease_refused(result: Any) -> bool:
    """The poll stopped before working because another poll held (or had just used) the
    work lease: that poll may have read the store before the change."""
    reason = str(getattr(result, "reason", "") or "")
    return getattr(result, "status", None) == "skipped" and "another poll" in reason


def next_gap(gap: float, arrived: int, window_s: float) -> float:
    """The wait before the next pass, after a pass during which (``window_s`` seconds)
    ``arrived`` requests came in."""
    crowded = arrived >= CROWD_MIN and arrived >= CROWD_RATE * window_s
    if not crowded:
        return 0.0
    return min(GAP_MAX_S, max(GAP_FIRST_S, gap * GAP_FACTOR))


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
) -> WokenRun:
    """The woken poll: poll until no request came in during a pass, spacing the passes
    while they are crowded (see the module doc)."""
    polls = refused = 0
    wait_s = lease_wait_s
    gap: float | None = None  # the spacing reached; None until the first mark says it
    while True:
        started = now()
        mark = state.start_pass(instance_id, started)
        if mark is None:
            return WokenRun(polls, "disarmed", refused)
        if gap is None:
            gap = mark.gap
            if mark.next_at is not None and mark.next_at > started:
                # Taken over mid-burst: keep the handed-over runner's spacing. Requests
                # arriving meanwhile are counted, and the next mark covers them.
                sleep(min(mark.next_at - started, GAP_MAX_S))
                continue
        result = poll()
        if lease_refused(result):
            refused += 1
            if remaining_ms() < min_remaining_ms:
                state.hand_over(instance_id, gap, None)
                return WokenRun(polls, "handed_over", refused)
            sleep(wait_s)
            wait_s = min(wait_s * 2, LEASE_WAIT_MAX_S)
            continue
        polls += 1
        wait_s = lease_wait_s
        found = state.finish(instance_id, mark.req)
        if found is None:
            return WokenRun(polls, "done", refused)
        # Requests came in during the pass (their changes may be after its read): another
        # pass must follow, after the gap their rate calls for.
        gap = next_gap(gap, found - mark.req, now() - started)
        if remaining_ms() - gap * 1000 < min_remaining_ms:
            # No time left for the wait and a pass: the next request takes over at once
            # and waits until wakeNext; when no further hook comes, the scheduled poll
            # covers the pending requests (later, nothing lost). Cutting the wait short
            # instead would not shorten that window (the requests arriving during this
            # runner's last pass), only add a pass.
            state.hand_over(instance_id, gap, now() + gap if gap else None)
            return WokenRun(polls, "handed_over", refused)
        if gap:
            sleep(gap)
