"""The engine's paths a poll summary, the status API or the subscriber can see, each
pinned where mutation testing found it unguarded: what the planner and the store are
given, resources left for lack of time, a moved cursor, per-resource figures, what a
stopped read saves, the callback body, the message size limit, origins and backfill,
the sweep's quota stop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from bcpoller.messages import iso_utc
from bcpoller.poll.cursor import CursorState
from bcpoller.poll.plan import Planning

from tests.unit.poll.fakes import (
    T0,
    FakeSession,
    FakeStore,
    FakeSweeps,
    Harness,
    Page,
    harness,
    make_instance,
    orders_plan,
    sweep_plan,
)


class _CloudWatch:
    """Takes only units CloudWatch knows (Powertools raises on any other)."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, float]] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        assert unit in {u.value for u in MetricUnit}, f"{name}: {unit!r}"
        self.values[name] = (unit, value)


def _run_out_of_time_on_page(h: Harness, page: int) -> None:
    """Below the reserve once the store serves ``page`` (of the next read): stop after it."""

    def hook(number: int) -> None:
        if number == page:
            h.remaining = 1_000
            h.store.hook = None

    h.store.hook = hook


# -- what the planner and the store are given -------------------------------------------------


def test_the_planner_and_the_store_get_the_full_configuration_and_a_deadline_before_the_lambdas_end() -> None:
    h = harness()
    plans = h.plans
    planned: list[Any] = []

    def planner(configuration: Any) -> Planning:
        planned.append(configuration)
        return Planning(resources=plans)

    deadlines: list[Any] = []
    opened = h.connector.open

    def open_session(configuration: dict[str, Any], *, deadline: float) -> Any:
        deadlines.append(deadline)
        return opened(configuration, deadline=deadline)

    h.connector.open = open_session  # type: ignore[method-assign]
    h.deps_overrides.update(planner=planner, monotonic=lambda: 1_000.0)
    h.remaining = 60_000
    h.store.create(1)

    assert h.poll().status == "ok"

    # The secrets are put back for the store's client (and the planner validates them all).
    full = {"store.hash": "abc", "event.notification.enabled": True, "access.token": "tok-secret"}
    assert planned == [full]
    assert h.connector.opened == [full]
    # No request may wait past 3 s before the Lambda's end (time to release the lease).
    assert deadlines == [1_000.0 + 60.0 - 3.0]


# -- the poll summary ---------------------------------------------------------------------------


def test_resources_left_for_lack_of_time_are_each_reported_not_polled() -> None:
    h = harness([orders_plan(), orders_plan(name="customers")])
    h.store.create(1)
    h.remaining = 1_000  # below the reserve from the start

    result = h.poll()

    assert result.status == "partial"
    assert {name: r.status for name, r in result.resources.items()} == {
        "orders": "not_polled",
        "customers": "not_polled",
    }
    assert h.store.requests == 0 and h.queue.messages == []
    assert h.table.last_poll is not None
    assert h.table.last_poll["status"] == "partial"
    assert h.table.last_poll["resources"]["customers"]["status"] == "not_polled"


def test_a_checkpoint_refused_because_the_cursor_moved_stops_the_poll_as_lease_lost_naming_it() -> None:
    h = harness()
    h.store.create(1)

    def another_poll_wrote(state: CursorState) -> None:
        h.table.cursors["orders"] = CursorState(resource="orders", version=7)

    h.table.before_checkpoint = another_poll_wrote

    result = h.poll()

    assert result.status == "lease_lost"
    assert result.reason == "cursor orders moved"
    orders = result.resources["orders"]
    assert (orders.status, orders.error) == ("error", "cursor orders moved")
    assert h.table.last_poll is not None
    assert h.table.last_poll["reason"] == "cursor orders moved"
    assert h.table.last_poll["resources"]["orders"]["status"] == "error"


def test_each_resource_reports_its_own_requests() -> None:
    h = harness([orders_plan(), orders_plan(name="customers")])
    h.store.create(1)

    result = h.poll()

    assert {name: r.requests for name, r in result.resources.items()} == {"orders": 1, "customers": 1}
    assert h.table.last_poll is not None
    assert h.table.last_poll["resources"]["customers"]["requests"] == 1


