"""The engine's promises on the paths the older tests reach least: a tie read by offset
that must not lose a record however the second churns, and resources without a date
filter (snapshots) whose stored tokens outlive a deployment."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from bcpoller.config.errors import ConfigError
from bcpoller.connector.errors import StoreError
from bcpoller.messages import QueueMessage, iso_utc
from bcpoller.poll.engine import MAX_TIE_PASSES
from bcpoller.poll.plan import ResourcePlan

from tests.unit.poll.fakes import (
    T0,
    FakeConnector,
    FakeSession,
    FakeStore,
    harness,
    orders_plan,
    snapshot_plan,
)


def _ids(h: Any) -> list[str]:
    return sorted((oid for oid, _, _ in h.queue.events()), key=int)


def _tie_harness(count: int = 30) -> Any:
    """``count`` records in one second (T0), read by offset (no id paging) 7 a page; the
    store's clock a minute later, so the next poll's overlap cannot re-read the tie."""
    h = harness([orders_plan(page_size=7, keyset=False)])
    for oid in range(1, count + 1):
        h.store.create(oid)
    h.store.tick(60)
    h.lambda_now = h.store.now
    return h


class _Passes:
    """Counts the tie's passes (each starts again at page 1) and churns given pages."""

    def __init__(
        self, h: Any, churn: dict[tuple[int, int], list[int]] | None = None, every: bool = False
    ) -> None:
        self.h, self.churn, self.every, self.count = h, churn or {}, every, 0

    def __call__(self, page: int) -> None:
        if page == 1:
            self.count += 1
        assert self.count <= 20, "the tie is read over and over"
        for oid in self.churn.get((self.count, page), []):
            self.h.store.delete(oid)
        if self.every and page == 2:
            self.h.store.delete(min(self.h.store.records))


def test_a_record_skipped_by_two_passes_in_a_row_is_still_read() -> None:
    """Offset pages inside one second skip a record when one before it leaves between
    pages. Here record 15 is skipped by the first pass (1 leaves before page 3) and again
    by the second (2..7 leave before it starts, 8 before its page 2): only a third pass
    sees it, and only a fourth that agrees with it proves the second read whole."""
    h = _tie_harness()
    # Changed before the instance existed: no pass reads them (each starts at the tie).
    _dated(h, (90, -20, -10), (91, -20, -9), (92, -20, -8))
    passes = _Passes(h, {(1, 3): [1], (2, 1): [2, 3, 4, 5, 6, 7], (2, 2): [8]})
    h.store.hook = passes
    result = h.poll()
    assert result.status == "ok"
    # 29 records in 5 pages, then 22 in 4 pages three times.
    assert (result.resources["orders"].records_read, result.resources["orders"].requests) == (95, 17)
    assert _ids(h) == [str(i) for i in range(1, 31)]  # 15 included, each once
    assert passes.count == 4 == MAX_TIE_PASSES
    # The confirmed tie is read through the store clock: the next poll reads nothing again.
    h.store.hook = None
    again = h.poll()
    assert (again.resources["orders"].records_read, again.events_emitted) == (0, 0)


def test_a_tie_that_never_agrees_stops_after_the_last_pass_and_the_next_poll_reads_it() -> None:
    h = _tie_harness()
    passes = _Passes(h, every=True)
    h.store.hook = passes
    result = h.poll()
    assert passes.count == MAX_TIE_PASSES
    assert result.status == "partial" and result.resources["orders"].status == "partial"
    # The cursor stayed at the tie: the next poll reads what is left of it.
    h.store.hook = None
    assert h.poll().status == "ok"
    assert set(_ids(h)) == {str(i) for i in range(1, 31)}


# -- resources without a date filter -----------------------------------------------------


def _records(h: Any, *rows: dict[str, Any]) -> None:
    for row in rows:
        h.store.records[int(row["id"])] = {"date_modified": T0, **row}


