from __future__ import annotations

import json
import zlib
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from bcpoller.messages import QueueMessage, event_id, iso_utc
from bcpoller.poll.cursor import CursorState

from tests.unit.poll.fakes import T0, FakeStore, harness, orders_plan, snapshot_plan


def _pairs(h) -> Counter:
    return Counter((oid, at) for oid, at, _ in h.queue.events())


def test_first_poll_emits_changes_since_instance_creation_and_not_before() -> None:
    store = FakeStore(T0 - timedelta(seconds=30))
    store.create(1)  # before the instance existed
    store.tick(31)
    store.create(2)
    store.tick(1)
    store.update(1)
    h = harness(store=store)
    h.lambda_now = store.now

    result = h.poll()

    assert result.status == "ok"
    assert sorted(h.queue.events()) == [
        ("1", iso_utc(T0 + timedelta(seconds=2)), "UPDATED"),
        ("2", iso_utc(T0 + timedelta(seconds=1)), "CREATED"),
    ]
    cursor = h.table.cursors["orders"]
    assert cursor.cursor == T0 + timedelta(seconds=2)
    assert cursor.ids_at_cursor == {"1"}


def test_repeated_polls_emit_each_change_once_and_same_second_arrivals_later() -> None:
    h = harness()
    h.store.create(1)
    h.store.create(2)
    h.poll()
    # Same second as the cursor, after the poll read it: must still be emitted, once.
    h.store.create(3)
    h.poll()
    h.poll()
    h.store.tick(2)
    h.store.update(2)
    h.poll()
    h.poll()

    assert _pairs(h) == Counter(
        {
            ("1", iso_utc(T0)): 1,
            ("2", iso_utc(T0)): 1,
            ("3", iso_utc(T0)): 1,
            ("2", iso_utc(T0 + timedelta(seconds=2))): 1,
        }
    )
    kinds = {(oid, at): kind for oid, at, kind in h.queue.events()}
    assert kinds[("3", iso_utc(T0))] == "CREATED"
    assert kinds[("2", iso_utc(T0 + timedelta(seconds=2)))] == "UPDATED"


def test_quiet_poll_reads_once_and_writes_nothing() -> None:
    h = harness()
    h.store.create(1)
    h.poll()
    reported = h.table.last_poll
    h.table.calls.clear()
    h.queue.calls = 0

    result = h.poll()

    assert result.status == "ok" and result.events_emitted == 0
    assert h.table.calls == {"load": 1}  # no lease, no report: nothing to say that status lacks
    assert h.queue.calls == 0
    assert h.table.last_poll is reported and reported is not None
    assert reported["resources"]["orders"]["eventsEmitted"] == 1


def test_quiet_poll_reports_when_its_outcome_changes_or_the_heartbeat_is_due() -> None:
    h = harness()
    h.deps_overrides["heartbeat_s"] = 600
    h.store.create(1)
    h.poll()
    first = h.table.last_poll
    h.lambda_now = T0 + timedelta(seconds=599)
    h.poll()
    assert h.table.last_poll is first

    h.lambda_now = T0 + timedelta(seconds=601)  # heartbeat: polling is alive
    h.poll()
    assert h.table.last_poll is not first and h.table.last_poll is not None
    assert h.table.last_poll["start"] == iso_utc(h.lambda_now)
    assert h.table.calls.get("take_lease", 0) == 1  # only the first poll worked

    h.store.fail_on_request = h.store.requests + 1  # a new outcome: reported at once
    h.lambda_now += timedelta(seconds=1)
    assert h.poll().status == "partial"
    assert h.table.last_poll["status"] == "partial"
    assert "500" in (h.table.last_poll["resources"]["orders"]["lastError"] or "")


def test_a_poll_whose_cursors_went_stale_sends_nothing() -> None:
    """Two overlapping polls: the second reads the table before the first works; when the
    first has checkpointed, the second's lease is refused before it sends anything."""
    h = harness()
    h.store.create(1)
    inner: list[Any] = []

    def first_page(number: int) -> None:
        if not inner:
            h.store.hook = None
            inner.append(h.poll())  # the other poll runs whole while this one reads
            h.store.hook = first_page

    h.store.hook = first_page
    outer = h.poll()
    h.store.hook = None
    assert inner[0].status == "ok" and inner[0].events_emitted == 1
    assert outer.status == "skipped" and "worked since" in (outer.reason or "")
    assert len(h.queue.messages) == 1


