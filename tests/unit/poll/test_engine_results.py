"""What a poll reports: the summary the handler returns (and ``sam local invoke`` prints),
the report status reads back, the busy poll's log line, and the page reads it leaves open.

Each figure is checked against what the fakes saw (the store's requests, the table's
checkpoints, the queue's messages), not against numbers copied from a run."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from bcpoller.connector.errors import StoreError
from bcpoller.messages import iso_utc

from tests.unit.api.helpers import World, call
from tests.unit.poll.fakes import FakeConnector, FakeSession, Harness, Page, harness, orders_plan

ORG = {"Authorization": "User ua, Organization oa"}


def _busy() -> Harness:
    """One page with every kind of record: three new orders, one without an id (unreadable)
    and one stamped past the store's clock (deferred to the next poll)."""
    h = harness([orders_plan(keyset=False)])
    for oid in (1, 2, 3):
        h.store.create(oid)
    h.store.tick(1)
    h.store.create(99)
    h.store.records[99]["id"] = None
    h.store.tick(30)
    h.store.create(5)
    h.store.records[5]["date_modified"] = h.store.now + timedelta(seconds=20)
    h.lambda_now = h.store.now
    return h


# -- the summary the handler returns ---------------------------------------------------


def test_the_summary_names_every_figure_of_each_resource_with_the_polls_own_counts() -> None:
    h = _busy()
    summary = h.poll().to_dict()
    cursor = h.table.cursors["orders"].cursor
    assert cursor is not None
    assert summary == {
        "instanceId": "inst-1",
        "status": "ok",
        "resources": {
            "orders": {
                "status": "ok",
                "recordsRead": len(h.store.records),
                "eventsEmitted": len(h.queue.messages),
                "requests": h.store.requests,
                "checkpoints": h.table.calls["checkpoint"],
                "deferred": 1,
                "unreadable": 1,
                "unreadableReason": "a record has no id in 'id'",
                "cursor": iso_utc(cursor),
                "lastError": "orders: a record without a readable id or updated date was skipped",
            }
        },
    }
    # The figures are the poll's, not zeros that happen to match: it did read, send, write.
    assert len(h.queue.messages) == 3 and h.table.calls["checkpoint"] >= 1


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        (None, "instance not found (deleted)"),  # README quotes this one (sam local invoke)
        ({"events_enabled": False}, "events are disabled for this instance"),
        ({"auth_state": "failed"}, "the store refused the credentials; polling resumes when they change"),
    ],
)
def test_a_skipped_poll_returns_its_status_and_why(update: dict[str, Any] | None, reason: str) -> None:
    h = harness()
    if update is None:
        h.table.instance = None
    else:
        assert h.table.instance is not None
        h.table.instance = h.table.instance.model_copy(update=update)
    assert h.poll().to_dict() == {
        "instanceId": "inst-1",
        "status": "skipped",
        "resources": {},
        "reason": reason,
    }


def test_a_poll_without_a_reason_has_no_reason_key() -> None:
    h = harness()
    h.store.create(1)
    summary = h.poll().to_dict()
    assert summary["status"] == "ok" and "reason" not in summary


# -- what status reads back ------------------------------------------------------------


def _status_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """GET /instances/{id}/status of an instance whose stored last poll is ``report``."""
    world = World()
    world.secrets.add_org("org-a", "oa", "ua")
    configuration = {
        "store.hash": "abc123",
        "access.token": "good-token",
        "event.notification.enabled": True,
        "event.notification.callback.url": "http://127.0.0.1:9/hook",
        "event.poller.configuration": {"orders": {"url": "/hubs/ecommerce/orders"}},
    }
    created = {"element": {"key": "bigcommerce"}, "name": "shop", "configuration": configuration}
    code, data, _ = call(world.app, "POST", "/instances", body=created, headers=ORG)
    assert code == 201, data
    world.cursors.reports[data["id"]] = report
    code, status, _ = call(world.app, "GET", f"/instances/{data['id']}/status", headers=ORG)
    assert code == 200, status
    rows: list[dict[str, Any]] = status["resources"]
    return rows


def test_status_shows_the_figures_the_poll_reported() -> None:
    h = _busy()
    result = h.poll().resources["orders"]
    assert h.table.last_poll is not None
    [row] = _status_rows(h.table.last_poll)
    assert row == {
        "resource": "orders",
        "cursor": result.cursor,
        "status": "ok",
        "lastPollStart": h.table.last_poll["start"],
        "lastPollEnd": h.table.last_poll["end"],
        "recordsRead": len(h.store.records),
        "eventsEmitted": len(h.queue.messages),
        "requests": h.store.requests,
        "lastError": result.error,
        "unreadable": 1,
        "unreadableReason": "a record has no id in 'id'",
    }


def _store_error(h: Harness, length: int) -> str:
    """The store fails the second page with an error text of exactly ``length`` characters."""
    h.plans = [orders_plan(page_size=2)]
    for oid in (1, 2, 3, 4):
        h.store.create(oid)
    h.store.tick(60)
    h.lambda_now = h.store.now
    suffix = str(StoreError("", status=500))
    error = StoreError("x" * (length - len(suffix)), status=500)
    assert len(str(error)) == length

    def fail(page: int) -> None:
        if page == 2:
            raise error

    h.store.hook = fail
    return str(error)