def test_snapshot_tokens_are_stable_known_answers_whatever_the_key_order() -> None:
    """The snapshot is stored: a token computed differently after a deployment would make
    every object look changed and send one UPDATED for each. The values are the first 24
    hex digits of SHA-256 over the record's sorted, compact JSON (fixed here, once)."""
    h = harness([snapshot_plan()])
    _records(h, {"id": 1, "name": "Shoes", "parent_id": 0}, {"id": 2, "name": "Hats", "parent_id": 1})
    h.poll()
    assert h.table.cursors["categories"].snapshot == {
        "1": "49684483803c8342fd7bd3d0",
        "2": "aff014c66abc6905c8a3b94a",
    }


def test_snapshot_key_order_is_not_a_change() -> None:
    h = harness([snapshot_plan()])
    _records(h, {"id": 1, "name": "Shoes", "parent_id": 0})
    h.poll()
    h.store.records[1] = {"parent_id": 0, "date_modified": T0, "name": "Shoes", "id": 1}
    h.poll()
    assert h.queue.events() == []


def test_a_dated_snapshot_token_is_the_records_own_time() -> None:
    plan = replace(snapshot_plan("brands"), read_updated=lambda r: r.get("date_modified"))
    h = harness([plan])
    h.store.create(1, name="A")
    h.poll()
    assert h.table.cursors["brands"].snapshot == {"1": iso_utc(T0)}


def test_snapshot_changes_carry_their_own_dates_when_they_have_one() -> None:
    plan = replace(snapshot_plan("brands"), read_updated=lambda r: r.get("date_modified"))
    h = harness([plan])
    for oid in (1, 2, 3):
        h.store.create(oid, name=f"n{oid}")
    h.poll()
    h.store.tick(7)
    h.store.update(1, name="n1b")
    h.store.tick(3)
    h.store.update(2, name="n2b")
    h.store.tick(50)
    h.lambda_now = h.store.now
    result = h.poll()
    assert sorted(h.queue.events()) == [
        ("1", iso_utc(T0 + timedelta(seconds=7)), "UPDATED"),
        ("2", iso_utc(T0 + timedelta(seconds=10)), "UPDATED"),
    ]
    assert result.resources["brands"].events_emitted == 2
    # Nothing waited on a poll stamp: no pending checkpoint before the send.
    assert h.table.cursors["brands"].pending == {}


def test_snapshot_events_carry_the_record_and_a_deletion_its_id() -> None:
    h = harness([snapshot_plan()])
    _records(h, {"id": 1, "name": "A"}, {"id": 2, "name": "B"})
    h.poll()
    _records(h, {"id": 1, "name": "A2"})
    h.store.delete(2)
    result = h.poll()
    raw = {
        m["eventType"]: json.loads(QueueMessage.model_validate(m).body or "")["message"]["raw"]["categories"][
            0
        ]
        for m in h.queue.messages
    }
    assert raw["UPDATED"]["name"] == "A2" and raw["UPDATED"]["id"] == 1
    assert raw["DELETED"] == {"id": "2"}
    assert result.resources["categories"].events_emitted == 2
    # A change after a change: the second diff starts from what the first one saved.
    _records(h, {"id": 1, "name": "A3"})
    h.store.tick(30)
    h.lambda_now = h.store.now
    h.poll()
    assert [kind for _, _, kind in h.queue.events()].count("UPDATED") == 2


def test_a_snapshot_read_over_pages_counts_every_record() -> None:
    h = harness([replace(snapshot_plan(), page_size=2)])
    _records(h, *({"id": i, "name": str(i)} for i in range(1, 8)))
    result = h.poll()
    assert result.resources["categories"].records_read == 7
    assert len(h.table.cursors["categories"].snapshot or {}) == 7


