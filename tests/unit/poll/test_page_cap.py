"""A dated read cut short by the connector's page cap is partial, never "read through".

The connector stops a dated read after MAX_PAGES pages without claiming the store's end.
Were that counted as complete, the cursor would move to the store clock past every record
the cut left unread: those changes would never be sent."""

from __future__ import annotations

from dataclasses import replace

from tests.unit.poll.fakes import harness, orders_plan


def test_a_read_cut_by_the_page_cap_goes_on_next_poll_and_loses_nothing() -> None:
    # A resource the store cannot sort by date: one offset-paged query for the whole read
    # (a sorted read starts a new query from its newest second after each page).
    h = harness([replace(orders_plan(page_size=5, keyset=False), sorted_by_store=False)])
    for oid in range(1, 31):  # 30 orders, one second apart: 6 pages of 5
        h.store.create(oid)
        h.store.tick()
    h.store.tick(60)
    h.lambda_now = h.store.now
    h.store.page_cap = 2

    first = h.poll()
    assert first.status == "partial" and first.resources["orders"].status == "partial"
    assert sorted(int(oid) for oid, _, _ in h.queue.events()) == list(range(1, 11))

    for _ in range(5):
        h.poll()
    sent = [int(oid) for oid, _, _ in h.queue.events()]
    assert sorted(sent) == list(range(1, 31))  # every order, once
    assert h.poll().status == "ok"