def test_an_error_of_the_reported_length_is_shown_whole() -> None:
    h = harness()
    text = _store_error(h, 300)
    assert h.poll().resources["orders"].error == text
    assert h.table.last_poll is not None
    [row] = _status_rows(h.table.last_poll)
    assert row["status"] == "error" and row["lastError"] == text


def test_a_longer_error_is_shortened_in_what_status_shows_and_kept_whole_in_the_result() -> None:
    h = harness()
    text = _store_error(h, 301)
    assert h.poll().resources["orders"].error == text
    assert h.table.last_poll is not None
    stored = h.table.last_poll["resources"]["orders"]
    assert stored["lastError"] == text[:299] + "…"
    [row] = _status_rows(h.table.last_poll)
    assert row["lastError"] == text[:299] + "…"


# -- the busy poll's log line ----------------------------------------------------------


def test_a_busy_polls_log_line_carries_its_figures_without_zeros_or_nulls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Logs are billed by the byte: the summary line drops what is 0 or null, and keeps
    every figure the poll did produce (a 1 as much as a 3)."""
    h = harness()
    h.store.create(1)
    h.store.tick(60)
    h.lambda_now = h.store.now
    with caplog.at_level(logging.INFO):
        result = h.poll()
    [line] = [r for r in caplog.records if r.getMessage() == "poll finished"]
    orders = result.resources["orders"]
    assert line.summary == {  # type: ignore[attr-defined]
        "status": "ok",
        "resources": {
            "orders": {
                "status": "ok",
                "recordsRead": 1,
                "eventsEmitted": 1,
                "requests": h.store.requests,
                "checkpoints": h.table.calls["checkpoint"],
                "cursor": orders.cursor,
            }
        },
    }
    assert (orders.deferred, orders.unreadable, orders.unreadable_reason, orders.error) == (0, 0, None, None)


# -- the page reads a poll opens -------------------------------------------------------


class _Read:
    """A page read that holds its connection until it ends or is closed (unlike a
    generator, nothing closes it when it is dropped)."""

    def __init__(self, pages: Iterator[Page], reads: list[_Read]) -> None:
        self._pages = pages
        self.open = True
        reads.append(self)

    def __iter__(self) -> _Read:
        return self

    def __next__(self) -> Page:
        try:
            return next(self._pages)
        except StopIteration:
            self.open = False
            raise

    def close(self) -> None:
        self.open = False


class _HeldSession(FakeSession):
    def __init__(self, store: Any, reads: list[_Read]) -> None:
        super().__init__(store)
        self.reads = reads

    def iter_pages(self, request: Any, *, page_size: int = 250) -> Iterator[Page]:
        return _Read(super().iter_pages(request, page_size=page_size), self.reads)

    def iter_keyset_pages(
        self, request: Any, *, page_size: int = 250, after: str | None = None
    ) -> Iterator[Page]:
        return _Read(super().iter_keyset_pages(request, page_size=page_size, after=after), self.reads)


class _HeldConnector(FakeConnector):
    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.reads: list[_Read] = []

    def open(self, configuration: dict[str, Any], *, deadline: float) -> FakeSession:
        return _HeldSession(self.store, self.reads)


class _ListSession(FakeSession):
    """Pages as a plain iterator (no close): the port asks for an Iterator, not a generator."""

    def iter_pages(self, request: Any, *, page_size: int = 250) -> Iterator[Page]:
        return iter(list(super().iter_pages(request, page_size=page_size)))

    def iter_keyset_pages(
        self, request: Any, *, page_size: int = 250, after: str | None = None
    ) -> Iterator[Page]:
        return iter(list(super().iter_keyset_pages(request, page_size=page_size, after=after)))


class _ListConnector(FakeConnector):
    def open(self, configuration: dict[str, Any], *, deadline: float) -> FakeSession:
        return _ListSession(self.store)


@pytest.mark.parametrize("keyset", [True, False])
def test_a_read_stopped_before_its_last_page_is_closed(keyset: bool) -> None:
    h = harness([orders_plan(page_size=1, keyset=keyset)])
    for oid in (1, 2, 3):
        h.store.create(oid)
        h.store.tick(1)
    h.store.tick(60)
    h.lambda_now = h.store.now
    h.connector = _HeldConnector(h.store)

    def out_of_time(page: int) -> None:
        h.remaining = 0  # the poll stops after this page

    h.store.hook = out_of_time
    result = h.poll()
    assert result.status == "partial" and h.store.requests == 1  # stopped early
    reads = h.connector.reads
    assert reads and [r.open for r in reads] == [False] * len(reads)


@pytest.mark.parametrize("keyset", [True, False])
def test_pages_from_any_iterator_are_polled(keyset: bool) -> None:
    h = harness([orders_plan(page_size=2, keyset=keyset)])
    for oid in (1, 2, 3):
        h.store.create(oid)
        h.store.tick(1)
    h.store.tick(60)
    h.lambda_now = h.store.now
    h.connector = _ListConnector(h.store)
    result = h.poll()
    assert result.status == "ok" and result.resources["orders"].status == "ok"
    assert [oid for oid, _, _ in h.queue.events()] == ["1", "2", "3"]