def test_an_id_paged_snapshot_is_not_fooled_by_a_deletion_while_it_reads() -> None:
    """Offset pages would skip record 3 when record 1 is deleted after page 1, and send
    a DELETED for an object that exists; id pages continue after the last id read."""
    plan = replace(snapshot_plan(), page_size=2, keyset=True)
    h = harness([plan])
    _records(h, *({"id": i, "name": str(i)} for i in range(1, 7)))
    h.poll()

    def delete_one(page: int) -> None:
        if page == 2 and 1 in h.store.records:
            h.store.delete(1)

    h.store.hook = delete_one
    h.poll()
    h.store.hook = None
    assert h.queue.events() == []  # 1 was read before it went; nothing else changed
    h.poll()
    assert [(oid, kind) for oid, _, kind in h.queue.events()] == [("1", "DELETED")]


class _NoIdPaging(FakeConnector):
    """An endpoint without id paging: asking for it is a store error."""

    def open(self, configuration: dict[str, Any], *, deadline: float) -> FakeSession:
        session = super().open(configuration, deadline=deadline)

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise StoreError("this endpoint has no id paging", status=400, path="/v2/categories")

        session.iter_keyset_pages = refuse  # type: ignore[method-assign]
        return session


def test_a_snapshot_without_id_paging_reads_by_offset() -> None:
    store = FakeStore()
    h = harness([snapshot_plan()], store=store)
    h.connector = _NoIdPaging(store)
    _records(h, {"id": 1, "name": "A"})
    assert h.poll().status == "ok"
    assert h.table.cursors["categories"].snapshot is not None


def _id_or_none(record: dict[str, Any]) -> str | None:
    return str(record["id"]) if record.get("id") is not None else None


def test_a_snapshot_record_without_an_id_is_skipped_with_its_reason_and_the_rest_read() -> None:
    plan: ResourcePlan = replace(snapshot_plan(), read_id=_id_or_none)
    h = harness([plan])
    _records(h, {"id": 1, "name": "A"}, {"id": 2, "name": "B"})
    h.poll()
    # The record without an id comes first on its page; the ones after it are still read
    # (else they would look deleted).
    h.store.records[0] = {"id": None, "name": "?", "date_modified": T0 - timedelta(seconds=1)}
    result = h.poll().resources["categories"]
    assert h.queue.events() == []
    assert (result.unreadable, result.unreadable_reason) == (1, "a record has no id in 'id'")
    assert result.error == "categories: a record without a readable id was skipped"


# -- reads in updated-time order (no id paging) -----------------------------------------


def _dated(h: Any, *rows: tuple[int, int, int]) -> None:
    """(id, created, modified) in seconds after T0."""
    for oid, created, modified in rows:
        h.store.records[oid] = {
            "id": oid,
            "date_created": T0 + timedelta(seconds=created),
            "date_modified": T0 + timedelta(seconds=modified),
        }


def test_a_dated_read_queries_from_the_newest_second_read_and_never_before_the_origin() -> None:
    h = harness([orders_plan(page_size=2, keyset=False)])
    # Changed before the instance existed: neither announced nor read again by a fresh query.
    _dated(h, (90, -20, -10), (91, -20, -9), (92, -20, -8))
    _dated(h, *((i, i, i) for i in range(1, 6)))
    h.store.now = h.lambda_now = T0 + timedelta(seconds=60)
    result = h.poll().resources["orders"]
    assert _ids(h) == ["1", "2", "3", "4", "5"]
    # Each page's newest second starts the next query: [1,2] [2,3] [3,4] [4,5] (the last).
    assert (result.records_read, result.requests) == (8, 4)


def test_records_stamped_past_the_store_clock_are_counted_and_their_creation_kept() -> None:
    """An object created before the store clock but stamped past it (a write during the
    read) waits for the next poll, and still arrives CREATED: the told point stops at
    its creation, not at the clock."""
    h = harness([orders_plan(page_size=2, keyset=False)])
    _dated(h, (1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 10, 100), (5, 101, 101), (6, 102, 102))
    h.store.now = h.lambda_now = T0 + timedelta(seconds=50)
    result = h.poll().resources["orders"]
    assert _ids(h) == ["1", "2", "3"]
    # [1,2] [2,3] [3,4]: 4 is past the clock, so the rest is only looked at: [5,6].
    assert (result.deferred, result.records_read) == (3, 8)
    h.store.now = h.lambda_now = T0 + timedelta(seconds=200)
    h.poll()
    kinds = {oid: kind for oid, _, kind in h.queue.events()}
    assert kinds == {
        "1": "CREATED",
        "2": "CREATED",
        "3": "CREATED",
        "4": "CREATED",
        "5": "CREATED",
        "6": "CREATED",
    }