def test_events_emitted_counts_every_page_of_the_read() -> None:
    h = harness([orders_plan(page_size=2)])
    for oid in (1, 2, 3, 4, 5):
        h.store.create(oid)

    result = h.poll()

    assert len(h.queue.messages) == 5
    assert result.resources["orders"].events_emitted == 5
    assert h.table.last_poll is not None
    assert h.table.last_poll["resources"]["orders"]["eventsEmitted"] == 5


def test_a_record_without_a_readable_date_is_named_in_the_resources_last_error() -> None:
    plan = orders_plan(keyset=False)
    plan = replace(plan, read_updated=lambda r: None if r["id"] == 2 else r["date_modified"])
    h = harness([plan])
    h.store.create(1)
    h.store.create(2)

    result = h.poll()

    orders = result.resources["orders"]
    assert orders.unreadable == 1
    assert orders.error == "orders: a record without a readable id or updated date was skipped"
    assert [oid for oid, _, _ in h.queue.events()] == ["1"]


def test_a_skipped_poll_still_names_its_instance() -> None:
    h = harness()
    h.table.instance = make_instance(events_enabled=False)

    result = h.poll()

    assert result.status == "skipped"
    assert result.to_dict()["instanceId"] == "inst-1"  # the handler's response


def test_a_poll_refused_the_lease_writes_nothing_more() -> None:
    """Another poll is working: this one stops before sending, and writes no report (a
    conditional write refused still costs its capacity)."""
    h = harness()
    h.store.create(1)
    h.table.lease_owner, h.table.lease_until = "other", T0.timestamp() + 60

    result = h.poll()

    assert result.status == "skipped"
    assert h.queue.messages == []
    assert h.table.calls == {"load": 1, "take_lease": 1}


def test_a_lease_left_behind_by_a_crashed_poll_does_not_keep_a_quiet_poll_from_reporting() -> None:
    h = harness()
    h.table.lease_owner, h.table.lease_until = "crashed", T0.timestamp() - 60  # expired

    result = h.poll()

    assert result.status == "ok"
    assert h.table.calls.get("record") == 1
    assert h.table.last_poll is not None and h.table.last_poll["status"] == "ok"


# -- metrics ------------------------------------------------------------------------------------


def test_the_stores_429s_are_counted_in_a_unit_cloudwatch_takes() -> None:
    h = harness()
    cloudwatch = _CloudWatch()
    h.deps_overrides["metrics"] = cloudwatch
    opened = h.connector.open

    def throttled_session(configuration: dict[str, Any], *, deadline: float) -> Any:
        session = opened(configuration, deadline=deadline)
        session.throttled = 3  # type: ignore[attr-defined]
        return session

    h.connector.open = throttled_session  # type: ignore[method-assign]

    h.poll()

    assert cloudwatch.values["StoreThrottled"] == ("Count", 3)


def test_the_lag_of_a_read_up_to_the_store_clock_is_zero() -> None:
    h = harness()
    cloudwatch = _CloudWatch()
    h.deps_overrides["metrics"] = cloudwatch
    h.store.create(1)  # stamped in the very second the store's clock reads

    h.poll()

    assert cloudwatch.values["LagSeconds"] == ("Seconds", 0.0)


# -- what the subscriber receives ---------------------------------------------------------------


def test_a_record_without_a_creation_date_is_announced_updated() -> None:
    h = harness()
    h.store.create(1, date_created=None)

    h.poll()

    assert h.queue.events() == [("1", iso_utc(T0), "UPDATED")]


def test_the_callback_body_names_the_instance_and_carries_the_messages_event_id() -> None:
    h = harness()
    h.store.create(1)

    h.poll()

    [message] = h.queue.messages
    body = json.loads(message["body"])["message"]
    assert body["instanceId"] == "inst-1"
    assert body["instanceName"] == "Store A"
    assert body["eventId"] == message["eventId"]


