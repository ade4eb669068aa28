"""Edges of the deletion sweep that the scenario tests in test_sweep.py do not reach: an
empty listing page, a deletion next to an archived order, a sweep spread over several
polls, an archive landing between the poll's read and the sweep's listing, a sweep
whose cursor write was lost, and the figures a due poll reports for its resource."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from tests.unit.poll.fakes import Harness, sweep_plan
from tests.unit.poll.test_sweep import HOUR, crash_before_the_sweeps_cursor, deleted, poll, sweep_harness


def _raw(message: dict[str, Any]) -> dict[str, Any]:
    """The record a message's body carries (``raw``)."""
    raw = json.loads(message["body"])["message"]["raw"]
    return raw[raw["objectType"]][0]


def _deleted_messages(h: Harness, oid: str) -> list[dict[str, Any]]:
    return [m for m in h.queue.messages if m["eventType"] == "DELETED" and m["objectId"] == oid]


def _before_listing(h: Harness, action: Any) -> None:
    """Run ``action`` once, when the sweep starts listing (after the poll's own read):
    the sweep's request has no lower bound, the poll's always has one."""
    inner = h.store.keyset_pages
    done: list[bool] = []

    def keyset_pages(lower: Any, page_size: int, after: str | None) -> Any:
        if lower is None and not done:
            done.append(True)
            action()
        return inner(lower, page_size, after)

    h.store.keyset_pages = keyset_pages  # type: ignore[method-assign]


def test_an_id_announced_and_deleted_before_the_first_sweep_listed_it_is_deleted_once_later() -> None:
    """The first sweep only records ids (README): the product it never saw is not
    announced by it, but by the next sweep, which diffs the ids announced since, once."""
    h, sweeps = sweep_harness(1)  # an empty store but for product 1
    _before_listing(h, lambda: h.store.delete(1))
    first = poll(h)  # announces 1 CREATED; the first sweep lists an empty page
    assert first.status == "ok"
    assert [m["eventType"] for m in h.queue.messages] == ["CREATED"]
    assert sweeps.states["products"].generation == 1 and not sweeps.states["products"].running
    for _ in range(3):
        assert poll(h, HOUR).status == "ok"
    assert [oid for oid, _ in deleted(h)] == ["1"]


def test_a_deletion_next_to_an_archived_order_in_one_page_is_announced_with_only_its_id() -> None:
    h, _ = sweep_harness(3, name="orders")
    poll(h)
    h.store.update(2, is_deleted=True)  # archived: the poll announces it
    h.store.delete(3)  # gone: only the sweep can tell
    poll(h)
    poll(h, HOUR)
    assert sorted(oid for oid, _ in deleted(h)) == ["2", "3"]
    (gone,) = _deleted_messages(h, "3")
    assert _raw(gone) == {"id": 3}  # the sweep keeps ids, not records (README)