def test_a_dated_read_out_of_time_resumes_where_its_last_checkpoint_stood() -> None:
    h = harness([orders_plan(page_size=2, keyset=False)])
    _dated(h, *((i, i, i) for i in range(1, 7)))
    h.store.now = h.lambda_now = T0 + timedelta(seconds=60)
    served = []

    def run_short(page: int) -> None:
        served.append(page)
        if len(served) == 2:
            h.remaining = 1_000  # below the reserve: stop after this page

    h.store.hook = run_short
    result = h.poll()
    assert result.status == "partial" and result.resources["orders"].status == "partial"
    assert _ids(h) == ["1", "2", "3"]
    h.store.hook = None
    h.remaining = 100_000
    h.poll()
    assert _ids(h) == ["1", "2", "3", "4", "5", "6"]


# -- when a quiet poll writes its report ---------------------------------------------------


def _report(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "start": "2026-01-01T12:00:00Z",
        "end": "2026-01-01T12:00:01Z",
        "status": "ok",
        "reason": None,
        "resources": {
            "orders": {
                "status": "ok",
                "lastError": None,
                "cursor": "2026-01-01T11:59:00Z",
                "unreadable": 0,
                "unreadableReason": None,
                "recordsRead": 3,
            }
        },
    }
    base.update(changes)
    return base


def test_a_report_is_due_when_its_status_or_reason_changes_not_its_counts() -> None:
    from bcpoller.poll.engine import _report_due

    now = T0 + timedelta(seconds=30)
    stored = _report()
    assert not _report_due(stored, _report(), now, 600)
    counts = _report()
    counts["resources"]["orders"]["recordsRead"] = 7
    assert not _report_due(stored, counts, now, 600)
    assert _report_due(stored, _report(status="partial"), now, 600)
    assert _report_due(stored, _report(reason="out of time"), now, 600)
    assert _report_due(stored, _report(), T0 + timedelta(seconds=601), 600)  # the heartbeat
    assert _report_due({**stored, "end": "never"}, _report(), now, 600)


def test_a_report_is_due_when_a_resources_status_error_cursor_or_unreadable_count_changes() -> None:
    from bcpoller.poll.engine import _report_due

    now = T0 + timedelta(seconds=30)
    stored = _report()
    for name, value in [
        ("status", "error"),
        ("lastError", "HTTP 500"),
        ("cursor", "2026-01-01T12:00:00Z"),
        ("unreadable", 1),
        ("unreadableReason", "a record has no id in 'id'"),
    ]:
        changed = _report()
        changed["resources"]["orders"][name] = value
        assert _report_due(stored, changed, now, 600), name
    # The heartbeat is due at exactly its age.
    assert _report_due(stored, _report(), T0 + timedelta(seconds=1 + 600), 600)
    assert not _report_due(stored, _report(), T0 + timedelta(seconds=600), 600)


# -- the deletion sweep's own failures ------------------------------------------------------


def _sweep_harness() -> tuple[Any, Any]:
    from tests.unit.poll.fakes import FakeSweeps, sweep_plan

    h = harness([sweep_plan()])
    sweeps = FakeSweeps()
    h.deps_overrides["sweeps"] = sweeps
    for oid in (1, 2, 3):
        h.store.create(oid)
    h.store.tick(60)
    h.lambda_now = h.store.now
    return h, sweeps


