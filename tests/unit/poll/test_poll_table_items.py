from __future__ import annotations

import json
from datetime import timedelta

import pytest
from bcpoller.adapters.poll_table import cursor_from_item, cursor_to_item, lease_refusal
from bcpoller.poll.cursor import CursorState
from bcpoller.poll.events import EventError, parse_poll_event

from tests.unit.poll.fakes import T0


def test_cursor_item_round_trip() -> None:
    state = CursorState(
        resource="orders",
        cursor=T0,
        recent=frozenset({("1", T0), ("2", T0), ("9", T0 - timedelta(seconds=3))}),
        version=4,
        origin=T0 - timedelta(days=1),
        pending={"5": ("abc", T0)},
        snapshot={"5": "abc"},
        read_to=T0 - timedelta(seconds=1),
        told=T0 - timedelta(seconds=1),
        read_from=T0 - timedelta(seconds=6),
        read_until=T0 + timedelta(seconds=2),
        after="eyJpZCI6MjA0fQ",
        last_id="204",
    )
    item = cursor_to_item("i-1", state)
    assert item["pk"] == "INST#i-1" and item["sk"] == "META#CURSOR#orders"
    assert item["cursor"] == "2026-01-01T12:00:00Z" and item["recent"][0] == "1|2026-01-01T12:00:00Z"
    assert item["after"] == "eyJpZCI6MjA0fQ" and item["lastId"] == "204"
    assert "idsAtCursor" not in item  # the ids at the cursor's time are in recent already
    assert cursor_from_item(item) == state
    assert state.ids_at_cursor == {"1", "2"}


def test_an_item_written_before_id_paging_still_loads() -> None:
    """Deployed stacks hold items with idsAtCursor and no readTo: the ids join recent,
    and the cursor plays the part of the read-through and told points."""
    item = {
        "pk": "INST#i-1",
        "sk": "CURSOR#orders",
        "version": 7,
        "cursor": "2026-01-01T12:00:00Z",
        "cursorEpoch": 1767268800,
        "origin": "2025-12-31T12:00:00Z",
        "idsAtCursor": ["1", "2", "3"],
        "recent": ["1|2026-01-01T12:00:00Z", "8|2026-01-01T11:59:58Z"],
    }
    state = cursor_from_item(item)
    assert state.recent == {("1", T0), ("2", T0), ("3", T0), ("8", T0 - timedelta(seconds=2))}
    assert state.read_to == T0 and state.told == T0 and state.read_from is None
    assert state.lower_bound(5, T0, by_id=True) == T0 - timedelta(seconds=5)
    assert cursor_from_item(cursor_to_item("i-1", state)) == state


def test_a_tie_of_any_size_adds_only_a_resume_token_to_the_item() -> None:
    """In the middle of an id-ordered read of a 10,000-record second, the item holds
    where to resume, not the ids read: the pairs the rest of the read and the next read
    cannot return are dropped."""
    emitted = [(str(i), T0) for i in range(1, 10_001)]
    state = CursorState(resource="orders", origin=T0 - timedelta(hours=1)).advance_keyset(
        emitted,
        read_from=T0 - timedelta(hours=1),
        upper=T0 + timedelta(minutes=1),
        after="10000",
        last_id="10000",
        overlap_s=5,
    )
    item = cursor_to_item("i-1", state)
    assert len(json.dumps(item, default=str)) < 1_000, item
    assert cursor_from_item(item) == state


def test_a_burst_of_recent_pairs_is_compressed_and_restored() -> None:
    recent = frozenset((str(i), T0) for i in range(10_000))
    state = CursorState(resource="orders", cursor=T0, recent=recent)
    item = cursor_to_item("i-1", state)
    assert "recent" not in item and "idsAtCursor" not in item
    assert len(item["recentZ"]) < 60_000  # far below DynamoDB's 400 KB item limit
    back = cursor_from_item(item)
    assert back.recent == recent and back.ids_at_cursor == state.ids_at_cursor


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"leaseUntil": 2_000, "workSeq": 3}, "holds the lease"),
        ({"leaseUntil": 500, "workSeq": 4}, "worked since"),
        ({"workSeq": 4}, "worked since"),
    ],
)
def test_lease_refusals_say_why(item: dict, reason: str) -> None:
    assert reason in lease_refusal(item, now=1_000, work_seq=3)


def test_poll_event() -> None:
    assert parse_poll_event({"instanceId": "3f2b8c1e-5d4a", "extra": 1}) == "3f2b8c1e-5d4a"
    with pytest.raises(EventError) as bad:
        parse_poll_event({"instance": "x"})
    assert bad.value.errors == [{"field": "instanceId", "problem": "Field required"}]
    with pytest.raises(EventError, match="must be a JSON object"):
        parse_poll_event("x")
    with pytest.raises(EventError, match="instanceId"):
        parse_poll_event({"instanceId": ""})
