"""When a read that emitted nothing still writes its cursor (``_Run._worth_writing``), what
each checkpoint records, and the run's own edges: the time budget's boundary and the
summary's instance id."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from tests.unit.poll.fakes import T0, harness, orders_plan


def test_the_summary_names_its_instance() -> None:
    h = harness()
    h.store.create(1)
    assert h.poll().to_dict()["instanceId"] == "inst-1"


def test_with_exactly_the_reserve_left_the_poll_still_reads() -> None:
    """It stops once *less* than ``reserve_ms`` is left (PollDeps)."""
    h = harness()
    h.store.create(1)
    h.remaining = h.deps().reserve_ms
    result = h.poll()
    assert result.status == "ok" and result.resources["orders"].status == "ok"
    assert [e[2] for e in h.queue.events()] == ["CREATED"]


def test_each_cursor_records_its_own_resources_requests() -> None:
    h = harness([orders_plan(page_size=1), orders_plan(name="customers")])
    for oid in (1, 2, 3):
        h.store.create(oid)
    h.poll()
    assert h.table.cursor_stats["orders"]["requests"] == 3  # one record a page
    assert h.table.cursor_stats["customers"]["requests"] == 1


def test_a_resumed_read_whose_rest_is_gone_still_ends_the_read() -> None:
    """A read stopped for time keeps a resume token; when the rest of it turns out empty
    (its records deleted) the next poll still writes the read as ended, or every later
    poll would resume after that token and never see an older order change."""
    h = harness([orders_plan(page_size=2)])
    for oid in (1, 2, 3, 4):
        h.store.create(oid)
    h.store.tick(10)
    h.lambda_now = h.store.now
    h.store.hook = lambda page: setattr(h, "remaining", 1_000) if page == 1 else None
    assert h.poll().status == "partial"  # stopped after the first page
    assert h.table.cursors["orders"].after == "2"
    h.store.hook = None
    h.remaining = 100_000
    h.store.delete(3)
    h.store.delete(4)
    h.store.tick(60)
    h.lambda_now = h.store.now
    assert h.poll().status == "ok"
    h.store.tick(60)
    h.store.update(1)
    h.lambda_now = h.store.now
    h.poll()
    assert [(oid, kind) for oid, _, kind in h.queue.events()] == [
        ("1", "CREATED"),
        ("2", "CREATED"),
        ("1", "UPDATED"),
    ]


def test_a_quiet_re_read_that_cannot_move_the_next_reads_start_writes_nothing() -> None:
    """Seconds after the instance's origin the overlap reaches back past it: a quiet poll
    re-reads the same records and its next start stays at the origin, so it writes
    nothing (README: a quiet poll writes nothing) even though the store clock moved."""
    h = harness()
    h.store.create(1)
    h.store.tick(2)
    h.lambda_now = h.store.now
    h.poll()
    writes = h.table.writes()
    h.store.tick(2)
    h.lambda_now = h.store.now
    result = h.poll()
    assert result.resources["orders"].records_read == 1 and result.events_emitted == 0
    assert h.table.writes() == writes


def test_a_record_dated_in_the_future_does_not_hold_the_next_read_back() -> None:
    """Id-ordered reads emit a record stamped past the store clock (a bad date), but the
    next read still starts pollDelay before the store time the last read went through,
    not before that record (README); and a poll repeated in the same store second, which
    cannot move that start, writes nothing."""
    h = harness()
    h.store.tick(10)
    h.store.create(1)
    h.store.create(2)
    h.store.records[2]["date_modified"] = T0 + timedelta(days=1)
    h.store.tick(2)
    h.lambda_now = h.store.now
    h.poll()
    writes = h.table.writes()
    again = h.poll()  # the same second: a re-read that cannot move anything
    assert again.resources["orders"].records_read == 2
    assert h.table.writes() == writes
    h.store.tick(4)  # 1 is now 6 s old: past the next read's start once this one is saved
    h.lambda_now = h.store.now
    assert h.poll().resources["orders"].records_read == 2  # re-reads 1 (overlap 5 s) and 2
    h.store.tick(6)
    h.lambda_now = h.store.now
    assert h.poll().resources["orders"].records_read == 1  # only the future-dated 2
    assert [e[0] for e in h.queue.events()] == ["1", "2"]


def test_a_read_that_announced_changes_moves_the_told_point_even_when_its_start_stays() -> None:
    """README: an object is CREATED when it was created at or after the point the endpoint
    was last told about its resource. A read that announced a change in the store's
    current second cannot move the next read's start, but it did tell the endpoint up to
    that second: an object created before it, first seen by a later poll (a late commit,
    what ``createdCheckTolerance`` is for), is UPDATED."""
    h = harness([orders_plan(keyset=False)])
    h.store.tick(100)
    h.store.create(1)
    h.lambda_now = h.store.now
    h.poll()
    at = h.store.now
    h.store.records[2] = {
        "id": 2,
        "date_created": at - timedelta(seconds=50),
        "date_modified": at - timedelta(seconds=1),
    }
    h.store.tick(1)
    h.lambda_now = h.store.now
    h.poll()
    assert [(oid, kind) for oid, _, kind in h.queue.events()] == [("1", "CREATED"), ("2", "UPDATED")]


def test_polls_that_only_read_again_a_record_dated_in_the_future_write_nothing() -> None:
    """Such a record is read by every poll until the store clock passes its date: moving
    the next read's start cannot leave it behind, so a quiet poll stays write-free."""
    h = harness()
    h.store.tick(10)
    h.store.create(1)
    h.store.records[1]["date_modified"] = T0 + timedelta(days=1)
    h.store.tick(2)
    h.lambda_now = h.store.now
    h.poll()
    assert [e[0] for e in h.queue.events()] == ["1"]
    writes = h.table.writes()
    for _ in range(3):
        h.store.tick(60)
        h.lambda_now = h.store.now
        assert h.poll().resources["orders"].records_read == 1
    assert h.table.writes() == writes


