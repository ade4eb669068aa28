"""Keep a poll inside the store's rate-limit quota instead of drawing 429s.

BigCommerce counts every request of every app of a store against one quota per window
(150 per 30 s on Standard/Plus) and reports where the window stands in the
``X-Rate-Limit-*`` headers of each response. One governor per store is shared by every
resource read in a poll, so the resources together respect the quota.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from bcpoller.connector.errors import DeadlineExceeded

LEFT = "X-Rate-Limit-Requests-Left"
RESET_MS = "X-Rate-Limit-Time-Reset-Ms"
WINDOW_MS = "X-Rate-Limit-Time-Window-Ms"
QUOTA = "X-Rate-Limit-Requests-Quota"

# Waiting a little past the reported reset absorbs the request's flight time and clock
# granularity, so the first request after the wait lands in the new window.
_MARGIN_S = 0.02
_DEFAULT_429_WAIT_S = 1.0


def _int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


class RateGovernor:
    """Tracks the store's window from response headers; ``before_request`` waits for the
    window to reset when at most ``reserve`` requests are left in it."""

    def __init__(
        self,
        *,
        reserve: int = 1,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reserve = reserve
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self.left: int | None = None
        self.quota: int | None = None
        self.window_ms: int | None = None
        self.reset_at: float | None = None
        self.waits = 0
        self.waited_s = 0.0

    def before_request(self, deadline: float | None = None) -> None:
        with self._lock:
            wait = 0.0
            now = self._clock()
            if self.reset_at is not None and now >= self.reset_at:
                # The window has turned over: the whole quota is back.
                self.left = self.quota
                self.reset_at = None
            if self.left is not None and self.left <= self.reserve and self.reset_at is not None:
                wait = self.reset_at - now + _MARGIN_S
            if wait > 0:
                self._wait(wait, deadline)
                self.left = self.quota
                self.reset_at = None
            if self.left is not None:
                # Count the request now: if the response carries no headers, the estimate
                # still errs on the safe side.
                self.left -= 1

    def after_response(self, headers: Mapping[str, str]) -> None:
        with self._lock:
            left = _int(headers, LEFT)
            reset_ms = _int(headers, RESET_MS)
            quota = _int(headers, QUOTA)
            window_ms = _int(headers, WINDOW_MS)
            if quota is not None:
                self.quota = quota
            if window_ms is not None:
                self.window_ms = window_ms
            if left is not None:
                self.left = left
            if reset_ms is not None:
                self.reset_at = self._clock() + reset_ms / 1000.0

    def wait_after_429(self, headers: Mapping[str, str], deadline: float | None = None) -> None:
        """A 429 (another app spent the quota, or our estimate was off): wait as told."""
        reset_ms = _int(headers, RESET_MS)
        wait = reset_ms / 1000.0 if reset_ms is not None else _DEFAULT_429_WAIT_S
        with self._lock:
            self._wait(wait + _MARGIN_S, deadline)
            self.left = self.quota
            self.reset_at = None

    def _wait(self, seconds: float, deadline: float | None) -> None:
        if deadline is not None and self._clock() + seconds > deadline:
            raise DeadlineExceeded(f"rate-limit window resets in {seconds:.1f}s, past the poll's deadline")
        self.waits += 1
        self.waited_s += seconds
        self._sleep(seconds)