@pytest.mark.parametrize("keyset", [True, False])
def test_tie_of_more_than_a_page_in_one_second_is_read_whole(keyset: bool) -> None:
    """By id it is read in ceil(601/7) pages; by updated time, the fallback reads the
    second by offset in passes until two agree. Once the read's clock is pollDelay past
    the tie, a poll asks once and reads nothing."""
    h = harness([orders_plan(page_size=7, keyset=keyset)])
    for oid in range(1, 601):
        h.store.create(oid)
    h.store.tick(1)
    h.store.create(1000)

    first = h.poll().resources["orders"]
    h.store.tick(10)
    h.poll()  # its overlap (pollDelay before the first read's clock) still holds the tie
    quiet = h.poll().resources["orders"]

    pairs = _pairs(h)
    assert len(pairs) == 601 and set(pairs.values()) == {1}
    assert all(kind == "CREATED" for _, _, kind in h.queue.events())
    assert (quiet.requests, quiet.records_read) == (1, 0)
    if keyset:
        assert (first.requests, first.records_read) == (-(-601 // 7), 601)


@pytest.mark.parametrize("read", ["by id", "by updated time", "offset"])
def test_update_landing_between_pages_is_not_lost(read: str) -> None:
    """The offset-paging trap: a record read on page 1 is updated before page 2 is read,
    so with offset paging every record after it shifts one place back and the first
    record of page 2 is never seen. Id paging and time-keyset reads must not lose it;
    the offset variant shows the trap is real (and that this test can fail)."""
    store = FakeStore(T0)
    plan = orders_plan(page_size=5, overlap_s=1, keyset=read == "by id")
    h = harness([plan if read != "offset" else replace(plan, sorted_by_store=False)], store=store)
    for oid in range(1, 21):
        store.create(oid)
        store.tick(10)  # far apart: the overlap cannot rescue a skipped record
    store.tick(1)
    h.lambda_now = store.now

    landed: list[int] = []

    def land_update(page_number: int) -> None:
        if page_number == 2 and not landed:
            store.update(3)
            landed.append(3)

    store.hook = land_update
    h.poll()
    store.hook = None
    h.poll()

    emitted = _pairs(h)
    missing = [oid for oid, at in store.latest().items() if emitted[(oid, iso_utc(at))] == 0]
    assert missing == (["6"] if read == "offset" else [])
    assert max(emitted.values()) == 1


def test_store_clock_ahead_of_lambda_uses_store_time() -> None:
    store = FakeStore(T0 + timedelta(seconds=90))  # the store runs 90 s ahead
    h = harness(store=store)
    h.lambda_now = T0
    store.create(1)
    h.poll()
    store.tick(1)
    store.update(1)
    h.poll()
    assert [e[0:2] for e in h.queue.events()] == [
        ("1", iso_utc(T0 + timedelta(seconds=90))),
        ("1", iso_utc(T0 + timedelta(seconds=91))),
    ]


def test_records_stamped_after_the_store_clock_wait_for_a_later_poll() -> None:
    h = harness([orders_plan(keyset=False)])
    h.store.create(1)
    h.store.records[1]["date_modified"] = T0 + timedelta(hours=5)  # a bad date, in the future
    h.store.create(2)
    result = h.poll()
    assert [e[0] for e in h.queue.events()] == ["2"]
    assert result.resources["orders"].deferred == 1
    assert h.table.cursors["orders"].cursor == T0  # not pushed 5 h ahead


def test_id_paged_reads_emit_a_future_stamp_without_moving_their_bound() -> None:
    h = harness()
    h.store.create(1)
    h.store.records[1]["date_modified"] = T0 + timedelta(hours=5)  # a bad date, in the future
    h.store.tick(10)
    h.poll()
    h.store.create(2)
    h.poll()
    h.poll()
    assert sorted(_pairs(h)) == [
        ("1", iso_utc(T0 + timedelta(hours=5))),
        ("2", iso_utc(T0 + timedelta(seconds=10))),
    ]
    state = h.table.cursors["orders"]
    assert state.read_to == T0 + timedelta(seconds=10)  # the next bound follows the clock
    assert state.lower_bound(5, T0, by_id=True) == T0 + timedelta(seconds=5)


def test_failed_send_leaves_cursor_unchanged_and_next_poll_emits() -> None:
    h = harness()
    h.store.create(1)
    h.poll()
    before = h.table.cursors["orders"]
    h.store.tick(3)
    h.store.update(1)
    h.queue.fail = True

    result = h.poll()

    assert result.resources["orders"].status == "error"
    assert "could not be queued" in (result.resources["orders"].error or "")
    assert h.table.cursors["orders"] == before
    h.queue.fail = False
    h.poll()
    assert _pairs(h)[("1", iso_utc(T0 + timedelta(seconds=3)))] == 1


def test_store_error_mid_read_keeps_earlier_checkpoints() -> None:
    h = harness([orders_plan(page_size=2)])
    for oid in range(1, 7):
        h.store.create(oid)
        h.store.tick(1)
    h.lambda_now = h.store.now
    h.store.fail_on_request = h.store.requests + 2
    result = h.poll()
    assert result.status == "partial"
    assert result.resources["orders"].status == "error"
    kept = h.table.cursors["orders"].cursor
    assert kept == T0 + timedelta(seconds=1)
    assert result.resources["orders"].cursor == iso_utc(kept)  # the summary reports what was saved
    h.store.fail_on_request = None
    h.poll()
    assert len(_pairs(h)) == 6 and set(_pairs(h).values()) == {1}


def test_authentication_failure_marks_instance_and_stops() -> None:
    h = harness()
    h.store.auth_fails = True
    first = h.poll()
    assert first.status == "auth_failed"
    assert h.table.instance is not None and h.table.instance.auth_state == "ok"  # not yet: once
    result = h.poll()
    assert result.status == "auth_failed"
    assert h.table.instance is not None and h.table.instance.auth_state == "failed"
    assert "invalid credentials" in (h.table.instance.auth_error or "")
    assert "tok-secret" not in json.dumps(result.to_dict())
    again = h.poll()
    assert again.status == "skipped" and "credentials" in (again.reason or "")


def test_one_refusal_does_not_stop_polling() -> None:
    """A single 401 (the store's passing fault) is reported, and the next poll goes on."""
    h = harness()
    h.store.create(1)
    h.store.auth_fails = True
    assert h.poll().status == "auth_failed"
    h.store.auth_fails = False
    assert h.table.instance is not None and h.table.instance.auth_state == "ok"
    assert h.poll().status == "ok"
    assert [oid for oid, _, _ in h.queue.events()] == ["1"]


@pytest.mark.parametrize(
    ("update", "reason"),
    [({"events_enabled": False}, "disabled"), ({"auth_state": "failed"}, "credentials")],
)
def test_skips_say_why(update: dict, reason: str) -> None:
    h = harness()
    assert h.table.instance is not None
    h.table.instance = h.table.instance.model_copy(update=update)
    result = h.poll()
    assert result.status == "skipped" and reason in (result.reason or "")
    assert h.queue.calls == 0


def test_deleted_instance_is_skipped() -> None:
    h = harness()
    h.table.instance = None
    assert h.poll().status == "skipped"


def test_lease_is_taken_only_for_work_and_a_held_one_defers_the_work() -> None:
    h = harness()
    h.table.lease_owner, h.table.lease_until = "other", T0.timestamp() + 60
    assert h.poll().status == "ok"  # nothing to do: the lease is not needed
    h.store.create(1)
    held = h.poll()
    assert held.status == "skipped" and "lease" in (held.reason or "")
    assert h.queue.messages == []
    h.lambda_now = T0 + timedelta(seconds=61)  # expired: a crashed poll cannot block forever
    assert h.poll().status == "ok"
    assert len(h.queue.messages) == 1 and h.table.lease_owner is None


def test_running_out_of_time_stops_after_a_checkpoint_and_next_tick_continues() -> None:
    h = harness([orders_plan(page_size=10)])
    for oid in range(1, 101):
        h.store.create(oid)
        h.store.tick(1)
    h.lambda_now = h.store.now
    budget = iter([100_000, 100_000, 100_000] + [100_000, 1_000] + [0] * 100)
    h.remaining = 0
    deps_remaining = lambda: next(budget)  # noqa: E731
    from bcpoller.poll.engine import poll_instance

    first = poll_instance("inst-1", h.deps(), remaining_ms=deps_remaining, now=lambda: h.lambda_now)
    assert first.status == "partial"
    assert 0 < first.events_emitted < 100
    h.remaining = 100_000
    h.poll()
    assert len(_pairs(h)) == 100 and set(_pairs(h).values()) == {1}


def test_checkpoint_conflict_stops_the_poll_as_lease_lost() -> None:
    h = harness([orders_plan(page_size=2)])
    for oid in range(1, 5):
        h.store.create(oid)
        h.store.tick(1)

    def steal(state: CursorState) -> None:
        h.table.cursors["orders"] = CursorState(resource="orders", cursor=T0, version=7)

    h.table.before_checkpoint = steal
    result = h.poll()
    assert result.status == "lease_lost"
    assert h.table.cursors["orders"].version == 7


def test_created_versus_updated() -> None:
    h = harness([orders_plan(tolerance_s=2)])
    h.store.create(1)
    h.poll()
    h.store.tick(10)
    h.store.update(1)  # created long before the cursor: UPDATED
    h.store.create(2)
    h.store.update(2)  # created after the cursor, updated at once: CREATED
    h.poll()
    kinds = {oid: kind for oid, _, kind in h.queue.events()[1:]}
    assert kinds == {"1": "UPDATED", "2": "CREATED"}


@pytest.mark.parametrize("keyset", [True, False])
def test_object_created_in_the_cursors_second_and_updated_before_the_next_poll_is_created(
    keyset: bool,
) -> None:
    """The edge that reached subscribers as UPDATED: an object created in the very second
    the resource's last read stood on (after that read), and updated again before the
    next poll, was never announced; its first event must say CREATED."""
    h = harness([orders_plan(keyset=keyset)])
    h.store.create(1)
    h.poll()  # reads through T0: 1 is announced, the cursor stands on T0
    h.store.create(2)  # still T0, after the read
    h.store.tick(1)
    h.store.update(2)
    h.store.update(1)
    h.poll()
    assert sorted(h.queue.events()) == [
        ("1", iso_utc(T0), "CREATED"),
        ("1", iso_utc(T0 + timedelta(seconds=1)), "UPDATED"),
        ("2", iso_utc(T0 + timedelta(seconds=1)), "CREATED"),
    ]


def test_event_body_is_the_record_as_returned_with_deterministic_id() -> None:
    h = harness()
    h.store.create(42, status="Shipped")
    h.poll()
    message = QueueMessage.model_validate(h.queue.messages[0])
    assert message.event_id == event_id("inst-1", "orders", "42", T0)
    body = json.loads(message.body or "")
    assert body["message"]["raw"]["orders"][0]["status"] == "Shipped"
    assert body["message"]["events"][0] == {
        "eventType": "CREATED",
        "objectType": "orders",
        "objectId": "42",
        "elementKey": "bigcommerce",
        "date": iso_utc(T0),
    }


def test_oversize_record_goes_to_a_blob_and_the_message_references_it() -> None:
    h = harness()
    h.store.create(7, notes="x" * 300_000)
    h.poll()
    message = QueueMessage.model_validate(h.queue.messages[0])
    assert message.body is None and message.body_ref == f"BLOB#{message.event_id}"
    stored = json.loads(zlib.decompress(h.table.blobs[message.event_id]))
    assert stored["message"]["raw"]["orders"][0]["notes"] == "x" * 300_000


def test_backfill_since_reaches_before_creation() -> None:
    store = FakeStore(T0 - timedelta(hours=1))
    store.create(1)
    store.now = T0
    h = harness(store=store)
    h.backfill_since = T0 - timedelta(hours=2)
    h.poll()
    assert [e[0] for e in h.queue.events()] == ["1"]


def test_snapshot_resource_emits_created_updated_deleted_by_diff() -> None:
    h = harness([snapshot_plan()])
    h.store.create(1, name="A")
    h.store.create(2, name="B")
    h.poll()
    assert h.queue.events() == []  # the first read is the baseline
    h.store.tick(5)
    h.store.records[1]["name"] = "A2"
    h.store.delete(2)
    h.store.create(3, name="C")
    h.poll()
    h.poll()
    kinds = sorted((oid, kind) for oid, _, kind in h.queue.events())
    assert kinds == [("1", "UPDATED"), ("2", "DELETED"), ("3", "CREATED")]


def test_snapshot_crash_after_send_resends_the_same_event_ids() -> None:
    h = harness([snapshot_plan()])
    h.store.create(1, name="A")
    h.poll()
    h.store.tick(5)
    h.store.records[1]["name"] = "A2"

    class Crash(BaseException):
        pass

    def crash_on_final(state: CursorState) -> None:
        if state.snapshot and not state.pending:
            raise Crash

    h.table.before_checkpoint = crash_on_final
    with pytest.raises(Crash):
        h.poll()
    h.table.before_checkpoint = None
    h.store.tick(60)
    h.lambda_now += timedelta(minutes=10)  # past the crashed poll's lease
    h.poll()
    ids = [m["eventId"] for m in h.queue.messages]
    assert len(ids) == 2 and len(set(ids)) == 1


def test_a_stopped_id_read_resumes_after_its_token_without_reading_again() -> None:
    """A poll that runs out of time inside a 100-record second keeps the token of the
    last page it emitted; the next poll reads only the rest, whatever the clock says."""
    h = harness([orders_plan(page_size=10)])
    for oid in range(1, 101):
        h.store.create(oid)  # all in one second
    h.store.tick(30)
    budget = iter([100_000] * 6 + [0] * 100)
    from bcpoller.poll.engine import poll_instance

    first = poll_instance("inst-1", h.deps(), remaining_ms=lambda: next(budget), now=lambda: h.lambda_now)
    assert first.status == "partial"
    read_first = first.resources["orders"].records_read
    stopped = h.table.cursors["orders"]
    assert (
        stopped.read_from is not None
        and stopped.after == str(read_first)
        and stopped.last_id == stopped.after
    )
    assert len(stopped.recent) == 0  # the pairs it passed are not kept: nothing can return them
    h.store.tick(30)
    second = h.poll()
    assert second.status == "ok"
    assert second.resources["orders"].records_read == 100 - read_first
    assert second.resources["orders"].requests == (100 - read_first + 9) // 10
    assert len(_pairs(h)) == 100 and set(_pairs(h).values()) == {1}
    done = h.table.cursors["orders"]
    assert done.read_from is None and done.after is None and done.read_to == T0 + timedelta(seconds=30)


def test_a_poll_past_its_lease_sends_nothing_more() -> None:
    """Past its lease another poll may own the cursor and have announced these objects
    already; events classified from this poll's older view must not go out. (The lease is
    taken with the first page's events, so the poll outlives it while reading the next.)"""
    h = harness([orders_plan(page_size=1)])
    h.store.create(1)
    h.store.tick(1)
    h.store.create(2)

    def stall(page_number: int) -> None:
        if page_number >= 2:
            h.lambda_now += timedelta(minutes=10)  # far past remaining time + margin

    h.store.hook = stall
    result = h.poll()
    assert result.status == "lease_lost" and "lease expired" in (result.resources["orders"].error or "")
    assert [oid for oid, _, _ in h.queue.events()] == ["1"]
    assert h.table.cursors["orders"].cursor == T0


def test_a_report_that_differs_only_in_its_unreadable_records_is_written() -> None:
    """Status shows the unreadable count and reason from the stored report: a change of
    either alone must reach it, while the same figures again write nothing."""
    from datetime import datetime

    from bcpoller.poll.engine import _report_due

    def report(unreadable: int, reason: str | None) -> dict[str, Any]:
        figures = {"status": "ok", "lastError": None, "cursor": None, "unreadable": unreadable}
        return {
            "status": "ok",
            "end": "2026-11-29T10:00:00Z",
            "resources": {"customers": {**figures, "unreadableReason": reason}},
        }

    now = datetime.fromisoformat("2026-11-29T10:01:00+00:00")
    stored = report(1, "a record has no id in 'id'")
    assert not _report_due(stored, report(1, "a record has no id in 'id'"), now, 900)
    assert _report_due(stored, report(2, "a record has no id in 'id'"), now, 900)
    assert _report_due(stored, report(1, "a record has no id in 'id' and no readable updated date"), now, 900)
    assert _report_due(stored, report(0, None), now, 900)


class _Recorded:
    def __init__(self) -> None:
        self.metrics: list[tuple[str, float]] = []

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.metrics.append((name, value))


def test_the_stores_429s_become_a_metric_even_on_a_quiet_poll_and_only_when_there_were_some() -> None:
    h = harness()
    recorded = _Recorded()
    h.deps_overrides["metrics"] = recorded
    h.poll()  # the first poll (its report)
    recorded.metrics.clear()
    h.lambda_now += timedelta(seconds=60)
    h.poll()
    assert recorded.metrics == []  # quiet and unthrottled: no metric at all

    opened = h.connector.open

    def throttled_session(configuration: dict[str, Any], *, deadline: float) -> Any:
        session = opened(configuration, deadline=deadline)
        session.throttled = 2  # the client counted two 429 answers it waited out
        return session

    h.connector.open = throttled_session  # type: ignore[method-assign]
    h.lambda_now += timedelta(seconds=60)
    assert h.poll().events_emitted == 0
    assert recorded.metrics == [("StoreThrottled", 2)]
