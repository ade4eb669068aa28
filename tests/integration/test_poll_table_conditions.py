"""The poll table's conditional writes, enforced by DynamoDB (moto's server), not by a fake.

Exactly-once rests on these conditions: a checkpoint lands only on the version it read,
a stored cursor never moves back, a second poll never takes a live lease."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from bcpoller.adapters import aws
from bcpoller.adapters.poll_table import PollTable
from bcpoller.poll.cursor import CursorState
from bcpoller.poll.ports import CursorConflict
from bcpoller.settings import get_settings

from local.template_resources import StackResources

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INSTANCE = "0b8f7a52-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


@pytest.fixture
def table(stack: StackResources) -> PollTable:
    return PollTable(aws.table(get_settings().table_name))


def state(cursor: datetime, version: int = 0) -> CursorState:
    return CursorState(resource="orders", cursor=cursor, version=version)


def test_a_checkpoint_lands_only_on_the_version_it_read(table: PollTable) -> None:
    first = table.checkpoint(INSTANCE, state(T0), expected_version=0, stats={})
    assert first.version == 1
    with pytest.raises(CursorConflict):  # the item exists: a second "first" write loses
        table.checkpoint(INSTANCE, state(T0 + timedelta(seconds=5)), expected_version=0, stats={})
    second = table.checkpoint(INSTANCE, state(T0 + timedelta(seconds=5)), expected_version=1, stats={})
    assert second.version == 2
    with pytest.raises(CursorConflict):  # a poll that read version 1 is now stale
        table.checkpoint(INSTANCE, state(T0 + timedelta(seconds=9)), expected_version=1, stats={})
    assert table.load(INSTANCE).cursors["orders"].cursor == T0 + timedelta(seconds=5)


def test_a_stored_cursor_never_moves_back(table: PollTable) -> None:
    table.checkpoint(INSTANCE, state(T0 + timedelta(seconds=10)), expected_version=0, stats={})
    with pytest.raises(CursorConflict):
        table.checkpoint(INSTANCE, state(T0), expected_version=1, stats={})
    assert table.load(INSTANCE).cursors["orders"].cursor == T0 + timedelta(seconds=10)


def test_a_live_lease_is_not_taken_twice(table: PollTable) -> None:
    now = time.time()
    assert table.take_lease(INSTANCE, owner="a", lease_until=now + 60, now=now, work_seq=0) is None
    refused = table.take_lease(INSTANCE, owner="b", lease_until=now + 60, now=now, work_seq=0)
    assert refused is not None and "lease" in refused
    # Once expired it can be taken again.
    later = now + 61
    assert table.take_lease(INSTANCE, owner="b", lease_until=later + 60, now=later, work_seq=0) is None