def _one_event(max_message_bytes: int | None = None) -> tuple[Harness, list[str]]:
    h = harness()
    h.store.create(1, name="x" * 500)
    sent: list[str] = []
    h.queue.before_send = sent.extend
    if max_message_bytes is not None:
        h.deps_overrides["max_message_bytes"] = max_message_bytes
    h.poll()
    return h, sent


def test_a_message_of_exactly_the_size_limit_still_goes_inline() -> None:
    _, [inline] = _one_event()
    size = len(inline.encode())

    at_limit, [sent] = _one_event(size)
    assert sent == inline and at_limit.table.blobs == {}

    over, [sent] = _one_event(size - 1)
    assert "bodyRef" in json.loads(sent) and len(over.table.blobs) == 1


def test_one_record_read_twice_in_one_page_is_one_event() -> None:
    """A store read whole and sorted here (no sort by updated time) can list a record twice
    when an offset shifts between its pages: one (id, time), one event."""

    class Repeating(FakeStore):
        def pages(self, lower: datetime | None, page_size: int) -> Iterator[Page]:
            for page in super().pages(lower, page_size):
                yield Page(page.records[:1] + page.records, page.page_number, page.is_last)

    store = Repeating(T0)
    store.create(1)
    store.create(2)
    h = harness([replace(orders_plan(keyset=False), sorted_by_store=False)], store=store)

    result = h.poll()

    assert sorted(oid for oid, _, _ in h.queue.events()) == ["1", "2"]
    assert result.resources["orders"].events_emitted == 2


# -- origins, backfill and stopped reads --------------------------------------------------------


@pytest.mark.parametrize("keyset", [True, False])
def test_a_cursor_item_without_an_origin_still_polls_from_its_cursor(keyset: bool) -> None:
    """Cursor items written before origins were kept have none: the instance's creation
    bounds them instead."""
    h = harness([orders_plan(keyset=keyset)])
    h.store.create(1)
    h.store.tick(10)
    h.store.create(2)
    h.lambda_now = h.store.now
    h.table.cursors["orders"] = CursorState(
        resource="orders", cursor=T0, recent=frozenset({("1", T0)}), version=3
    )

    result = h.poll()

    assert result.status == "ok"
    assert h.queue.events() == [("2", iso_utc(T0 + timedelta(seconds=10)), "CREATED")]


def test_a_backfill_stopped_part_way_finishes_from_its_own_origin_even_when_the_setting_is_cleared() -> None:
    """The cursor keeps where it began (its item's ``origin``): clearing backfill_since
    before the next poll must not skip the changes the first poll had no time to read."""
    store = FakeStore(T0 - timedelta(minutes=50))
    store.create(1)
    store.tick(600)
    store.create(2)
    store.tick(600)
    store.create(3)
    store.now = T0 + timedelta(seconds=60)
    h = harness([orders_plan(page_size=1)], store=store)
    h.lambda_now = store.now
    h.backfill_since = T0 - timedelta(hours=1)
    _run_out_of_time_on_page(h, 1)

    assert h.poll().status == "partial"
    assert [oid for oid, _, _ in h.queue.events()] == ["1"]
    assert h.table.cursors["orders"].origin == T0 - timedelta(hours=1)

    h.backfill_since = None
    h.remaining = 100_000
    assert h.poll().status == "ok"

    assert [(oid, kind) for oid, _, kind in h.queue.events()] == [
        ("1", "CREATED"),
        ("2", "CREATED"),
        ("3", "CREATED"),
    ]


def test_a_read_failing_part_way_resumes_from_its_token_and_loses_no_record() -> None:
    """Id order is not time order: the first page's newest time must not become the next
    poll's lower bound, or the older records of the later pages are never read."""
    h = harness([orders_plan(page_size=2)])
    h.store.create(3)
    h.store.create(4)
    h.store.create(1)
    h.store.tick(100)
    h.store.create(2)
    h.lambda_now = h.store.now
    h.store.fail_on_request = 2  # the second page answers 500

    first = h.poll()
    assert first.resources["orders"].status == "error"
    assert [oid for oid, _, _ in h.queue.events()] == ["1", "2"]

    h.store.fail_on_request = None
    h.poll()

    assert sorted(oid for oid, _, _ in h.queue.events()) == ["1", "2", "3", "4"]


