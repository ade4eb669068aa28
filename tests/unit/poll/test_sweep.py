"""The deletion sweep (``"deletions": {"everyMinutes": n}``): one DELETED per deletion,
exactly once, across interrupted sweeps, re-created ids and archived orders; nothing at
all when it is off or not due."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from bcpoller.poll.sweep import PART_IDS, decode_ids, encode_ids, gone_between, parts_of

from tests.unit.poll.fakes import FakeSweeps, Harness, harness, orders_plan, sweep_plan

HOUR = 3600


def sweep_harness(records: int = 0, **plan_kwargs: Any) -> tuple[Harness, FakeSweeps]:
    h = harness([sweep_plan(**plan_kwargs)])
    sweeps = FakeSweeps()
    h.deps_overrides["sweeps"] = sweeps
    for oid in range(1, records + 1):
        h.store.create(oid)
    return h, sweeps


def poll(h: Harness, advance_s: float = 60) -> Any:
    h.store.tick(advance_s)
    h.lambda_now = h.store.now
    return h.poll()


def deleted(h: Harness) -> list[tuple[str, str]]:
    return [(m["objectId"], m["eventId"]) for m in h.queue.messages if m["eventType"] == "DELETED"]


def crash_before_the_sweeps_cursor(h: Harness) -> list[bool]:
    """The next checkpoint that records a sweep fails once, as if the function stopped
    between saving the completed sweep and its cursor; the list says whether it did."""
    crashed: list[bool] = []

    def crash(state: Any) -> None:
        if state.sweep_at is not None and not crashed:
            crashed.append(True)
            raise RuntimeError("the function was stopped before the sweep's cursor was saved")

    h.table.before_checkpoint = crash
    return crashed


def test_a_delete_between_polls_is_one_deleted_event_and_never_again() -> None:
    h, sweeps = sweep_harness(3)
    poll(h)  # announces 1..3 and lists them: the first sweep is the baseline
    assert deleted(h) == []
    assert sweeps.states["products"].generation == 1

    h.store.delete(2)
    poll(h)  # not due yet: nothing
    assert deleted(h) == []
    poll(h, HOUR)
    assert [oid for oid, _ in deleted(h)] == ["2"]
    message = next(m for m in h.queue.messages if m["eventType"] == "DELETED")
    assert message["changedAt"].startswith(h.store.now.strftime("%Y-%m-%dT%H:%M"))  # time of detection

    for _ in range(3):
        poll(h, HOUR)
    assert [oid for oid, _ in deleted(h)] == ["2"]


def test_a_deleted_then_recreated_id_is_deleted_created_and_deleted_again() -> None:
    h, _ = sweep_harness(2)
    poll(h)
    h.store.delete(1)
    poll(h, HOUR)
    h.store.create(1)
    poll(h)
    h.store.delete(1)
    poll(h, HOUR)
    kinds = [(m["objectId"], m["eventType"]) for m in h.queue.messages if m["objectId"] == "1"]
    assert kinds == [("1", "CREATED"), ("1", "DELETED"), ("1", "CREATED"), ("1", "DELETED")]
    ids = [eid for _, eid in deleted(h)]
    assert len(set(ids)) == 2  # two deletions, two events


def test_a_sweep_longer_than_one_poll_continues_and_finds_every_deletion_once() -> None:
    h, sweeps = sweep_harness(1000)
    h.deps_overrides["sweep_pages"] = 2  # 4 pages of ids: two polls per sweep
    poll(h)
    assert sweeps.states["products"].running
    poll(h)
    assert not sweeps.states["products"].running and sweeps.states["products"].generation == 1
    for oid in (10, 600, 1000):  # first half, second half, the very last id
        h.store.delete(oid)
    poll(h, HOUR)
    assert sweeps.states["products"].running
    h.store.delete(20)  # behind the running sweep: the next one finds it
    poll(h)
    assert sorted(oid for oid, _ in deleted(h)) == ["10", "1000", "600"]
    poll(h, HOUR)
    poll(h)
    assert sorted(oid for oid, _ in deleted(h)) == ["10", "1000", "20", "600"]


def test_a_crash_between_send_and_save_resends_the_same_event_ids() -> None:
    h, sweeps = sweep_harness(600)
    poll(h)
    h.store.delete(5)
    h.store.delete(300)

    def crash(part: int) -> None:
        raise RuntimeError("the function was stopped before the sweep saved")

    sweeps.before_put = crash
    poll(h, HOUR)
    sent = deleted(h)
    assert sorted(oid for oid, _ in sent) == ["300", "5"]
    sweeps.before_put = None
    poll(h)
    again = deleted(h)
    # The resumed sweep sends the same deletions with the same eventIds (delivery keeps one
    # of each), and none beyond them; the one after it sends nothing.
    assert Counter(eid for _, eid in again) == Counter({eid: 2 for _, eid in sent})
    poll(h, HOUR)
    assert len(deleted(h)) == len(again)


def test_a_store_failure_between_pages_resumes_without_loss_or_duplicate() -> None:
    h, _ = sweep_harness(1000)
    h.deps_overrides["sweep_pages"] = 2
    poll(h)
    poll(h)
    h.store.delete(100)
    h.store.delete(900)
    requests = h.store.requests
    h.store.fail_on_request = requests + 3  # the sweep's second page (after the poll's one)
    poll(h, HOUR)
    h.store.fail_on_request = None
    for _ in range(4):
        poll(h)
    assert sorted(oid for oid, _ in deleted(h)) == ["100", "900"]


def test_an_archived_order_is_deleted_exactly_once() -> None:
    h, _ = sweep_harness(3, name="orders")
    poll(h)
    h.store.update(2, is_deleted=True)
    poll(h)  # the poll reads the change: DELETED, not UPDATED
    assert [(m["objectId"], m["eventType"]) for m in h.queue.messages[3:]] == [("2", "DELETED")]
    poll(h, HOUR)  # the sweep sees it archived, and knows the poll announced it
    poll(h, HOUR)
    assert [oid for oid, _ in deleted(h)] == ["2"]


def test_deletions_off_nothing_changes() -> None:
    on, off = sweep_harness(5)[0], harness([orders_plan(name="products")])
    sweeps = FakeSweeps()
    off.deps_overrides["sweeps"] = sweeps
    for oid in range(1, 6):
        off.store.create(oid)
    for h in (on, off):
        poll(h)
        h.store.delete(3)
        h.store.update(4)
        poll(h, HOUR)
    assert sweeps.calls == {}
    assert [m["eventType"] for m in off.queue.messages] == ["CREATED"] * 5 + ["UPDATED"]
    assert "sweepAt" not in str(off.table.cursors["products"])
    assert off.table.cursors["products"].sweep_at is None


def test_a_quiet_poll_not_due_reads_and_writes_nothing_more() -> None:
    h, sweeps = sweep_harness(3)
    poll(h)
    poll(h)
    calls, writes, requests = dict(sweeps.calls), h.table.writes(), h.store.requests
    poll(h)
    assert sweeps.calls == calls
    assert h.table.writes() == writes
    assert h.store.requests == requests + 1  # the normal poll's one page, no listing


def test_fifty_thousand_products_take_one_request_per_page_of_ids() -> None:
    h, sweeps = sweep_harness(50_000)
    h.deps_overrides["sweep_pages"] = 1000
    h.plans = [sweep_plan()]
    poll(h)  # the normal poll announces them all, then the first sweep lists them
    before = h.store.requests
    h.store.delete(25_000)
    poll(h, HOUR)
    # The normal poll's one page, then 200 pages of ids (the last one says it is the last).
    assert h.store.requests - before == 1 + 50_000 // 250
    assert [oid for oid, _ in deleted(h)] == ["25000"]
    assert max(len(blob) for blob in sweeps.parts.values()) < 400_000


def test_known_ids_round_trip_and_every_part_stays_far_below_400_kb() -> None:
    rng = random.Random(7)
    # The worst case: ids spread over the whole 32-bit range (large deltas, no repetition).
    ids = sorted(rng.sample(range(1, 2**31), 50_000))
    parts = parts_of(ids)
    assert [i for p in parts for i in p] == ids
    assert all(len(p) <= PART_IDS for p in parts)
    sizes = [len(encode_ids(p)) for p in parts]
    assert max(sizes) < 100_000
    assert [i for p in parts for i in decode_ids(encode_ids(p))] == ids
    assert len(encode_ids(range(1, 50_001))) < 1_000  # dense ids: about a bit each


@pytest.mark.parametrize(
    ("low", "high", "listed", "gone"),
    [
        (None, 5, {1, 3, 5}, [2, 4]),
        (5, 9, {7}, [6, 8, 9]),
        (9, None, {10}, [11, 12]),
    ],
)
def test_gone_between_covers_exactly_the_page_range(
    low: int | None, high: int | None, listed: set[int], gone: list[int]
) -> None:
    assert gone_between(list(range(1, 13)), low, high, listed) == gone


def test_a_failing_sweep_leaves_the_poll_ok_and_says_why() -> None:
    h, _ = sweep_harness(3)
    poll(h)
    h.store.fail_on_request = h.store.requests + 2
    result = poll(h, HOUR)
    assert result.status == "ok"
    assert "deletion sweep" in (result.resources["products"].error or "")


def test_a_crash_after_a_sweep_completes_but_before_its_cursor_is_saved_repeats_nothing() -> None:
    h, sweeps = sweep_harness(3)
    poll(h)
    h.store.create(4)  # announced CREATED: the next sweep also diffs it
    poll(h)
    h.store.delete(4)
    h.store.delete(2)
    crashed = crash_before_the_sweeps_cursor(h)
    poll(h, HOUR)
    assert crashed and sorted(oid for oid, _ in deleted(h)) == ["2", "4"]
    for _ in range(3):
        poll(h)
        poll(h, HOUR)
    assert sorted(oid for oid, _ in deleted(h)) == ["2", "4"]
    assert not sweeps.states["products"].running


def test_sweeps_run_after_every_normal_read_of_the_poll() -> None:
    h, _ = sweep_harness(600)
    h.plans = [sweep_plan(), orders_plan(name="orders")]  # the swept resource comes first
    calls: list[str] = []
    inner = h.store.keyset_pages

    def keyset_pages(lower: Any, page_size: int, after: str | None) -> Any:
        calls.append("sweep" if lower is None else "poll")
        return inner(lower, page_size, after)

    h.store.keyset_pages = keyset_pages  # type: ignore[method-assign]
    poll(h)
    assert calls[:2] == ["poll", "poll"] and set(calls[2:]) == {"sweep"}


def test_a_sweep_stops_when_half_the_store_window_is_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from tests.unit.poll.fakes import FakeSession

    h, sweeps = sweep_harness(1000)
    governor = SimpleNamespace(left=150, quota=150)
    monkeypatch.setattr(FakeSession, "governor", governor, raising=False)
    poll(h)
    assert not sweeps.states["products"].running  # a full window: the 4 pages in one poll
    h.store.delete(900)
    governor.left = 60  # other apps of the store used most of this window
    poll(h, HOUR)
    assert sweeps.states["products"].running  # one page, the rest waits
    assert deleted(h) == []
    governor.left = 150
    poll(h)
    assert [oid for oid, _ in deleted(h)] == ["900"]


def test_a_page_with_an_unreadable_id_sends_nothing_and_saves_nothing() -> None:
    h, sweeps = sweep_harness(3)
    poll(h)
    state = sweeps.states["products"]
    # The listing shows a record whose id cannot be read.
    h.plans = [replace(h.plans[0], read_id=lambda r: None if r["id"] == 2 else str(r["id"]))]
    result = poll(h, HOUR)
    assert deleted(h) == []
    assert "without a whole-number id" in (result.resources["products"].error or "")
    assert sweeps.states["products"].generation == state.generation


def test_an_archived_order_deleted_for_good_before_the_next_sweep_is_deleted_once() -> None:
    """The poll announced the archive; the sweep then finds the order gone altogether. One
    DELETED, not a second one stamped with the sweep's start (a different eventId)."""
    h, _ = sweep_harness(3, name="orders")
    poll(h)
    h.store.update(2, is_deleted=True)
    poll(h)  # DELETED, from the poll
    h.store.delete(2)
    poll(h, HOUR)
    poll(h, HOUR)
    assert [oid for oid, _ in deleted(h)] == ["2"]


