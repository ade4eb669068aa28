"""One poll of one instance: one read, store pages, dedup, classify, (work lease), queue, checkpoint.

Exactly one event per (object, updated time), even across crashes:
- events reach SQS *before* the cursor that covers them is written (a crash in between
  re-sends the same deterministic eventIds, which delivery deduplicates);
- the cursor is written with a conditional update on the version read, so a poll that
  lost its lease can never move a cursor another poll owns;
- endpoints that page by id (the catalog's ``keyset``: v2 orders ``min_id``, v3 catalog
  ``id:greater``, v3 customers and price lists cursor pagination) are read in id order
  from the lower bound: a record updated while pages are read keeps its place, a new one
  comes last, and a checkpoint holds the token that continues the read, so however many
  records share one second nothing is read twice and a stopped read resumes exactly;
- endpoints without id paging are read ascending by updated time, each next page a fresh
  query from the newest second read, not the next offset: a record updated while pages
  are read moves *ahead* of the reader instead of shifting an unread record behind it.
  Offset paging is only used inside a run of more than one page of records sharing one
  second (the filter cannot split a second, see ``_Tie``; no catalog endpoint needs it
  today, since every sorted one pages by id), and for stores that cannot sort
  (subscribers, and the legacy v2 twins of v3 resources: read whole, sorted here);
- the next poll starts ``pollDelay`` before the point the last read went through and
  drops the (id, time) pairs it already emitted, so late-committed records are still
  caught without duplicates;
- an object is announced ``CREATED`` when it was created at or after the point the
  subscriber was last told about its resource and was not announced before, ``UPDATED``
  otherwise.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aws_lambda_powertools import Logger

from bcpoller import keys
from bcpoller.config.errors import ConfigError
from bcpoller.connector.errors import AuthenticationError, CredentialsError, DeadlineExceeded, StoreError
from bcpoller.instances import StoredInstance
from bcpoller.messages import (
    EventType,
    QueueMessage,
    build_callback_body,
    dump_body,
    event_id,
    iso_utc,
)
from bcpoller.poll.cursor import CursorState, EmittedKey, floor_second
from bcpoller.poll.plan import Planning, ResourcePlan, plan_resources
from bcpoller.poll.ports import CursorConflict, PageLike, PollDeps, PollView, QueueSendError, StoreSession
from bcpoller.poll.sweep import SweepState, SweepStore, gone_between, parts_of, whole_id

logger = Logger(child=True)

PollStatus = Literal[
    "ok", "partial", "skipped", "auth_failed", "invalid_configuration", "error", "lease_lost"
]
ResourceStatus = Literal["ok", "partial", "error", "not_polled"]

# The lease outlives the Lambda's own timeout by this much, so it never expires under a
# poll that is still running.
LEASE_MARGIN_S = 5.0
# Requests stop this long before the Lambda's end, leaving time to release the lease.
DEADLINE_MARGIN_S = 3.0
DELETED_TOKEN = "-"  # noqa: S105 - a snapshot marker, not a secret


@dataclass
class ResourceResult:
    status: ResourceStatus = "ok"
    records_read: int = 0
    events_emitted: int = 0
    requests: int = 0
    checkpoints: int = 0
    deferred: int = 0
    unreadable: int = 0
    cursor: str | None = None
    error: str | None = None
    # Why the poll's first unreadable record could not become an event (a field of status).
    unreadable_reason: str | None = None

    def skip_unreadable(self, reason: str) -> None:
        self.unreadable += 1
        if self.unreadable_reason is None:
            self.unreadable_reason = reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "recordsRead": self.records_read,
            "eventsEmitted": self.events_emitted,
            "requests": self.requests,
            "checkpoints": self.checkpoints,
            "deferred": self.deferred,
            "unreadable": self.unreadable,
            "unreadableReason": self.unreadable_reason,
            "cursor": self.cursor,
            "lastError": self.error,
        }


@dataclass
class PollResult:
    instance_id: str
    status: PollStatus
    reason: str | None = None
    resources: dict[str, ResourceResult] = field(default_factory=dict)

    @property
    def events_emitted(self) -> int:
        return sum(r.events_emitted for r in self.resources.values())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "instanceId": self.instance_id,
            "status": self.status,
            "resources": {name: r.to_dict() for name, r in self.resources.items()},
        }
        if self.reason:
            out["reason"] = self.reason
        return out


MAX_TIE_PASSES = 4
_NO_LIMIT = datetime.max.replace(tzinfo=UTC)


class _Tie:
    """Offset pages inside one second, read in passes until two passes agree.

    Offset paging can skip a record when one read before it is updated (it leaves the
    second, and everything after it shifts back a place). The record that left was seen
    by that pass and is gone from the next, so two consecutive passes that saw the same
    (id, time) pairs prove no record was skipped in between."""

    def __init__(self, second: datetime, seen: set[EmittedKey]) -> None:
        self.second = second
        self.seen = seen
        self.previous: set[EmittedKey] | None = None
        self.passes = 1

    def confirmed(self) -> bool:
        return self.previous is not None and self.previous == self.seen

    def next_pass(self) -> None:
        self.previous, self.seen = self.seen, set()
        self.passes += 1


class _Stop(Exception):
    """Ends the whole poll early (lease lost, credentials refused, out of time)."""

    def __init__(self, status: PollStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def poll_instance(
    instance_id: str,
    deps: PollDeps,
    *,
    remaining_ms: Callable[[], int],
    now: Callable[[], datetime],
) -> PollResult:
    """Poll one instance's store once and queue one event per change since its cursors.

    A quiet poll reads the table once (instance, cursors, last poll: one Query) and
    writes nothing unless its outcome differs from the stored one or the stored report
    is older than the heartbeat. The work lease is taken only before the first send or
    checkpoint."""
    started = now()
    clock_start = deps.monotonic()
    view = deps.state.load(instance_id)
    reason = _skip_reason(view)
    if reason is not None or view.instance is None:
        logger.info("poll skipped", extra={"reason": reason})
        return PollResult(instance_id=instance_id, status="skipped", reason=reason)

    instance = view.instance
    run = _Run(instance, deps, view=view, remaining_ms=remaining_ms, now=now, started=started)
    auth_error: str | None = None
    try:
        result = run.execute()
    except AuthenticationError as exc:
        auth_error = str(exc)
        # One refusal can be the store's passing fault (a token service blip): polling stops
        # only when the next poll is refused too, so one 401 never stops an instance for good.
        confirmed = (view.last.report or {}).get("status") == "auth_failed"
        if not confirmed:
            auth_error = None
        logger.warning(
            "store refused the credentials: polling stops until they change"
            if confirmed
            else "store refused the credentials once: the next poll tries again",
            extra={"error": str(exc)},
        )
        result = run.result("auth_failed", str(exc))
    except (ConfigError, CredentialsError) as exc:
        logger.error("instance configuration cannot be polled", extra={"error": str(exc)})
        result = run.result("invalid_configuration", str(exc))
    except Exception as exc:  # a poll must always release its lease and report
        logger.exception("poll failed")
        result = run.result("error", f"{type(exc).__name__}: {exc}")

    report = {
        "start": iso_utc(started),
        "end": iso_utc(now()),
        "status": result.status,
        "reason": _short(result.reason),
        "resources": {name: _short_errors(r.to_dict()) for name, r in result.resources.items()},
    }
    try:
        if auth_error is not None:
            deps.state.mark_auth_failed(instance_id, error=auth_error, version=instance.version)
        if run.owner is not None:
            deps.state.release(instance_id, owner=run.owner, report=report)
        elif result.status != "skipped" and _report_due(view.last.report, report, started, deps.heartbeat_s):
            deps.state.record(
                instance_id, report=report, work_seq=view.last.work_seq, now=started.timestamp()
            )
    except Exception:
        # The cursors are already safe; an unreleased lease only expires.
        logger.exception("poll report failed; a lease left behind expires on its own")
    if deps.hook_keeper is not None and view.last.wake is not None and result.status != "skipped":
        try:
            deps.hook_keeper(instance, view.last.wake)
        except Exception:
            # Polling goes on without hooks; the next check tries again.
            logger.exception("wake-up hook check failed")
    busy = run.owner is not None or result.status != "ok"
    # The store's 429s, on any poll that drew one (a quiet poll too: the dashboard's
    # "store 429s"); a poll without one adds nothing, so the quiet path stays metric-free.
    throttled = int(getattr(run.session, "throttled", 0) or 0)
    if throttled:
        deps.metrics.add_metric("StoreThrottled", "Count", throttled)
    if busy:
        _record_metrics(deps, result, run.lags, (deps.monotonic() - clock_start) * 1000.0)
        logger.info("poll finished", extra={"summary": _log_summary(result)})
    else:
        # The quiet path is the product's unit cost (43,200 polls a month at a 1-minute
        # refresh): one short line, and no metrics (Lambda's own Invocations and Duration
        # count quiet polls for free).
        logger.info("poll quiet", extra={"requests": sum(r.requests for r in result.resources.values())})
    return result


def _log_summary(result: PollResult) -> dict[str, Any]:
    """The summary without its zeros and nulls (logs are billed by the byte)."""
    out = result.to_dict()
    out.pop("instanceId")  # already a key of every line
    out["resources"] = {
        name: {k: v for k, v in figures.items() if v not in (0, None)}
        for name, figures in out["resources"].items()
    }
    return out


def _skip_reason(view: PollView) -> str | None:
    inst = view.instance
    if inst is None:
        return "instance not found (deleted)"
    if not inst.events_enabled:
        return "events are disabled for this instance"
    if inst.auth_state == "failed":
        return "the store refused the credentials; polling resumes when they change"
    return None


# Status shows at most this much of an error text; the whole text is in the poll's log.
MAX_REPORTED_ERROR = 300


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_REPORTED_ERROR:
        return text
    return text[: MAX_REPORTED_ERROR - 1] + "…"


def _short_errors(figures: dict[str, Any]) -> dict[str, Any]:
    return {**figures, "lastError": _short(figures.get("lastError"))}


def _outcome(report: dict[str, Any] | None) -> Any:
    """What status must not lose: the poll's status and, per resource, its status, error
    and cursor. Counts of a quiet re-read (records in the overlap window) are not in it."""
    if not report:
        return None
    resources = report.get("resources") or {}
    return (
        report.get("status"),
        report.get("reason"),
        sorted(
            (
                name,
                r.get("status"),
                r.get("lastError"),
                r.get("cursor"),
                r.get("unreadable") or 0,
                r.get("unreadableReason"),
            )
            for name, r in resources.items()
            if isinstance(r, dict)
        ),
    )


def _unreadable_reason(plan: ResourcePlan, *, no_id: bool, no_date: bool) -> str:
    missing = []
    if no_id:
        missing.append(f"no id in {plan.id_field!r}")
    if no_date:
        missing.append(f"no readable updated date in {plan.updated_field or 'the updated field'!r}")
    return "a record has " + " and ".join(missing)


def _report_due(
    stored: dict[str, Any] | None, report: dict[str, Any], now: datetime, heartbeat_s: float
) -> bool:
    if _outcome(stored) != _outcome(report):
        return True
    try:
        written = datetime.fromisoformat(str((stored or {}).get("end")).replace("Z", "+00:00"))
    except ValueError:
        return True
    return (now - written).total_seconds() >= heartbeat_s


def _record_metrics(deps: PollDeps, result: PollResult, lags: list[float], duration_ms: float) -> None:
    resources = result.resources.values()
    deps.metrics.add_metric("EventsEmitted", "Count", sum(r.events_emitted for r in resources))
    deps.metrics.add_metric("RecordsRead", "Count", sum(r.records_read for r in resources))
    deps.metrics.add_metric("StoreRequests", "Count", sum(r.requests for r in resources))
    deps.metrics.add_metric("PollDuration", "Milliseconds", duration_ms)
    if lags:
        deps.metrics.add_metric("LagSeconds", "Seconds", max(lags))


class _Run:
    def __init__(
        self,
        instance: StoredInstance,
        deps: PollDeps,
        *,
        view: PollView,
        remaining_ms: Callable[[], int],
        now: Callable[[], datetime],
        started: datetime,
    ) -> None:
        self.instance = instance
        self.deps = deps
        self.view = view
        self.remaining_ms = remaining_ms
        self.now = now
        self.started = started
        self.resources: dict[str, ResourceResult] = {}
        self.lags: list[float] = []
        self.session: StoreSession | None = None
        self.start: datetime = instance.store_created_at
        self.owner: str | None = None  # set once this poll holds the work lease
        self._upper: datetime | None = None
        self._requests_before = 0
        self._current = CursorState(resource="")
        self.lease_until: float | None = None
        self._told_from = started
        # The earliest creation time among objects seen only past the store clock.
        self._deferred_created: datetime | None = None
        # Each polled resource's cursor as its last checkpoint left it (the sweep's base).
        self._finals: dict[str, CursorState] = {}
        # The oldest updated time among the records this resource's read returned.
        self._oldest_read: datetime | None = None

    def result(self, status: PollStatus, reason: str | None = None) -> PollResult:
        return PollResult(self.instance.instance_id, status, reason, self.resources)

    def time_short(self) -> bool:
        return self.remaining_ms() < self.deps.reserve_ms

    @property
    def upper(self) -> datetime:
        """The store's clock, which bounds the read: a record stamped later than this (a
        write during the poll, or a bad date) waits for the next poll instead of pushing
        the cursor past records not yet visible. Taken once, when first needed (after the
        first page), from that response's ``Date``: no ``/v2/time`` request."""
        if self._upper is None:
            assert self.session is not None
            self._upper = self.session.store_time()
        return self._upper

    def _begin_work(self) -> None:
        """Take the work lease before the first send, blob or checkpoint of this poll.

        Exactly-once rests on the version-checked checkpoints, deterministic eventIds and
        idempotent delivery; the lease only keeps two overlapping polls from doing the
        same work twice. It is conditioned on the last poll's work counter as this poll
        read it, so a poll whose cursors are already stale (another poll worked since
        they were read) stops here without sending anything."""
        if self.owner is not None:
            return
        owner = self.deps.new_owner()
        at = self.now().timestamp()
        lease_until = at + self.remaining_ms() / 1000.0 + LEASE_MARGIN_S
        refused = self.deps.state.take_lease(
            self.instance.instance_id,
            owner=owner,
            lease_until=lease_until,
            now=at,
            work_seq=self.view.last.work_seq,
        )
        if refused is not None:
            raise _Stop("skipped", refused)
        self.owner = owner
        self.lease_until = lease_until

    def execute(self) -> PollResult:
        inst = self.instance
        secrets = self.deps.crypto.decrypt(inst.secrets, inst.instance_id)
        configuration = inst.full_configuration(secrets)
        planning: Planning = (self.deps.planner or plan_resources)(configuration)
        self.start = planning.backfill_since or inst.store_created_at
        deadline = self.deps.monotonic() + self.remaining_ms() / 1000.0 - DEADLINE_MARGIN_S
        with self.deps.connector.open(configuration, deadline=deadline) as session:
            self.session = session
            try:
                cursors = self.view.cursors
                status: PollStatus = "ok"
                for plan in planning.resources:
                    if self.time_short():
                        self.resources.setdefault(plan.name, ResourceResult(status="not_polled"))
                        status = "partial"
                        continue
                    state = cursors.get(plan.name) or CursorState(resource=plan.name, origin=self.start)
                    if self._poll_resource(plan, state).status != "ok":
                        status = "partial"
                # Deletion sweeps come after every normal read, so they never delay one;
                # what a sweep cannot list in this poll's budget waits for the next poll.
                for plan in planning.resources:
                    if plan.sweep_every_minutes is not None and not self.time_short():
                        self._sweep_resource(plan)
            except DeadlineExceeded as exc:
                return self.result("partial", f"out of time: {exc}")
            except _Stop as stop:
                return self.result(stop.status, stop.reason)
        return self.result(status)

    # -- one resource ----------------------------------------------------------------------

    def _poll_resource(self, plan: ResourcePlan, state: CursorState) -> ResourceResult:
        assert self.session is not None
        result = self.resources.setdefault(plan.name, ResourceResult())
        before = self._requests_before = self.session.requests_made
        self._current = state
        # Fixed for the whole poll: checkpoints move the cursor, not what was told before.
        self._told_from = floor_second(state.told_from or self.start)
        self._deferred_created = None
        self._oldest_read = None
        try:
            if plan.snapshot:
                self._poll_snapshot(plan, state, result)
            elif plan.keyset:
                self._poll_keyset(plan, state, result)
            else:
                self._poll_dated(plan, state, result)
        except AuthenticationError:
            result.status = "error"
            result.error = "the store refused the credentials"
            raise
        except DeadlineExceeded as exc:
            result.status = "partial"
            result.error = f"out of time: {exc}"
            raise
        except CursorConflict as exc:
            result.status = "error"
            result.error = str(exc)
            raise _Stop("lease_lost", str(exc)) from None
        except (StoreError, QueueSendError) as exc:
            # The cursor stays where its last checkpoint put it; the next tick retries.
            result.status = "error"
            result.error = str(exc)
            logger.warning("resource poll failed", extra={"resource": plan.name, "error": str(exc)})
        finally:
            # What the last checkpoint wrote, even when the resource stopped on an error.
            final = self._current
            self._finals[plan.name] = final
            result.requests += self.session.requests_made - before
            result.cursor = iso_utc(final.cursor) if final.cursor else None
        if final.cursor is not None and self._upper is not None:
            self.lags.append(max((self.upper - final.cursor).total_seconds(), 0.0))
        return result

    def _poll_dated(self, plan: ResourcePlan, state: CursorState, result: ResourceResult) -> CursorState:
        assert self.session is not None
        keyset = plan.sorted_by_store
        query_bound = state.lower_bound(plan.overlap_s, self.start)
        pages = self._pages(plan, query_bound)
        tie: _Tie | None = None
        complete = False
        try:
            while True:
                page = next(pages, None)
                if page is None:
                    # The read stopped before the store's last page (the connector's page
                    # cap): partial, the cursor stays where the emitted records put it.
                    result.status = "partial"
                    break
                is_last = page.is_last
                records = page.records
                result.records_read += len(records)
                fresh, read, deferred = self._select(plan, state, records, result)
                newest = max((u for _, u in read), default=None)
                if tie is not None:
                    # Inside a tie pass only the tie's second is emitted; later records are
                    # read again once the tie is confirmed whole.
                    tie.seen |= {p for p in read if floor_second(p[1]) == tie.second}
                    fresh = [f for f in fresh if floor_second(f[1]) == tie.second]
                if fresh:
                    state = self._emit(plan, state, fresh, result)
                result.deferred += deferred
                beyond = newest is not None and floor_second(newest) > query_bound
                if tie is not None and (is_last or deferred or beyond):
                    if tie.confirmed():
                        tie = None
                        if not beyond:
                            complete = True
                            break
                        query_bound += timedelta(seconds=1)  # the whole second is emitted
                    elif tie.passes >= MAX_TIE_PASSES or self.time_short():
                        # The cursor stays at the tie; the next poll reads it again.
                        result.status = "partial"
                        break
                    else:
                        tie.next_pass()
                    # The next query reads the records past the store clock again: they are
                    # counted there, once (the summary's ``deferred`` counts records).
                    result.deferred -= deferred
                    _close(pages)
                    pages = self._pages(plan, query_bound)
                    continue
                if deferred or is_last:
                    complete = True
                    if not is_last:
                        # Everything left is stamped past the store clock: its objects are
                        # only looked at, so that one never announced still arrives CREATED.
                        for rest in pages:
                            result.records_read += len(rest.records)
                            result.deferred += self._select(plan, state, rest.records, result)[2]
                    break
                if self.time_short():
                    result.status = "partial"
                    break
                if keyset and tie is None and newest is not None:
                    if beyond:
                        _close(pages)
                        query_bound = floor_second(newest)
                        pages = self._pages(plan, query_bound)
                    elif floor_second(newest) == query_bound:
                        # A full page inside one second: the filter cannot split it, so it
                        # is read by offset, in passes until two agree (see _Tie).
                        tie = _Tie(query_bound, {p for p in read if floor_second(p[1]) == query_bound})
        finally:
            _close(pages)
        if complete:
            # Read through the store clock: the next poll starts pollDelay before it.
            done = state.read_through(self.upper, plan.overlap_s, told=self._deferred_created)
            if self._worth_writing(plan, state, done, result):
                state = self._checkpoint(done, state, result)
        return state

    def _poll_keyset(self, plan: ResourcePlan, state: CursorState, result: ResourceResult) -> CursorState:
        """One id-ordered read from the lower bound (or the rest of an interrupted one).

        Every page's events are queued, then one checkpoint records them with the token
        that continues after the page; the last page's checkpoint also records the store
        time the read went through. A quiet poll writes nothing unless it re-read records
        the next poll would otherwise read again."""
        assert self.session is not None
        lower = state.lower_bound(plan.overlap_s, self.start, by_id=True)
        resuming = state.read_from is not None
        # A resumed read keeps the clock it started with (see CursorState.read_until); a new
        # one takes the store's clock from its first page's Date header (no /v2/time).
        upper = state.read_until if resuming and state.read_until is not None else None
        after, last_id = (state.after, state.last_id) if resuming else (None, None)
        pages = self._keyset_pages(plan, lower, after)
        advanced = state
        try:
            for page in pages:
                records = page.records
                result.records_read += len(records)
                # Nothing is held back for being stamped past the store clock: this read's
                # next bound follows the clock, not the records, so emitting a record
                # written during the read cannot move the bound past an unread one.
                fresh, _, _ = self._select(plan, state, records, result, floor=lower, upper=_NO_LIMIT)
                after = page.resume if page.resume is not None else after
                last_id = next(
                    (i for i in (plan.read_id(r) for r in reversed(records)) if i is not None), last_id
                )
                emitted = [(oid, updated) for oid, updated, _ in fresh]
                if upper is None:
                    upper = self.upper
                advanced = state.advance_keyset(
                    emitted,
                    read_from=lower,
                    upper=upper,
                    after=after,
                    last_id=last_id,
                    overlap_s=plan.overlap_s,
                )
                if page.is_last:
                    advanced = advanced.read_through(upper, plan.overlap_s)
                    if fresh or self._worth_writing(plan, state, advanced, result):
                        state = self._emit(plan, state, fresh, result, advanced)
                    return state
                if fresh:
                    state = self._emit(plan, state, fresh, result, advanced)
                if self.time_short():
                    break
        finally:
            _close(pages)
        # Stopped before the last page (out of time, or the connector's page cap).
        result.status = "partial"
        if advanced.after != state.after:
            # Only re-reads since the last checkpoint: save where to resume anyway.
            state = self._checkpoint(advanced, state, result)
        return state

    def _worth_writing(
        self, plan: ResourcePlan, old: CursorState, new: CursorState, result: ResourceResult
    ) -> bool:
        """Whether a read that emitted nothing on its last page still needs a checkpoint:
        it ends an interrupted read, or it re-read records that the next poll would read
        again unless the item moves its lower bound past them."""
        if old.read_from is not None:
            return True
        if result.records_read == 0:
            return False  # the quiet path: no write at all
        if result.events_emitted and new.told != old.told:
            return True  # what this poll announced moves the told point (keeps recent small)
        by_id = plan.keyset
        moved_to = new.lower_bound(plan.overlap_s, self.start, by_id=by_id)
        if moved_to <= old.lower_bound(plan.overlap_s, self.start, by_id=by_id):
            return False
        # Only worth it if the move leaves something behind: a record stamped at or past the
        # new start (a date in the future) is read again whatever the item says. A record
        # whose date could not be read may be anywhere: then it is written.
        return result.unreadable > 0 or self._oldest_read is None or self._oldest_read < moved_to

    def _keyset_pages(
        self, plan: ResourcePlan, lower: datetime | None, after: str | None
    ) -> Iterator[PageLike]:
        assert self.session is not None
        return iter(
            self.session.iter_keyset_pages(plan.build_request(lower), page_size=plan.page_size, after=after)
        )

    def _pages(self, plan: ResourcePlan, lower: datetime | None) -> Iterator[PageLike]:
        assert self.session is not None
        return iter(self.session.iter_pages(plan.build_request(lower), page_size=plan.page_size))

    def _select(
        self,
        plan: ResourcePlan,
        state: CursorState,
        records: list[dict[str, Any]],
        result: ResourceResult,
        *,
        floor: datetime | None = None,
        upper: datetime | None = None,
    ) -> tuple[list[tuple[str, datetime, dict[str, Any]]], set[EmittedKey], int]:
        """(records to emit, every (id, time) read up to ``upper``, how many are past it).

        ``upper`` defaults to the store clock (id-ordered reads pass no limit)."""
        floor = floor or state.lower_bound(plan.overlap_s, self.start)
        upper = upper or self.upper
        fresh: list[tuple[str, datetime, dict[str, Any]]] = []
        seen: set[EmittedKey] = set()
        read: set[EmittedKey] = set()
        deferred = 0
        for record in records:
            oid, updated = plan.read_id(record), plan.read_updated(record)
            if oid is None or updated is None:
                result.skip_unreadable(_unreadable_reason(plan, no_id=oid is None, no_date=updated is None))
                result.error = f"{plan.name}: a record without a readable id or updated date was skipped"
                continue
            if self._oldest_read is None or updated < self._oldest_read:
                self._oldest_read = updated
            if updated > upper:
                deferred += 1
                created = plan.read_created(record)
                if created is not None and (
                    self._deferred_created is None or created < self._deferred_created
                ):
                    self._deferred_created = created
                continue
            read.add((oid, updated))
            if updated < floor or state.already_emitted(oid, updated) or (oid, updated) in seen:
                continue
            seen.add((oid, updated))
            fresh.append((oid, updated, record))
        if result.unreadable:
            logger.warning(
                "records skipped: their id or updated date could not be read with the configured fields",
                extra={"resource": plan.name, "count": result.unreadable},
            )
        return fresh, read, deferred

    def _classify(
        self,
        plan: ResourcePlan,
        state: CursorState,
        first_seen: dict[str, datetime],
        oid: str,
        updated: datetime,
        record: dict[str, Any],
    ) -> EventType:
        created = plan.read_created(record)
        if created is None:
            return "UPDATED"
        if oid in first_seen and first_seen[oid] < updated:
            return "UPDATED"  # this object was already announced inside the window
        # Everything that existed before this point was announced by then (or predates the
        # origin); an object created at or after it and not announced since is new to the
        # subscriber, even in the very second the last read stood on.
        reference = self._told_from
        tolerance = timedelta(seconds=plan.created_tolerance_s)
        if created >= reference or abs(updated - created) <= tolerance:
            return "CREATED"
        return "UPDATED"

    def _emit(
        self,
        plan: ResourcePlan,
        state: CursorState,
        fresh: list[tuple[str, datetime, dict[str, Any]]],
        result: ResourceResult,
        advanced: CursorState | None = None,
    ) -> CursorState:
        """Queue ``fresh`` (classified against ``state``), then checkpoint ``advanced``
        (default: ``state`` advanced past them in updated-time order)."""
        first_seen: dict[str, datetime] = {}
        for oid, at in state.recent:
            if oid not in first_seen or at < first_seen[oid]:
                first_seen[oid] = at
        kinds: list[EventType] = [
            # An archived order (deletions on) is a deletion the store still lists.
            "DELETED"
            if plan.read_deleted is not None and plan.read_deleted(record)
            else self._classify(plan, state, first_seen, oid, updated, record)
            for oid, updated, record in fresh
        ]
        bodies = [
            self._message(plan.name, oid, updated, kind, record)
            for (oid, updated, record), kind in zip(fresh, kinds, strict=True)
        ]
        if bodies and self.lease_until is not None and self.now().timestamp() >= self.lease_until:
            # Past its lease another poll may own this cursor and have announced these
            # objects already: events classified from this poll's older view must not go out.
            raise CursorConflict(f"cursor {plan.name}: the lease expired before its events were queued")
        if bodies:
            self.deps.queue.send(bodies)
        result.events_emitted += len(bodies)
        if advanced is None:
            advanced = state.advance(((oid, updated) for oid, updated, _ in fresh), plan.overlap_s)
        if plan.sweep_every_minutes is not None:
            new, gone = _whole_ids(fresh, kinds, "CREATED"), _whole_ids(fresh, kinds, "DELETED")
            # Announced live again (an archived order restored): its next deletion is news.
            back = (new | _whole_ids(fresh, kinds, "UPDATED")) - gone
            sweep_new = advanced.sweep_new | new
            sweep_gone = (advanced.sweep_gone - back) | gone
            if sweep_new != advanced.sweep_new or sweep_gone != advanced.sweep_gone:
                advanced = replace(advanced, sweep_new=sweep_new, sweep_gone=sweep_gone)
        return self._checkpoint(advanced, state, result)

    def _checkpoint(self, new: CursorState, old: CursorState, result: ResourceResult) -> CursorState:
        self._begin_work()
        stats = {
            "lastPollStart": iso_utc(self.started),
            "lastPollEnd": iso_utc(self.now()),
            "recordsRead": result.records_read,
            "eventsEmitted": result.events_emitted,
            "requests": (self.session.requests_made - self._requests_before if self.session else 0),
            "lastError": result.error,
        }
        written = self.deps.state.checkpoint(
            self.instance.instance_id, new, expected_version=old.version, stats=stats
        )
        result.checkpoints += 1
        self._current = written
        return written

    def _message(
        self, object_type: str, oid: str, changed_at: datetime, kind: EventType, record: dict[str, Any]
    ) -> str:
        self._begin_work()
        inst = self.instance
        body = dump_body(
            build_callback_body(
                instance_id=inst.instance_id,
                instance_name=inst.name,
                event_type=kind,
                object_type=object_type,
                object_id=oid,
                changed_at=changed_at,
                record=record,
            )
        )
        eid = event_id(inst.instance_id, object_type, oid, changed_at)
        common: dict[str, Any] = {
            "instanceId": inst.instance_id,
            "eventId": eid,
            "eventType": kind,
            "objectType": object_type,
            "objectId": oid,
            "changedAt": changed_at,
            "emittedAt": self.now(),
        }
        text = QueueMessage.model_validate({**common, "body": body}).to_json()
        if len(text.encode()) <= self.deps.max_message_bytes:
            return text
        # Too big for SQS: the body waits in the table (compressed) for delivery to fetch.
        ttl = int(self.now().timestamp()) + self.deps.blob_ttl_days * 86_400
        self.deps.state.put_blob(inst.instance_id, eid, zlib.compress(body.encode(), 6), ttl=ttl)
        return QueueMessage.model_validate({**common, "bodyRef": keys.blob_sk(eid)}).to_json()

    # -- resources without a date filter ------------------------------------------------------

    def _poll_snapshot(self, plan: ResourcePlan, state: CursorState, result: ResourceResult) -> CursorState:
        """Read the whole resource and diff it with the last snapshot.

        A change without a date of its own (categories and brands carry none) is stamped
        with the store time of the poll that first saw it; that stamp is saved *before*
        its event is queued, so a crash re-sends the same eventId instead of a new one."""
        assert self.session is not None
        records: dict[str, dict[str, Any]] = {}
        # Id paging, where offered, keeps a whole read stable while records are deleted.
        pages = self._keyset_pages(plan, None, None) if plan.keyset else self._pages(plan, None)
        for page in pages:
            result.records_read += len(page.records)
            for record in page.records:
                oid = plan.read_id(record)
                if oid is None:
                    result.skip_unreadable(_unreadable_reason(plan, no_id=True, no_date=False))
                    result.error = f"{plan.name}: a record without a readable id was skipped"
                    continue
                records[oid] = record
        tokens = {oid: _token(plan, record) for oid, record in records.items()}
        if state.snapshot is None:
            logger.info(
                "first read of a resource without a date filter: snapshot saved",
                extra={"resource": plan.name},
            )
            return self._checkpoint(replace(state, snapshot=tokens, pending={}), state, result)

        old = state.snapshot
        changes: list[tuple[str, EventType, str]] = [
            (oid, "CREATED" if oid not in old else "UPDATED", tok)
            for oid, tok in tokens.items()
            if old.get(oid) != tok
        ]
        changes += [(oid, "DELETED", DELETED_TOKEN) for oid in old if oid not in tokens]
        if not changes:
            return state

        stamp = floor_second(self.upper)
        times: dict[str, datetime] = {}
        pending: dict[str, tuple[str, datetime]] = {}
        for oid, _, tok in changes:
            natural = plan.read_updated(records[oid]) if oid in records else None
            if natural is not None:
                times[oid] = natural
                continue
            previous = state.pending.get(oid)
            times[oid] = previous[1] if previous and previous[0] == tok else stamp
            pending[oid] = (tok, times[oid])
        if pending and pending != state.pending:
            state = self._checkpoint(replace(state, pending=pending), state, result)

        bodies = [
            self._message(plan.name, oid, times[oid], kind, records.get(oid) or {"id": oid})
            for oid, kind, _ in changes
        ]
        self.deps.queue.send(bodies)
        result.events_emitted += len(bodies)
        return self._checkpoint(replace(state, snapshot=tokens, pending={}), state, result)

    # -- the deletion sweep (our extension: "deletions") ------------------------------------

    def _sweep_resource(self, plan: ResourcePlan) -> None:
        """Run (or continue) the resource's deletion sweep when it is due.

        Not due is decided from the cursor item already read (``sweepAt``): no table
        request. A due sweep reads its state item and the known ids, lists up to
        ``sweep_pages`` pages of ids, sends one DELETED per known id missing from the
        range those pages cover, then saves the listed ids and where to continue. A crash
        anywhere re-lists from the last saved point and re-sends the same eventIds."""
        result = self.resources.get(plan.name)
        sweeps = self.deps.sweeps
        if result is None or result.status != "ok" or sweeps is None or self.session is None:
            return  # a resource whose read failed is not swept (its listing would fail too)
        final = self._finals.get(plan.name) or CursorState(resource=plan.name, origin=self.start)
        clock = floor_second(self.upper)
        if final.sweep_at is not None and final.sweep_at > clock:
            return
        before = self._requests_before = self.session.requests_made
        self._current = final
        try:
            self._sweep(plan, final, result, clock, sweeps)
        except CursorConflict as exc:
            result.status = "error"
            result.error = str(exc)
            raise _Stop("lease_lost", str(exc)) from None
        except (StoreError, QueueSendError) as exc:
            # The sweep's saved point stays; the next poll continues from it.
            result.error = f"deletion sweep: {exc}"
            logger.warning("deletion sweep failed", extra={"resource": plan.name, "error": str(exc)})
        finally:
            result.requests += self.session.requests_made - before

    def _sweep(
        self,
        plan: ResourcePlan,
        final: CursorState,
        result: ResourceResult,
        clock: datetime,
        sweeps: SweepStore,
    ) -> None:
        assert self.session is not None and plan.build_sweep_request is not None
        inst_id = self.instance.instance_id
        state = sweeps.load_sweep(inst_id, plan.name)
        if not state.running and state.next_at is not None and final.sweep_at != state.next_at:
            self._finish_sweep(final, state, result)
            return
        if not state.running:
            # The stamp is saved before anything is sent: a resumed sweep's DELETED events
            # carry it again, so their eventIds are the ones already sent.
            self._begin_work()
            state = sweeps.save_sweep(
                inst_id,
                replace(state, started_at=clock, after=None, last_id=None, written=0),
                expected_version=state.version,
            )
        assert state.started_at is not None
        known = sweeps.load_known(inst_id, plan.name, state.generation) if state.has_baseline else []
        if state.has_baseline and final.sweep_new:
            # Created since the last sweep listed their range: they may be gone already.
            known = sorted(set(known) | final.sweep_new)
        listed: list[int] = []
        gone: list[tuple[int, datetime, dict[str, Any]]] = []
        low, after, complete, pages_read = state.last_id, state.after, False, 0
        pages = iter(self.session.iter_keyset_pages(plan.build_sweep_request(), page_size=250, after=after))
        try:
            for page in pages:
                pages_read += 1
                live: set[int] = set()
                archived: dict[int, dict[str, Any]] = {}
                for record in page.records:
                    number = whole_id(plan.read_id(record))
                    if number is None:
                        # A record read without its id would make its id look deleted: the
                        # sweep stops before diffing anything (nothing sent, nothing saved).
                        result.unreadable += 1
                        result.error = f"deletion sweep: a {plan.name} record without a whole-number id"
                        logger.warning("deletion sweep stopped", extra={"resource": plan.name})
                        return
                    if plan.read_deleted is not None and plan.read_deleted(record):
                        archived[number] = record
                    else:
                        live.add(number)
                high = max(live | set(archived), default=None)
                after = page.resume if page.resume is not None else after
                complete = page.is_last
                if high is None and not complete:
                    continue  # an empty page that is not the last covers no range
                top = None if complete else high
                listed.extend(live)
                for number in gone_between(known, low, top, live):
                    if number in final.sweep_gone:
                        # The poll read it archived and announced it: whether it is still
                        # listed archived or gone for good since, that was its deletion.
                        continue
                    found = archived.get(number)
                    if found is not None:
                        # Archived, so still listed: stamped with its own date, this is the
                        # eventId the poll's DELETED for it has (delivery keeps one).
                        gone.append((number, plan.read_updated(found) or state.started_at, found))
                    else:
                        gone.append((number, state.started_at, {"id": number}))
                low = top if top is not None else low
                if complete or pages_read >= self.deps.sweep_pages or self.time_short() or self._quota_low():
                    break
        finally:
            _close(pages)
        if gone:
            self._begin_work()
            bodies = [self._message(plan.name, str(n), at, "DELETED", record) for n, at, record in gone]
            self.deps.queue.send(bodies)
            result.events_emitted += len(bodies)
        self._begin_work()
        written = state.written
        for part in parts_of(listed):
            sweeps.put_known(inst_id, plan.name, state.generation + 1, written, part)
            written += 1
        if not complete:
            sweeps.save_sweep(
                inst_id,
                replace(state, after=after, last_id=low, written=written),
                expected_version=state.version,
            )
            logger.info(
                "deletion sweep continues next poll",
                extra={"resource": plan.name, "pages": pages_read, "deleted": len(gone)},
            )
            return
        every = timedelta(seconds=(plan.sweep_every_minutes or 0) * self.deps.seconds_per_minute)
        # Every id this sweep diffed or listed: the announced ids it covered are at most this.
        through = max([*listed, *known[-1:], state.last_id or 0])
        completed = sweeps.save_sweep(
            inst_id,
            SweepState(
                resource=plan.name,
                version=state.version,
                generation=state.generation + 1,
                parts=written,
                next_at=state.started_at + every,
                through=through,
            ),
            expected_version=state.version,
        )
        if state.parts:
            sweeps.drop_known(inst_id, plan.name, state.generation, state.parts)
        self._finish_sweep(final, completed, result)
        logger.info(
            "deletion sweep complete",
            extra={"resource": plan.name, "ids": len(listed), "deleted": len(gone), "pages": pages_read},
        )

    def _finish_sweep(self, final: CursorState, completed: SweepState, result: ResourceResult) -> None:
        """The cursor's part of a completed sweep: when the next one is due, and the ids
        announced meanwhile that it covered dropped (every id announced before its last
        page is either listed by now or was found gone; later ones have higher ids)."""
        through = completed.through if completed.through is not None else -1
        gone = frozenset(i for i in final.sweep_gone if i > through)
        covered = final.sweep_gone - gone
        if covered and self.deps.sweeps is not None:
            # One the poll announced after this sweep had listed it live is among the ids
            # the sweep saved: it stays until a later sweep has passed it, or that sweep,
            # finding it gone for good, would announce it again (another eventId). Read only
            # when an order was archived since the last sweep.
            known = self.deps.sweeps.load_known(
                self.instance.instance_id, final.resource, completed.generation
            )
            gone |= covered & set(known)
        done = replace(
            final,
            sweep_at=completed.next_at,
            sweep_new=frozenset(i for i in final.sweep_new if i > through),
            sweep_gone=gone,
        )
        self._checkpoint(done, final, result)

    def _quota_low(self) -> bool:
        """Whether the store's window is half spent: a sweep leaves the rest to the store's
        other apps and to the next polls (the governor itself only stops at the limit)."""
        governor = getattr(self.session, "governor", None)
        left, quota = getattr(governor, "left", None), getattr(governor, "quota", None)
        return isinstance(left, int) and isinstance(quota, int) and quota > 0 and 2 * left <= quota


def _whole_ids(
    fresh: list[tuple[str, datetime, dict[str, Any]]], kinds: list[EventType], kind: EventType
) -> set[int]:
    picked = (whole_id(oid) for (oid, _, _), k in zip(fresh, kinds, strict=True) if k == kind)
    return {i for i in picked if i is not None}


def _token(plan: ResourcePlan, record: dict[str, Any]) -> str:
    updated = plan.read_updated(record)
    if updated is not None:
        return iso_utc(updated)
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def _close(pages: Iterator[PageLike]) -> None:
    close = getattr(pages, "close", None)
    if close is not None:
        close()  # ends the connector's generator (and its paging) early