def test_an_order_archived_between_the_read_and_the_sweep_is_deleted_by_that_poll_with_its_own_event_id() -> (
    None
):
    """The sweep announces an archived order the poll has not announced, stamped with the
    order's own date: the next poll's DELETED for it is the same event (delivery keeps one)."""
    h, _ = sweep_harness(3, name="orders")
    poll(h)

    def archive() -> None:
        h.store.tick(2)  # the archive is stamped after the sweep's start
        h.store.update(2, is_deleted=True)

    _before_listing(h, archive)
    due = poll(h, HOUR)
    assert due.status == "ok" and due.resources["orders"].events_emitted == 1
    (swept,) = _deleted_messages(h, "2")
    archived_at = h.store.records[2]["date_modified"]
    assert swept["changedAt"].startswith(archived_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert _raw(swept)["id"] == 2 and _raw(swept)["is_deleted"] is True

    poll(h)  # the poll reads the archive itself
    assert len(_deleted_messages(h, "2")) == 2
    assert {m["eventId"] for m in _deleted_messages(h, "2")} == {swept["eventId"]}


def test_ids_deleted_past_the_last_listed_page_are_found_on_an_empty_last_page() -> None:
    h, _ = sweep_harness(300)
    h.deps_overrides["sweep_pages"] = 1  # 2 pages of ids: two polls per sweep
    poll(h)
    poll(h)  # the first sweep is complete
    poll(h, HOUR)  # the next one lists ids 1..250
    for oid in range(251, 301):
        h.store.delete(oid)
    result = poll(h)  # the rest of the listing is one empty page
    assert result.status == "ok"
    assert sorted(int(oid) for oid, _ in deleted(h)) == list(range(251, 301))


def test_a_swept_resource_without_an_archived_flag_gets_its_deletions() -> None:
    """Products have no ``is_deleted``: every listed record is live."""
    h, _ = sweep_harness(3)
    h.plans = [replace(sweep_plan(), read_deleted=None)]
    poll(h)
    h.store.delete(2)
    assert poll(h, HOUR).status == "ok"
    assert [oid for oid, _ in deleted(h)] == ["2"]


def test_a_sweep_over_several_polls_keeps_one_numbered_part_per_poll_and_drops_the_old_ones() -> None:
    """The known set of a generation is parts 0..parts-1 (sweep.py); the previous
    generation's parts go once the next sweep completes, so the table does not grow."""
    h, sweeps = sweep_harness(600)
    h.deps_overrides["sweep_pages"] = 1  # 3 pages of ids: three polls per sweep
    for _ in range(3):
        poll(h)
    state = sweeps.states["products"]
    assert not state.running and state.generation == 1
    assert sorted(sweeps.parts) == [("products", 1, 0), ("products", 1, 1), ("products", 1, 2)]
    assert state.parts == 3
    assert "load_known" not in sweeps.calls  # the first sweep has no known set to read

    h.store.delete(300)  # in the middle part
    poll(h, HOUR)
    poll(h)
    poll(h)
    state = sweeps.states["products"]
    assert not state.running and state.generation == 2 and state.parts == 3
    assert sorted(sweeps.parts) == [("products", 2, 0), ("products", 2, 1), ("products", 2, 2)]
    assert [oid for oid, _ in deleted(h)] == ["300"]


def test_a_poll_lists_at_most_sweep_pages_pages_of_ids() -> None:
    h, sweeps = sweep_harness(1000)
    h.deps_overrides["sweep_pages"] = 2  # 4 pages of ids
    before = h.store.requests
    first = poll(h)
    # The normal read's 4 pages of new products, then 2 pages of ids (README: "at most 40").
    assert h.store.requests - before == 4 + 2
    assert first.resources["products"].requests == 4 + 2
    assert sweeps.states["products"].running


def test_a_due_polls_summary_adds_the_sweeps_events_requests_and_checkpoint() -> None:
    h, _ = sweep_harness(3)
    poll(h)
    h.store.create(4)
    h.store.delete(2)
    result = poll(h, HOUR)  # the read announces 4, then the sweep lists one page and finds 2
    figures = result.resources["products"]
    assert sorted((m["objectId"], m["eventType"]) for m in h.queue.messages[3:]) == [
        ("2", "DELETED"),
        ("4", "CREATED"),
    ]
    assert figures.events_emitted == 2
    assert figures.requests == 1 + 1
    assert figures.checkpoints == 2  # the read's, and the sweep's (when the next is due)


def test_the_sweeps_unreadable_record_adds_to_the_reads_in_the_summary() -> None:
    h, _ = sweep_harness(3)
    poll(h)
    h.plans = [replace(h.plans[0], read_id=lambda r: None if r["id"] == 2 else str(r["id"]))]
    h.store.update(2)  # the read meets it too
    result = poll(h, HOUR)
    assert result.resources["products"].unreadable == 2
    assert deleted(h) == []


def test_the_sweep_lists_with_its_own_request_in_pages_of_250() -> None:
    """The sweep's request (``include_fields``, the whole resource whatever ``where``
    says) is not the poll's; 250 is the most a BigCommerce page holds."""
    h, _ = sweep_harness(3)
    listing = object()
    h.plans = [replace(sweep_plan(), build_sweep_request=lambda: listing)]
    asked: list[tuple[Any, int]] = []
    inner = h.store.keyset_pages

    def keyset_pages(lower: Any, page_size: int, after: str | None) -> Any:
        if lower is listing or lower is None:
            asked.append((lower, page_size))
            lower = None
        return inner(lower, page_size, after)

    h.store.keyset_pages = keyset_pages  # type: ignore[method-assign]
    poll(h)
    assert asked == [(listing, 250)]


def test_a_sweep_whose_cursor_write_was_lost_is_finished_and_the_next_one_runs() -> None:
    h, sweeps = sweep_harness(3)
    poll(h)
    h.store.create(4)
    poll(h)
    h.store.delete(2)
    crashed = crash_before_the_sweeps_cursor(h)
    poll(h, HOUR)
    assert crashed
    finished = poll(h)  # finds the completed sweep without its sweepAt: finishes it
    assert finished.status == "ok"
    assert h.table.cursors["products"].sweep_at == sweeps.states["products"].next_at
    h.store.delete(3)
    assert poll(h, HOUR).status == "ok"
    assert sorted(oid for oid, _ in deleted(h)) == ["2", "3"]


def test_a_completed_sweep_saved_before_through_was_recorded_is_still_finished() -> None:
    """A sweep item written before ``through`` existed (db8bb30) has none: not knowing
    which ids it covered, its finish drops none of the ids announced since (the next
    sweep diffs them again)."""
    h, sweeps = sweep_harness(0)
    poll(h)  # a new store: the first sweep lists no id
    h.store.create(1)
    h.store.create(2)
    poll(h)  # 1 and 2 announced CREATED since the first sweep
    crashed = crash_before_the_sweeps_cursor(h)
    poll(h, HOUR)
    assert crashed
    sweeps.states["products"] = replace(sweeps.states["products"], through=None)
    finished = poll(h)
    assert finished.status == "ok"
    cursor = h.table.cursors["products"]
    assert cursor.sweep_at == sweeps.states["products"].next_at
    assert cursor.sweep_new == {1, 2}