def _with_unreadable_date(oid: int) -> Any:
    """The orders plan, reading no date for ``oid`` (the store still filters on its real one)."""
    plan = orders_plan()
    return replace(plan, read_updated=lambda r: None if r["id"] == oid else plan.read_updated(r))


def test_a_record_whose_date_cannot_be_read_is_left_behind_even_beside_one_dated_in_the_future() -> None:
    """Its real date may be anywhere: a read that returned one moves the next read's start,
    so the store stops returning it once that date is behind (one unreadable record is
    enough), though the future-dated record alone would not be worth a write."""
    h = harness([_with_unreadable_date(2)])
    h.store.tick(10)
    h.store.create(1)
    h.store.records[1]["date_modified"] = T0 + timedelta(days=1)
    h.store.create(2)
    h.store.tick(2)
    h.lambda_now = h.store.now
    assert h.poll().resources["orders"].unreadable == 1
    h.store.tick(60)
    h.lambda_now = h.store.now
    assert h.poll().resources["orders"].records_read == 2
    h.store.tick(60)
    h.lambda_now = h.store.now
    assert h.poll().resources["orders"].records_read == 1  # only the future-dated 1


def test_a_poll_in_the_same_second_as_the_last_writes_nothing_even_with_an_unreadable_record() -> None:
    h = harness([_with_unreadable_date(2)])
    h.store.tick(10)
    h.store.create(1)
    h.store.create(2)
    h.store.tick(2)
    h.lambda_now = h.store.now
    h.poll()
    writes = h.table.writes()
    again = h.poll()  # the same store second: the next read's start cannot move
    assert again.resources["orders"].records_read == 2 and again.resources["orders"].unreadable == 1
    assert h.table.writes() == writes


def test_a_poll_whose_oldest_record_sits_exactly_at_the_next_start_writes_nothing() -> None:
    """The store's lower bound is inclusive: a record stamped exactly at the new start is
    read again whether or not the item moves, so the move is not worth a write."""
    h = harness()
    h.store.tick(10)
    h.store.create(1)  # stamped T0+10
    h.store.tick(2)
    h.lambda_now = h.store.now
    h.poll()  # through T0+12: the next read starts at T0+7 (overlap 5 s)
    writes = h.table.writes()
    h.store.tick(3)  # through T0+15 would start the next read at T0+10, order 1's own second
    h.lambda_now = h.store.now
    assert h.poll().resources["orders"].records_read == 1
    assert h.table.writes() == writes
