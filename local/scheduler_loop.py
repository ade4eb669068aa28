"""What EventBridge Scheduler does for the poll schedules, on moto's Scheduler.

The loop lists the schedules of the stack's group, and fires each ENABLED ``rate(...)``
schedule whose target is PollFunction at its rate, scaled by ``seconds_per_minute`` (the
local stack's ``--minute``), passing the schedule's ``Input`` as the event. Ticks fall at
``anchor + k * period`` (anchor: StartDate, else the last modification), so a restarted
loop keeps the same rhythm. ``PollNowServer`` is the runtime's stand-in for an
asynchronous ``lambda:Invoke`` of PollFunction: ``POST /poll-now`` with the event, 202.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import ThreadingHTTPServer
from typing import Any

from local.json_http import QuietJsonHandler

log = logging.getLogger("local.scheduler_loop")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_MINUTES = {"minute": 1, "minutes": 1, "hour": 60, "hours": 60, "day": 1440, "days": 1440}

Fire = Callable[[str, dict[str, Any]], None]


def rate_minutes(expression: str) -> int | None:
    """Minutes between ticks of a ``rate(N unit)`` expression; None for at()/cron()."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_MINUTES[match.group(2)]


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _next_tick(anchor: float, period: float, now: float) -> float:
    """The first tick ``anchor + k * period`` (k >= 1) strictly after ``now``."""
    return anchor + max(1, int((now - anchor) // period) + 1) * period


@dataclass
class _Tracked:
    modified: float
    period: float
    anchor: float
    next_due: float
    payload: dict[str, Any]
    end: float | None


class SchedulerLoop:
    def __init__(
        self,
        scheduler: Any,
        group_name: str,
        fire: Fire,
        seconds_per_minute: float,
        *,
        target_arn: str | None = None,
        scan_interval: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scheduler = scheduler
        self.group_name = group_name
        self.fire = fire
        self.seconds_per_minute = seconds_per_minute
        self.target_arn = target_arn
        self.scan_interval = scan_interval
        self.clock = clock
        self._tracked: dict[str, _Tracked | None] = {}  # None: seen, not ours to fire
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = 0

    def _list(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"GroupName": self.group_name}
        while True:
            resp = self.scheduler.list_schedules(**kwargs)
            out.extend(resp.get("Schedules", []))
            token = resp.get("NextToken")
            if not token:
                return out
            kwargs["NextToken"] = token

    def _track(self, name: str, modified: float, now: float) -> _Tracked | None:
        detail = self.scheduler.get_schedule(GroupName=self.group_name, Name=name)
        target = detail.get("Target", {})
        if self.target_arn and target.get("Arn") != self.target_arn:
            log.warning("schedule %s targets %s, not PollFunction: not fired", name, target.get("Arn"))
            return None
        minutes = rate_minutes(detail.get("ScheduleExpression", ""))
        if minutes is None:
            log.warning("schedule %s: only rate() expressions are run locally", name)
            return None
        try:
            payload = json.loads(target.get("Input") or "{}")
        except ValueError:
            log.warning("schedule %s: Input is not JSON: not fired", name)
            return None
        period = minutes * self.seconds_per_minute
        anchor = _epoch(detail.get("StartDate")) or modified
        end = _epoch(detail.get("EndDate"))
        return _Tracked(modified, period, anchor, _next_tick(anchor, period, now), payload, end)

    def tick(self) -> list[str]:
        """One scan: fire what is due; the names fired."""
        now = self.clock()
        fired: list[str] = []
        seen: set[str] = set()
        for summary in self._list():
            name = summary["Name"]
            seen.add(name)
            if summary.get("State", "ENABLED") != "ENABLED":
                self._tracked.pop(name, None)
                continue
            modified = _epoch(summary.get("LastModificationDate")) or 0.0
            tracked = self._tracked.get(name)
            if name not in self._tracked or (tracked is not None and tracked.modified != modified):
                tracked = self._track(name, modified, now)
                self._tracked[name] = tracked
            if tracked is None or now < tracked.next_due:
                continue
            if tracked.end is not None and now > tracked.end:
                continue
            # Missed ticks (a busy machine) collapse into one, as a late scheduler would.
            tracked.next_due = _next_tick(tracked.anchor, tracked.period, now)
            self.fire(name, dict(tracked.payload))
            self.fired += 1
            fired.append(name)
        for gone in set(self._tracked) - seen:
            del self._tracked[gone]
        return fired

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler scan failed; retrying")
            self._stop.wait(self.scan_interval)

    def start(self) -> SchedulerLoop:
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)


class _PollNowHandler(QuietJsonHandler):
    server: _PollNowHttp

    def do_GET(self) -> None:
        if self.path == "/health":
            self.send_json(200, self.server.health())
        else:
            self.send_json(404, {"message": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        control = self.server.controls.get(self.path)
        if control is not None:
            try:
                body = json.loads(raw or b"{}")
                self.send_json(200, control(body if isinstance(body, dict) else {}))
            except (ValueError, TypeError) as exc:
                self.send_json(400, {"message": str(exc)})
            return
        if self.path != "/poll-now":
            self.send_json(404, {"message": "not found"})
            return
        try:
            event = json.loads(raw or b"null")
        except ValueError:
            event = None
        instance_id = event.get("instanceId") if isinstance(event, dict) else None
        if not isinstance(instance_id, str) or not instance_id:
            problem = "is required: the instance id (a string)"
            errors = [{"field": "instanceId", "problem": problem}]
            self.send_json(400, {"message": f"instanceId {problem}", "errors": errors})
            return
        self.server.fire("poll-now", event)
        self.send_json(202, {"accepted": True})


class _PollNowHttp(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fire: Fire
    health: Callable[[], dict[str, Any]]
    controls: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]


class PollNowServer:
    """``POST /poll-now`` {"instanceId"} -> fire (202); ``GET /health`` -> health(); other
    ``POST`` paths -> ``controls[path](json body)`` (the runtime's local-only switches)."""

    def __init__(
        self,
        fire: Fire,
        port: int,
        host: str = "127.0.0.1",
        health: Callable[[], dict[str, Any]] | None = None,
        controls: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
    ) -> None:
        self._server = _PollNowHttp((host, port), _PollNowHandler)
        self._server.fire = fire
        self._server.controls = controls or {}
        self._server.health = health or (lambda: {"ok": True})
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self.port}/poll-now"

    def start(self) -> PollNowServer:
        threading.Thread(target=self._server.serve_forever, name="poll-now", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