def test_a_sweep_that_lost_its_item_to_another_poll_stops_the_poll_as_lease_lost() -> None:
    from bcpoller.poll.ports import CursorConflict

    h, sweeps = _sweep_harness()

    def taken(state: Any) -> None:
        raise CursorConflict("sweep products moved")

    sweeps.before_save = taken
    result = h.poll()
    assert (result.status, result.reason) == ("lease_lost", "sweep products moved")
    products = result.resources["products"]
    assert (products.status, products.error) == ("error", "sweep products moved")
    assert h.table.last_poll is not None and h.table.last_poll["status"] == "lease_lost"


def test_no_sweep_without_its_store_or_after_a_failed_read() -> None:
    h, sweeps = _sweep_harness()
    h.deps_overrides.pop("sweeps")
    assert h.poll().status == "ok"  # deletions configured, but this stack keeps no sweep items
    h.deps_overrides["sweeps"] = sweeps
    h.store.fail_on_request = h.store.requests + 1
    h.store.tick(60)
    h.lambda_now = h.store.now
    result = h.poll()
    assert result.resources["products"].status == "error"
    assert sweeps.calls == {}  # its listing would fail too: not even its state is read


# -- what a poll reports beside its events ---------------------------------------------------


class _CloudWatch:
    def __init__(self) -> None:
        self.values: dict[str, tuple[str, float]] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        assert unit in {u.value for u in MetricUnit}, f"{name}: {unit!r}"
        assert name not in self.values, f"{name} twice"
        self.values[name] = (unit, value)


def test_a_working_poll_puts_its_figures_and_a_quiet_one_none() -> None:
    h = harness()
    cloudwatch = _CloudWatch()
    clock = [100.0]
    h.deps_overrides.update(metrics=cloudwatch, monotonic=lambda: clock[0])
    for oid in (1, 2, 3):
        h.store.create(oid)
    h.store.tick(60)
    h.lambda_now = h.store.now

    def slow_store(page: int) -> None:
        clock[0] = 100.4

    h.store.hook = slow_store
    h.poll()
    assert cloudwatch.values == {
        "EventsEmitted": ("Count", 3),
        "RecordsRead": ("Count", 3),
        "StoreRequests": ("Count", 1),
        "PollDuration": ("Milliseconds", pytest.approx(400.0)),
        "LagSeconds": ("Seconds", 60.0),  # the store clock is a minute past the newest change
    }
    cloudwatch.values.clear()
    h.poll()
    assert cloudwatch.values == {}


def test_a_long_reason_is_shortened_in_the_report_and_kept_whole_in_the_result() -> None:
    h = harness()
    h.store.create(1)
    text = "event.poller.configuration: " + "x" * 400

    def refuse(configuration: object) -> object:
        raise ConfigError(text)

    h.deps_overrides["planner"] = refuse
    result = h.poll()
    assert result.reason == text
    assert h.table.last_poll is not None
    stored = h.table.last_poll["reason"]
    assert len(stored) == 300 and stored == text[:299] + "…"


def test_the_wake_up_hooks_are_checked_after_a_poll_and_their_failure_is_not_the_polls() -> None:
    h = harness()
    h.store.create(1)
    wake = {"url": "https://hooks.example.com/wake", "hooks": []}
    load = h.table.load
    h.table.load = lambda instance_id: replace(  # type: ignore[method-assign]
        (view := load(instance_id)), last=replace(view.last, wake=wake)
    )
    checked: list[tuple[str, dict[str, Any]]] = []

    def keeper(instance: Any, given: dict[str, Any]) -> None:
        checked.append((instance.instance_id, given))
        raise RuntimeError("the store's hook API is down")

    h.deps_overrides["hook_keeper"] = keeper
    assert h.poll().status == "ok"
    assert checked == [("inst-1", wake)]
    # A poll that finds another poll at work (its lease refused) leaves the check to it.
    h.store.create(2)
    h.table.lease_until = h.lambda_now.timestamp() + 100
    assert h.poll().status == "skipped"
    assert len(checked) == 1


