"""The poll table's conditional writes against moto's in-process DynamoDB, which
evaluates ConditionExpressions: versions refuse stale writes, a stored cursor never
moves back, a live lease is never taken twice, and a report or release from a poll that
lost its lease changes nothing. Errors that are not condition failures are raised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from bcpoller import keys
from bcpoller.adapters.poll_table import PollTable, lease_refusal
from bcpoller.instances import StoredInstance
from bcpoller.poll.cursor import CursorState
from bcpoller.poll.ports import CursorConflict
from bcpoller.poll.sweep import SweepState
from botocore.exceptions import ClientError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INSTANCE = "0b8f7a52-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
NOW = 1_800_000_000.0


def state(cursor: datetime | None, version: int = 0, resource: str = "orders") -> CursorState:
    return CursorState(resource=resource, cursor=cursor, version=version)


def raw(table: Any, sk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = table.get_item(
        Key={"pk": keys.instance_pk(INSTANCE), "sk": sk}, ConsistentRead=True
    ).get("Item")
    return item


def put_instance(table: Any, **fields: Any) -> StoredInstance:
    instance = StoredInstance.model_validate(
        {
            "instanceId": INSTANCE,
            "orgId": "org-1",
            "createdDate": T0,
            "storeCreatedAt": T0 - timedelta(days=30),
            **fields,
        }
    )
    table.put_item(Item=instance.to_item())
    return instance


# -- cursors -----------------------------------------------------------------------------


def test_a_checkpoint_lands_only_on_the_version_it_read(poll_table: PollTable) -> None:
    first = poll_table.checkpoint(INSTANCE, state(T0), expected_version=0, stats={})
    assert first.version == 1 and first.cursor == T0
    with pytest.raises(CursorConflict, match=r"cursor orders changed since version 0"):
        poll_table.checkpoint(INSTANCE, state(T0 + timedelta(seconds=5)), expected_version=0, stats={})
    second = poll_table.checkpoint(INSTANCE, state(T0 + timedelta(seconds=5)), expected_version=1, stats={})
    assert second.version == 2
    with pytest.raises(CursorConflict, match=r"since version 1"):
        poll_table.checkpoint(INSTANCE, state(T0 + timedelta(seconds=9)), expected_version=1, stats={})
    stored = poll_table.load(INSTANCE).cursors["orders"]
    assert (stored.cursor, stored.version) == (T0 + timedelta(seconds=5), 2)


def test_a_stored_cursor_never_moves_back_but_may_stay(poll_table: PollTable, dynamo_table: Any) -> None:
    poll_table.checkpoint(INSTANCE, state(T0), expected_version=0, stats={})
    with pytest.raises(CursorConflict):
        poll_table.checkpoint(INSTANCE, state(T0 - timedelta(milliseconds=1)), expected_version=1, stats={})
    # The same cursor again (a quiet read that only drops recent pairs) is a valid write.
    kept = poll_table.checkpoint(INSTANCE, state(T0), expected_version=1, stats={})
    assert kept.version == 2
    assert raw(dynamo_table, keys.cursor_sk("orders"))["cursorEpoch"] == Decimal(str(T0.timestamp()))  # type: ignore[index]


def test_a_cursor_without_a_time_is_still_versioned(poll_table: PollTable) -> None:
    """Snapshot resources have no cursor time: only the version guards them."""
    poll_table.checkpoint(INSTANCE, state(None), expected_version=0, stats={})
    poll_table.checkpoint(INSTANCE, state(None), expected_version=1, stats={})
    with pytest.raises(CursorConflict):
        poll_table.checkpoint(INSTANCE, state(None), expected_version=1, stats={})
    assert poll_table.load(INSTANCE).cursors["orders"].version == 2


def test_a_timed_cursor_may_follow_an_item_without_one(poll_table: PollTable) -> None:
    poll_table.checkpoint(INSTANCE, state(None), expected_version=0, stats={})
    assert poll_table.checkpoint(INSTANCE, state(T0), expected_version=1, stats={}).version == 2


def test_a_first_checkpoint_never_overwrites_another_resource(poll_table: PollTable) -> None:
    poll_table.checkpoint(INSTANCE, state(T0, resource="orders"), expected_version=0, stats={})
    assert (
        poll_table.checkpoint(INSTANCE, state(T0, resource="products"), expected_version=0, stats={}).version
        == 1
    )
    assert sorted(poll_table.load(INSTANCE).cursors) == ["orders", "products"]


def test_checkpoint_stats_are_stored_beside_the_cursor(poll_table: PollTable, dynamo_table: Any) -> None:
    poll_table.checkpoint(INSTANCE, state(T0), expected_version=0, stats={"lastCount": 3, "lastError": None})
    item = raw(dynamo_table, keys.cursor_sk("orders"))
    assert item is not None and item["lastCount"] == 3 and "lastError" not in item


# -- work lease, release, report -----------------------------------------------------------


def test_a_live_lease_is_not_taken_twice(poll_table: PollTable) -> None:
    assert poll_table.take_lease(INSTANCE, owner="a", lease_until=NOW + 60, now=NOW, work_seq=0) is None
    refused = poll_table.take_lease(INSTANCE, owner="b", lease_until=NOW + 60, now=NOW + 60, work_seq=0)
    assert refused == f"another poll holds the lease until {NOW + 60:.0f}"  # held up to its last second
    later = NOW + 60.001
    assert poll_table.take_lease(INSTANCE, owner="b", lease_until=later + 60, now=later, work_seq=0) is None
    last = poll_table.load(INSTANCE).last
    assert last.lease_until == pytest.approx(later + 60) and last.work_seq == 0


def test_the_release_reports_counts_the_work_and_frees_the_lease(
    poll_table: PollTable, dynamo_table: Any
) -> None:
    poll_table.take_lease(INSTANCE, owner="a", lease_until=NOW + 60, now=NOW, work_seq=0)
    poll_table.release(INSTANCE, owner="a", report={"status": "ok", "events": 2})
    item = raw(dynamo_table, keys.POLL_STATUS)
    assert item is not None and "leaseOwner" not in item and "leaseUntil" not in item
    last = poll_table.load(INSTANCE).last
    assert last.report == {"status": "ok", "events": 2} and last.work_seq == 1 and last.lease_until is None
    # The next poll works on what it reads: seq 1.
    assert poll_table.take_lease(INSTANCE, owner="b", lease_until=NOW + 120, now=NOW, work_seq=1) is None
    poll_table.release(INSTANCE, owner="b", report={"status": "ok", "events": 0})
    assert poll_table.load(INSTANCE).last.work_seq == 2


def test_a_poll_whose_view_predates_another_polls_work_takes_no_lease(poll_table: PollTable) -> None:
    poll_table.take_lease(INSTANCE, owner="a", lease_until=NOW + 60, now=NOW, work_seq=0)
    poll_table.release(INSTANCE, owner="a", report={"status": "ok"})
    refused = poll_table.take_lease(INSTANCE, owner="b", lease_until=NOW + 60, now=NOW, work_seq=0)
    assert refused is not None and refused.startswith("another poll of this instance worked since")


def test_a_release_by_a_poll_that_lost_its_lease_changes_nothing(
    poll_table: PollTable, dynamo_table: Any
) -> None:
    poll_table.take_lease(INSTANCE, owner="a", lease_until=NOW + 60, now=NOW, work_seq=0)
    poll_table.take_lease(INSTANCE, owner="b", lease_until=NOW + 200, now=NOW + 100, work_seq=0)
    poll_table.release(INSTANCE, owner="a", report={"status": "late"})  # no error: b reports
    item = raw(dynamo_table, keys.POLL_STATUS)
    assert item is not None and item["leaseOwner"] == "b" and "lastPoll" not in item
    assert poll_table.load(INSTANCE).last.work_seq == 0


def test_a_release_without_any_lease_writes_nothing(poll_table: PollTable, dynamo_table: Any) -> None:
    poll_table.release(INSTANCE, owner="a", report={"status": "ok"})
    assert raw(dynamo_table, keys.POLL_STATUS) is None


def test_a_report_is_recorded_only_while_no_poll_works(poll_table: PollTable) -> None:
    poll_table.record(INSTANCE, report={"status": "idle"}, work_seq=0, now=NOW)
    assert poll_table.load(INSTANCE).last.report == {"status": "idle"}
    poll_table.take_lease(INSTANCE, owner="a", lease_until=NOW + 60, now=NOW, work_seq=0)
    poll_table.record(INSTANCE, report={"status": "quiet"}, work_seq=0, now=NOW + 60)  # lease live
    assert poll_table.load(INSTANCE).last.report == {"status": "idle"}
    poll_table.release(INSTANCE, owner="a", report={"status": "worked"})
    poll_table.record(INSTANCE, report={"status": "stale"}, work_seq=0, now=NOW + 90)  # read before the work
    assert poll_table.load(INSTANCE).last.report == {"status": "worked"}
    poll_table.record(INSTANCE, report={"status": "quiet"}, work_seq=1, now=NOW + 90)
    assert poll_table.load(INSTANCE).last.report == {"status": "quiet"}


def test_a_report_may_follow_an_expired_lease(poll_table: PollTable) -> None:
    poll_table.take_lease(INSTANCE, owner="a", lease_until=NOW + 60, now=NOW, work_seq=0)
    poll_table.record(INSTANCE, report={"status": "quiet"}, work_seq=0, now=NOW + 61)
    assert poll_table.load(INSTANCE).last.report == {"status": "quiet"}


def test_lease_refusal_names_the_reason() -> None:
    assert (
        lease_refusal({"leaseUntil": Decimal("1700.4")}, 1700.4, 0)
        == "another poll holds the lease until 1700"
    )
    assert lease_refusal({"leaseUntil": Decimal(1699), "workSeq": 2}, 1700, 2).startswith(
        "the lease could not"
    )
    assert lease_refusal({"workSeq": 3}, 1700, 2).startswith("another poll of this instance worked")
    assert lease_refusal({}, 1700, 0) == "the lease could not be taken; the next tick retries"
    assert lease_refusal({}, 1700, 1).startswith("another poll of this instance worked")


# -- the instance's auth state --------------------------------------------------------------


def test_auth_failure_is_marked_on_the_version_the_poll_read(
    poll_table: PollTable, dynamo_table: Any
) -> None:
    put_instance(dynamo_table, version=3)
    poll_table.mark_auth_failed(INSTANCE, error="401 from the store", version=2)  # credentials changed since
    assert poll_table.load(INSTANCE).instance.auth_state == "ok"  # type: ignore[union-attr]
    poll_table.mark_auth_failed(INSTANCE, error="401 from the store", version=3)
    instance = poll_table.load(INSTANCE).instance
    assert instance is not None and (instance.auth_state, instance.auth_error) == (
        "failed",
        "401 from the store",
    )


def test_auth_failure_on_an_item_without_a_version(poll_table: PollTable, dynamo_table: Any) -> None:
    item = put_instance(dynamo_table).to_item()
    del item["version"]
    dynamo_table.put_item(Item=item)
    poll_table.mark_auth_failed(INSTANCE, error="401", version=0)
    assert poll_table.load(INSTANCE).instance.auth_state == "failed"  # type: ignore[union-attr]


def test_auth_failure_never_recreates_a_deleted_instance(poll_table: PollTable, dynamo_table: Any) -> None:
    poll_table.mark_auth_failed(INSTANCE, error="401", version=0)
    assert raw(dynamo_table, keys.META) is None


# -- the deletion sweep's state ------------------------------------------------------------


def test_the_sweep_state_is_versioned(poll_table: PollTable) -> None:
    first = poll_table.save_sweep(INSTANCE, SweepState(resource="orders", parts=1), expected_version=0)
    assert first.version == 1
    with pytest.raises(CursorConflict, match=r"deletion sweep of orders changed since version 0"):
        poll_table.save_sweep(INSTANCE, SweepState(resource="orders", parts=2), expected_version=0)
    assert (
        poll_table.save_sweep(INSTANCE, SweepState(resource="orders", parts=3), expected_version=1).version
        == 2
    )
    with pytest.raises(CursorConflict, match=r"since version 1"):
        poll_table.save_sweep(INSTANCE, SweepState(resource="orders", parts=4), expected_version=1)
    assert poll_table.load_sweep(INSTANCE, "orders") == SweepState(resource="orders", version=2, parts=3)


def test_a_first_sweep_state_never_overwrites_another_resource(poll_table: PollTable) -> None:
    poll_table.save_sweep(INSTANCE, SweepState(resource="orders"), expected_version=0)
    assert poll_table.save_sweep(INSTANCE, SweepState(resource="products"), expected_version=0).version == 1


# -- errors that are not condition failures -------------------------------------------------


@pytest.mark.parametrize(
    "write",
    [
        lambda t: t.checkpoint(INSTANCE, state(T0), expected_version=0, stats={}),
        lambda t: t.save_sweep(INSTANCE, SweepState(resource="orders"), expected_version=0),
        lambda t: t.take_lease(INSTANCE, owner="a", lease_until=NOW + 60, now=NOW, work_seq=0),
        lambda t: t.release(INSTANCE, owner="a", report={}),
        lambda t: t.record(INSTANCE, report={}, work_seq=0, now=NOW),
        lambda t: t.mark_auth_failed(INSTANCE, error="401", version=0),
    ],
    ids=["checkpoint", "save_sweep", "take_lease", "release", "record", "mark_auth_failed"],
)
def test_other_errors_are_raised_not_taken_for_a_lost_race(dynamo_table: Any, write: Any) -> None:
    dynamo_table.delete()
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        write(PollTable(dynamo_table))
