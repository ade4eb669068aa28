from __future__ import annotations

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
        ids_at_cursor=frozenset({"1", "2"}),
        recent=frozenset({("1", T0), ("2", T0), ("9", T0 - timedelta(seconds=3))}),
        version=4,
        origin=T0 - timedelta(days=1),
        pending={"5": ("abc", T0)},
        snapshot={"5": "abc"},
    )
    item = cursor_to_item("i-1", state)
    assert item["pk"] == "INST#i-1" and item["sk"] == "META#CURSOR#orders"
    assert item["cursor"] == "2026-01-01T12:00:00Z" and item["recent"][0] == "1|2026-01-01T12:00:00Z"
    assert cursor_from_item(item) == state


def test_a_burst_of_recent_pairs_is_compressed_and_restored() -> None:
    recent = frozenset((str(i), T0) for i in range(10_000))
    ids = frozenset(i for i, _ in recent)
    state = CursorState(resource="orders", cursor=T0, ids_at_cursor=ids, recent=recent)
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