# -- the lease, blobs, the checkpoint's figures, CREATED by tolerance ------------------------


def test_the_lease_lasts_the_invocation_plus_its_margin_and_the_blob_a_week() -> None:
    from bcpoller.poll.engine import LEASE_MARGIN_S

    h = harness()
    h.store.create(7, notes="x" * 300_000)  # too big for SQS: its body goes to the table
    h.store.tick(60)
    h.lambda_now = h.store.now
    h.remaining = 42_000
    leases: list[float | None] = []
    h.queue.before_send = lambda bodies: leases.append(h.table.lease_until)
    ttls: list[int] = []
    put_blob = h.table.put_blob

    def checked_put_blob(instance_id: str, event_id: str, compressed_body: bytes, *, ttl: int) -> None:
        assert instance_id == "inst-1"
        ttls.append(ttl)
        put_blob(instance_id, event_id, compressed_body, ttl=ttl)

    h.table.put_blob = checked_put_blob  # type: ignore[method-assign]
    h.poll()
    now = h.lambda_now.timestamp()
    assert leases == [now + 42 + LEASE_MARGIN_S]
    assert ttls == [int(now) + 7 * 86_400]
    message = QueueMessage.model_validate(h.queue.messages[0])
    assert message.emitted_at == h.lambda_now


def test_the_checkpoint_carries_the_resources_figures_for_status() -> None:
    h = harness()
    for oid in (1, 2):
        h.store.create(oid)
    h.store.tick(60)
    started = h.lambda_now = h.store.now

    def slow_store(page: int) -> None:
        h.lambda_now = started + timedelta(seconds=5)

    h.store.hook = slow_store
    h.poll()
    # The message says when it was emitted, not when the poll began.
    assert [m["emittedAt"] for m in h.queue.messages] == [iso_utc(started + timedelta(seconds=5))] * 2
    assert h.table.cursor_stats["orders"] == {
        "lastPollStart": iso_utc(started),
        "lastPollEnd": iso_utc(started + timedelta(seconds=5)),
        "recordsRead": 2,
        "eventsEmitted": 2,
        "requests": 1,
        "lastError": None,
    }


def test_an_object_created_just_before_the_told_point_is_created_within_the_tolerance() -> None:
    """Created 3 s before the instance existed and first changed as it was made: within
    a 3 s tolerance its first event is CREATED, 4 s is beyond it (an older object)."""
    h = harness([orders_plan(tolerance_s=3, keyset=False)])
    _dated(h, (1, -3, 0), (2, -4, 0))
    h.store.now = h.lambda_now = T0 + timedelta(seconds=60)
    h.poll()
    assert {oid: kind for oid, _, kind in h.queue.events()} == {"1": "CREATED", "2": "UPDATED"}


def test_unreadable_records_are_counted_and_the_first_ones_reason_names_the_fields() -> None:
    from bcpoller.poll.engine import _unreadable_reason

    plan = orders_plan(keyset=False)
    h = harness([plan])
    h.store.records[1] = {"id": 1, "date_modified": None, "sort": T0}
    h.store.records[2] = {"id": None, "date_modified": None}
    h.store.records[3] = {"id": 3, "date_created": T0, "date_modified": T0}
    # The fake store sorts by date_modified: give the unreadable ones a place first.
    h.store.pages = _one_page_unreadable_first(h.store)  # type: ignore[method-assign]
    h.store.tick(60)
    h.lambda_now = h.store.now
    orders = h.poll().resources["orders"]
    assert _ids(h) == ["3"]
    assert (orders.unreadable, orders.unreadable_reason) == (
        2,
        "a record has no id in 'id' and no readable updated date in 'the updated field'",
    )
    named = replace(plan, updated_field="date_modified")
    assert (
        _unreadable_reason(named, no_id=True, no_date=True)
        == "a record has no id in 'id' and no readable updated date in 'date_modified'"
    )