def test_a_read_of_known_records_stopped_part_way_saves_where_to_resume() -> None:
    h = harness([orders_plan(page_size=2)])
    for oid in (1, 2, 3, 4):
        h.store.create(oid)
    h.poll()  # announces all four
    _run_out_of_time_on_page(h, 1)

    again = h.poll()  # reads the overlap again: nothing new on its first page

    assert again.status == "partial"
    orders = again.resources["orders"]
    assert (orders.status, orders.checkpoints, orders.events_emitted) == ("partial", 1, 0)
    assert h.table.cursors["orders"].after == "2"

    h.remaining = 100_000
    resumed = h.poll()
    assert resumed.resources["orders"].requests == 1  # only the page after id 2
    assert len(h.queue.messages) == 4


# -- deletion sweeps --------------------------------------------------------------------------


def test_only_resources_with_deletions_are_swept() -> None:
    h = harness([orders_plan(), sweep_plan()])
    sweeps = FakeSweeps()
    h.deps_overrides["sweeps"] = sweeps
    h.store.create(1)

    result = h.poll()

    assert result.status == "ok"
    assert result.resources["orders"].error is None
    assert set(sweeps.states) == {"products"}


@pytest.mark.parametrize(
    ("quota", "left", "stops"),
    [
        (150, 75, True),  # half used: stop
        (150, 76, False),
        (5, 2, True),  # an odd window: 3 of 5 used is more than half
        (5, 3, False),
        (1, 0, True),  # a window of one request, spent
        (1, 1, False),
        (0, 0, False),  # no window known
    ],
)
def test_a_sweep_stops_once_half_the_store_window_is_used(
    monkeypatch: pytest.MonkeyPatch, quota: int, left: int, stops: bool
) -> None:
    h = harness([sweep_plan()])
    sweeps = FakeSweeps()
    h.deps_overrides["sweeps"] = sweeps
    for oid in range(1, 301):  # two pages of ids
        h.store.create(oid)
    monkeypatch.setattr(FakeSession, "governor", SimpleNamespace(left=left, quota=quota), raising=False)

    h.poll()

    assert sweeps.states["products"].running is stops


# -- the tie passes of a store sorted by updated time without id paging -------------------------


def test_records_past_the_store_clock_are_counted_once_across_tie_passes() -> None:
    h = harness([orders_plan(keyset=False, page_size=2)])
    for oid in (1, 2, 3):
        h.store.create(oid)  # a tie: more than a page in one second
    h.store.tick(100)
    h.store.create(4)  # stamped past the clock the poll reads below
    h.store.now = T0 + timedelta(seconds=10)
    h.lambda_now = h.store.now

    result = h.poll()

    assert sorted(oid for oid, _, _ in h.queue.events()) == ["1", "2", "3"]
    orders = result.resources["orders"]
    assert orders.deferred == 1
    assert h.table.last_poll is not None
    assert h.table.last_poll["resources"]["orders"]["deferred"] == 1


def test_a_tie_pass_that_ends_on_records_past_the_clock_is_confirmed_before_the_read_completes() -> None:
    """Offset pages inside one second: a record of the tie written during the read (and
    stamped past the store clock) shifts an unread one back behind the reader. The page
    that shows only records past the clock ends the pass, but the read is complete only
    once two passes agree: the shifted record is still announced."""
    h = harness([orders_plan(keyset=False, page_size=2)])
    for oid in (1, 2, 3):
        h.store.create(oid)  # the tie: more than a page in one second
    h.store.tick(100)
    for oid in (7, 8, 9):
        h.store.create(oid)  # past the clock the poll reads below
    clock = T0 + timedelta(seconds=10)
    h.store.now = h.lambda_now = clock

    def write_during_the_read(number: int) -> None:
        if number == 2:
            h.store.hook = None
            h.store.now = T0 + timedelta(seconds=200)
            h.store.update(1)  # leaves the tie: 3 moves back to the page already read
            h.store.now = clock

    h.store.hook = write_during_the_read

    result = h.poll()

    assert result.status == "ok"
    assert sorted(oid for oid, _, _ in h.queue.events()) == ["1", "2", "3"]
