"""Random store histories, writes landing while pages are read, and crashes at every
point of a poll: no change is ever lost, the only duplicates are re-sends of the same
eventId (with the same body kind), and every object reaches the subscriber first as
``CREATED`` (then, without crashes, as ``UPDATED``). Both ways of reading run: id paging
and updated-time order."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from itertools import pairwise
from typing import Any

from bcpoller.messages import iso_utc
from bcpoller.poll.cursor import CursorState
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.unit.poll.fakes import T0, FakeStore, Harness, harness, orders_plan


class Crash(BaseException):
    """A Lambda killed mid-poll: nothing after it runs, not even the lease release."""


CRASH_POINTS = ("none", "before_send", "after_send", "mid_page", "lease_expiry")

write = st.one_of(
    st.tuples(st.just("create"), st.integers(1, 4)),
    st.tuples(st.just("update"), st.integers(0, 10_000)),
    st.tuples(st.just("tick"), st.integers(0, 9)),
)
poll = st.tuples(
    st.just("poll"),
    st.sampled_from(CRASH_POINTS),
    st.integers(1, 4),  # crash at the n-th send / checkpoint / page
    st.lists(st.tuples(st.integers(1, 6), write), max_size=4),  # writes at page k of the read
)
steps = st.lists(st.one_of(write, poll), min_size=1, max_size=30)


def _apply(store: FakeStore, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "create":
        for _ in range(op[1]):
            store.create(len(store.records) + 1 + len(store.history))
    elif kind == "update" and store.records:
        ids = sorted(store.records)
        store.update(ids[op[1] % len(ids)])
    elif kind == "tick":
        store.tick(op[1])


def _poll_with_faults(h: Harness, store: FakeStore, *, point: str, nth: int, writes: list[Any]) -> int:
    """One poll with writes landing at given pages and a crash at the chosen point;
    1 if it crashed."""
    counter = {"send": 0, "checkpoint": 0, "page": 0}
    at_page: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for k, op in writes:
        at_page[k].append(op)

    def on_page(number: int) -> None:
        counter["page"] += 1
        for op in at_page.pop(counter["page"], []):
            _apply(store, op)
        if point == "mid_page" and counter["page"] == nth + 1:
            raise Crash
        if point == "lease_expiry" and counter["page"] == nth + 1:
            # This poll stalls past its lease; another poll takes over and finishes.
            store.hook = None
            h.lambda_now += timedelta(minutes=5)
            h.poll()
            store.hook = on_page

    def before_send(bodies: Any) -> None:
        counter["send"] += 1
        if point == "before_send" and counter["send"] == nth:
            raise Crash

    def before_checkpoint(state: CursorState) -> None:
        counter["checkpoint"] += 1
        if point == "after_send" and counter["checkpoint"] == nth:
            raise Crash

    store.hook = on_page
    h.queue.before_send = before_send
    h.table.before_checkpoint = before_checkpoint
    try:
        h.poll()
    except Crash:
        return 1
    finally:
        store.hook = None
        h.queue.before_send = None
        h.table.before_checkpoint = None
    return 0


@settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=steps,
    page_size=st.integers(1, 4),
    overlap=st.integers(1, 3),
    keyset=st.booleans(),
)
def test_no_change_lost_and_duplicates_are_same_event_id(
    history: list[tuple[Any, ...]], page_size: int, overlap: int, keyset: bool
) -> None:
    store = FakeStore(T0)
    h = harness([orders_plan(page_size=page_size, overlap_s=overlap, keyset=keyset)], store=store)
    crashes = 0

    def next_tick() -> None:
        # Lambda time moves past any lease a crashed poll left behind.
        h.lambda_now += timedelta(minutes=5)

    for step in history:
        if step[0] == "poll":
            crashes += _poll_with_faults(h, store, point=step[1], nth=step[2], writes=step[3])
            next_tick()
        else:
            _apply(store, step)

    # Quiet store, healthy polls: everything still owed must arrive now.
    for _ in range(3):
        store.tick(overlap + 1)
        next_tick()
        assert h.poll().status == "ok"

    events = h.queue.messages
    emitted = Counter((m["objectId"], m["changedAt"]) for m in events)
    happened = {(oid, iso_utc(at)) for oid, at, _ in store.history}

    lost = {(oid, iso_utc(at)) for oid, at in store.latest().items()} - set(emitted)
    assert not lost, f"lost changes: {sorted(lost)}"
    assert set(emitted) <= happened, "an event for a change that never happened"

    by_event: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for m in events:
        by_event[m["eventId"]].add((m["objectId"], m["changedAt"], m["eventType"]))
    assert all(len(v) == 1 for v in by_event.values()), "one eventId, two different events"
    assert len(by_event) == len(emitted), "one change, two eventIds"
    clean = crashes == 0 and all(step[0] != "poll" or step[1] != "lease_expiry" for step in history)
    if clean:
        assert max(emitted.values(), default=1) == 1, "a duplicate without any crash"

    # Every object was created after the instance: the subscriber first hears CREATED,
    # whatever happened to the object before a poll saw it, and UPDATED after that.
    kinds: dict[str, list[str]] = defaultdict(list)
    for m in events:
        kinds[m["objectId"]].append(m["eventType"])
    wrong_first = sorted(oid for oid, seen in kinds.items() if seen[0] != "CREATED")
    assert not wrong_first, f"first announced as UPDATED: {wrong_first}"
    if clean:
        again = sorted(oid for oid, seen in kinds.items() if "CREATED" in seen[1:])
        assert not again, f"announced CREATED twice: {again}"

    event(f"crashed polls: {min(crashes, 2)}{'+' if crashes >= 2 else ''}")
    event(f"re-sent events: {'yes' if max(emitted.values(), default=1) > 1 else 'no'}")
    event(f"changes: {'>20' if len(happened) > 20 else '<=20'}")
    event(f"read: {'by id' if keyset else 'by updated time'}")
    cursors = h.table.history.get("orders", [])
    assert all(a is None or b is None or a <= b for a, b in pairwise(cursors))