def test_an_archived_order_restored_then_deleted_for_good_is_deleted_again() -> None:
    """Restored, it is live again (UPDATED): its later deletion is news, and the sweep's."""
    h, _ = sweep_harness(3, name="orders")
    poll(h)
    h.store.update(2, is_deleted=True)
    poll(h)  # DELETED
    h.store.update(2, is_deleted=False)
    poll(h)  # UPDATED: restored
    h.store.delete(2)
    poll(h, HOUR)
    poll(h, HOUR)
    assert [oid for oid, _ in deleted(h)] == ["2", "2"]
    kinds = [m["eventType"] for m in h.queue.messages if m["objectId"] == "2"]
    assert kinds == ["CREATED", "DELETED", "UPDATED", "DELETED"]


def test_an_order_archived_behind_a_running_sweep_then_deleted_for_good_is_deleted_once() -> None:
    """The sweep listed order 10 live, then the order was archived (the poll announced it)
    before that sweep ended: the next sweep knows 10 and finds it gone for good. It must not
    announce it again, stamped with its own start (another eventId)."""
    h, sweeps = sweep_harness(1000, name="orders")
    h.deps_overrides["sweep_pages"] = 2  # 4 pages of ids: two polls per sweep
    poll(h)
    poll(h)  # the first sweep (ids only) completes
    poll(h, HOUR)  # the second sweep lists ids 1-500, 10 among them, live
    assert sweeps.states["orders"].running
    h.store.update(10, is_deleted=True)
    poll(h)  # the poll announces 10 DELETED; the sweep ends
    assert not sweeps.states["orders"].running
    h.store.delete(10)
    for _ in range(2):
        poll(h, HOUR)
        poll(h)
    assert [oid for oid, _ in deleted(h)] == ["10"]
    assert 10 not in h.table.cursors["orders"].sweep_gone  # passed by a later sweep: dropped