def _one_page_unreadable_first(store: FakeStore) -> Any:
    def serve(lower: Any, page_size: int) -> Any:
        from tests.unit.poll.fakes import Page

        rows = sorted(store.records.values(), key=lambda r: (r["date_modified"] or T0, r["id"] or 0))
        yield Page([dict(r) for r in rows], 1, True)

    return serve


def test_a_snapshot_diff_without_pending_stamps_writes_one_checkpoint() -> None:
    """A dated snapshot whose failed send left a deletion pending: when the object comes
    back with a date of its own, nothing needs a stamp, and only the final checkpoint
    is written (each checkpoint is a DynamoDB write)."""
    plan = replace(snapshot_plan("brands"), read_updated=lambda r: r.get("date_modified"))
    h = harness([plan])
    for oid in (1, 2):
        h.store.create(oid)
    h.poll()
    saved = h.store.records.pop(2)
    h.queue.fail = True
    h.store.tick(10)
    h.lambda_now = h.store.now
    h.poll()  # the DELETED is stamped (saved as pending), then its send fails
    assert set(h.table.cursors["brands"].pending) == {"2"}
    h.queue.fail = False
    h.store.tick(10)
    h.lambda_now = h.store.now
    h.store.records[2] = {**saved, "date_modified": h.store.now}
    before = h.table.calls.get("checkpoint", 0)
    h.poll()
    assert h.table.calls["checkpoint"] - before == 1
    assert [(oid, kind) for oid, _, kind in h.queue.events()] == [("2", "UPDATED")]
    assert h.table.cursors["brands"].pending == {}


# -- what status shows for a resource that stopped ------------------------------------------


def _stopping(h: Any, error: Exception) -> None:
    def hook(page: int) -> None:
        if page == 2:
            raise error

    h.store.hook = hook


def test_a_resource_stopped_by_the_store_says_why_in_its_own_figures() -> None:
    from bcpoller.connector.errors import DeadlineExceeded

    def fresh() -> Any:
        h = harness([orders_plan(page_size=2)])
        for oid in (1, 2, 3, 4):
            h.store.create(oid)
        h.store.tick(60)
        h.lambda_now = h.store.now
        return h

    out_of_time = fresh()
    _stopping(out_of_time, DeadlineExceeded("the rate limit resets in 40 s"))
    result = out_of_time.poll()
    orders = result.resources["orders"]
    assert (result.status, result.reason) == ("partial", "out of time: the rate limit resets in 40 s")
    assert (orders.status, orders.error) == ("partial", "out of time: the rate limit resets in 40 s")
    assert orders.cursor == iso_utc(T0)  # the first page's checkpoint stays

    failing = fresh()
    _stopping(failing, StoreError("Internal Server Error after 6 attempts", status=500))
    result = failing.poll()
    orders = result.resources["orders"]
    assert result.status == "partial"
    assert (orders.status, orders.error) == ("error", "Internal Server Error after 6 attempts (HTTP 500)")
    assert failing.table.last_poll is not None
    assert failing.table.last_poll["resources"]["orders"]["lastError"] == orders.error

    refused = fresh()
    refused.store.auth_fails = True
    result = refused.poll()
    orders = result.resources["orders"]
    assert (result.status, result.reason) == ("auth_failed", "invalid credentials (HTTP 401) on /v2/orders")
    assert (orders.status, orders.error) == ("error", "the store refused the credentials")


def test_a_completed_sweep_forgets_the_ids_it_covered() -> None:
    """The cursor item keeps the ids announced since the last sweep (so the sweep does
    not announce them again); a completed sweep covered them, and they are dropped, so
    the item does not grow with every deletion."""
    from tests.unit.poll.test_sweep import HOUR, poll, sweep_harness

    h, _ = sweep_harness(3)
    poll(h)
    h.store.update(2, is_deleted=True)  # archived: announced DELETED by the poll itself
    poll(h)
    assert h.table.cursors["products"].sweep_gone == frozenset({2})
    poll(h, HOUR)
    assert h.table.cursors["products"].sweep_gone == frozenset()
