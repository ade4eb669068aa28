"""What the poll table reads back is what was written, against moto's in-process
DynamoDB: the poll's one Query finds the instance, every cursor (over any number of
pages) and the last poll; legacy cursors move once; the sweep's state and known ids
round-trip; large values are compressed above 64 KiB and restored."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from bcpoller import keys
from bcpoller.adapters.poll_table import (
    INLINE_LIMIT,
    PollTable,
    cursor_from_item,
    cursor_to_item,
    item_size,
    last_poll_from_item,
)
from bcpoller.instances import StoredInstance
from bcpoller.poll.cursor import CursorState
from bcpoller.poll.ports import LastPoll
from bcpoller.poll.sweep import SweepState, encode_ids

from tests.unit.adapters.conftest import PagedTable

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INSTANCE = "0b8f7a52-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
OTHER = "9d0c1b2a-3e4f-5a6b-7c8d-9e0f1a2b3c4d"


def put_instance(table: Any, instance_id: str = INSTANCE) -> StoredInstance:
    instance = StoredInstance.model_validate(
        {
            "instanceId": instance_id,
            "orgId": "org-1",
            "name": "shop",
            "createdDate": T0,
            "storeCreatedAt": T0 - timedelta(days=9),
        }
    )
    table.put_item(Item=instance.to_item())
    return instance


def get(table: Any, sk: str, instance_id: str = INSTANCE) -> dict[str, Any] | None:
    item: dict[str, Any] | None = table.get_item(Key={"pk": keys.instance_pk(instance_id), "sk": sk}).get(
        "Item"
    )
    return item


def put_legacy_cursor(table: Any, resource: str, cursor: datetime, version: int = 4) -> None:
    item = cursor_to_item(INSTANCE, CursorState(resource=resource, cursor=cursor, version=version))
    item["sk"] = keys.LEGACY_CURSOR_PREFIX + resource
    table.put_item(Item=item)


# -- the poll's one read ------------------------------------------------------------------


def test_load_reads_the_instance_its_cursors_and_last_poll_over_every_page(dynamo_table: Any) -> None:
    instance = put_instance(dynamo_table)
    put_instance(dynamo_table, OTHER)
    table = PollTable(dynamo_table)
    for i, resource in enumerate(["customers", "orders", "products"]):
        table.checkpoint(
            INSTANCE,
            CursorState(resource=resource, cursor=T0 + timedelta(seconds=i)),
            expected_version=0,
            stats={},
        )
    table.checkpoint(OTHER, CursorState(resource="orders", cursor=T0), expected_version=0, stats={})
    table.take_lease(INSTANCE, owner="a", lease_until=2000.5, now=1000, work_seq=0)
    # Outside META: the poll's Query must not read (nor pay for) them.
    table.save_sweep(INSTANCE, SweepState(resource="orders"), expected_version=0)
    table.put_blob(INSTANCE, "evt-1", b"body", ttl=5)

    paged = PagedTable(dynamo_table)
    view = PollTable(paged).load(INSTANCE)
    assert paged.pages >= 5  # the instance, three cursors, the last poll: one page each
    assert view.instance == instance
    assert {r: s.cursor for r, s in view.cursors.items()} == {
        "customers": T0,
        "orders": T0 + timedelta(seconds=1),
        "products": T0 + timedelta(seconds=2),
    }
    assert all(s.version == 1 for s in view.cursors.values())
    assert view.last == LastPoll(work_seq=0, lease_until=2000.5)
    assert PollTable(dynamo_table).load_cursors(INSTANCE) == view.cursors


def test_load_of_an_absent_instance(poll_table: PollTable) -> None:
    view = poll_table.load(INSTANCE)
    assert view.instance is None and view.cursors == {} and view.last == LastPoll()


def test_legacy_cursors_move_once_to_the_one_read_layout(dynamo_table: Any) -> None:
    put_instance(dynamo_table)
    put_legacy_cursor(dynamo_table, "orders", T0)
    put_legacy_cursor(dynamo_table, "products", T0 + timedelta(seconds=3))
    paged = PagedTable(dynamo_table)
    view = PollTable(paged).load(INSTANCE)
    assert {r: (s.cursor, s.version) for r, s in view.cursors.items()} == {
        "orders": (T0, 4),
        "products": (T0 + timedelta(seconds=3), 4),
    }
    assert get(dynamo_table, "CURSOR#orders") is None and get(dynamo_table, "CURSOR#products") is None
    moved = get(dynamo_table, keys.cursor_sk("orders"))
    assert moved is not None and moved["version"] == 4
    # Once moved, the next load finds them in the one read, and a checkpoint continues the version.
    assert PollTable(dynamo_table).load(INSTANCE).cursors == view.cursors
    assert (
        PollTable(dynamo_table)
        .checkpoint(INSTANCE, view.cursors["orders"], expected_version=4, stats={})
        .version
        == 5
    )


class RacingTable(PagedTable):
    """Another poll moves the legacy cursors (and checkpoints one past them) between this
    poll's reading them and its writing them to the new layout."""

    def __init__(self, table: Any, newer: dict[str, Any], limit: int | None = 1) -> None:
        super().__init__(table, limit)
        self._newer = newer

    def query(self, **kwargs: Any) -> Any:
        page = super().query(**kwargs)
        if any(str(i["sk"]).startswith(keys.LEGACY_CURSOR_PREFIX) for i in page.get("Items", [])):
            self._table.put_item(Item=self._newer)
        return page


def test_a_legacy_cursor_moved_meanwhile_by_another_poll_is_left_alone(dynamo_table: Any) -> None:
    put_instance(dynamo_table)
    put_legacy_cursor(dynamo_table, "orders", T0)
    newer = cursor_to_item(
        INSTANCE, CursorState(resource="orders", cursor=T0 + timedelta(minutes=1), version=5)
    )
    view = PollTable(RacingTable(dynamo_table, newer)).load(INSTANCE)
    assert "orders" not in view.cursors  # not this poll's to report: the next load reads it
    stored = get(dynamo_table, keys.cursor_sk("orders"))
    assert stored is not None and stored["version"] == 5 and stored["cursor"] == "2026-03-01T12:01:00Z"
    assert get(dynamo_table, "CURSOR#orders") is not None  # not deleted by the poll that lost
    assert PollTable(dynamo_table).load(INSTANCE).cursors["orders"].version == 5


def test_a_lost_race_on_one_legacy_cursor_still_moves_the_others_of_its_page(dynamo_table: Any) -> None:
    put_instance(dynamo_table)
    put_legacy_cursor(dynamo_table, "orders", T0)
    put_legacy_cursor(dynamo_table, "products", T0)
    newer = cursor_to_item(
        INSTANCE, CursorState(resource="orders", cursor=T0 + timedelta(minutes=1), version=5)
    )
    view = PollTable(RacingTable(dynamo_table, newer, limit=None)).load(INSTANCE)  # both in one page
    assert sorted(view.cursors) == ["products"]
    assert get(dynamo_table, "CURSOR#products") is None


def test_legacy_cursors_are_not_moved_when_the_new_layout_is_in_use(dynamo_table: Any) -> None:
    put_instance(dynamo_table)
    put_legacy_cursor(dynamo_table, "orders", T0)
    table = PollTable(dynamo_table)
    table.checkpoint(INSTANCE, CursorState(resource="products", cursor=T0), expected_version=0, stats={})
    assert sorted(table.load(INSTANCE).cursors) == ["products"]
    assert get(dynamo_table, "CURSOR#orders") is not None


def test_legacy_cursors_are_not_moved_once_a_poll_was_recorded(dynamo_table: Any) -> None:
    put_instance(dynamo_table)
    put_legacy_cursor(dynamo_table, "orders", T0)
    table = PollTable(dynamo_table)
    table.record(INSTANCE, report={"status": "ok"}, work_seq=0, now=1000)
    assert table.load(INSTANCE).cursors == {}
    assert get(dynamo_table, "CURSOR#orders") is not None


def test_legacy_cursors_of_a_deleted_instance_are_not_moved(dynamo_table: Any) -> None:
    put_legacy_cursor(dynamo_table, "orders", T0)
    assert PollTable(dynamo_table).load(INSTANCE).cursors == {}
    assert get(dynamo_table, keys.cursor_sk("orders")) is None


def test_last_poll_from_item() -> None:
    assert last_poll_from_item(None) == LastPoll() and last_poll_from_item({}) == LastPoll()
    item = {
        "lastPoll": {"status": "ok", "events": 3},
        "workSeq": 7,
        "leaseUntil": 12.5,
        "wakeHash": "h",
        "wakeUrl": "https://shop.example/wake",
        "hooks": {"orders": 1},
    }
    assert last_poll_from_item(item) == LastPoll(
        report={"status": "ok", "events": 3},
        work_seq=7,
        lease_until=12.5,
        wake={"url": "https://shop.example/wake", "hooks": {"orders": 1}},
    )
    # Wake-up off (no hash): the url left behind does not turn it on; a missing url reads "".
    assert last_poll_from_item({**item, "wakeHash": ""}).wake is None
    assert last_poll_from_item({"wakeHash": "h"}).wake == {"url": "", "hooks": {}}
    assert last_poll_from_item({"lastPoll": "garbled", "leaseUntil": 0}) == LastPoll(lease_until=0.0)


# -- oversize bodies -------------------------------------------------------------------------


def test_an_oversize_body_is_stored_with_its_expiry_outside_the_polls_read(
    poll_table: PollTable, dynamo_table: Any
) -> None:
    put_instance(dynamo_table)
    poll_table.put_blob(INSTANCE, "evt-1", zlib.compress(b"{}"), ttl=1_800_000_000)
    item = get(dynamo_table, keys.blob_sk("evt-1"))
    assert (
        item is not None
        and bytes(item["body"].value) == zlib.compress(b"{}")
        and item["ttl"] == 1_800_000_000
    )
    assert poll_table.load(INSTANCE).cursors == {}


# -- the deletion sweep ----------------------------------------------------------------------


def test_the_sweep_state_round_trips(poll_table: PollTable) -> None:
    assert poll_table.load_sweep(INSTANCE, "orders") == SweepState(resource="orders")
    full = SweepState(
        resource="orders",
        generation=3,
        parts=2,
        started_at=T0,
        after="eyJpZCI6OX0",
        last_id=0,
        written=1,
        next_at=T0 + timedelta(hours=6),
        through=0,
    )
    saved = poll_table.save_sweep(INSTANCE, full, expected_version=0)
    assert saved.version == 1
    assert poll_table.load_sweep(INSTANCE, "orders") == saved
    assert poll_table.load_sweep(INSTANCE, "products") == SweepState(resource="products")
    bare = SweepState(resource="orders", generation=4, parts=1, written=0)
    assert poll_table.save_sweep(INSTANCE, bare, expected_version=1) == SweepState(
        resource="orders", version=2, generation=4, parts=1
    )
    assert poll_table.load_sweep(INSTANCE, "orders") == SweepState(
        resource="orders", version=2, generation=4, parts=1
    )


def test_known_ids_are_read_over_every_page_for_their_generation_only(dynamo_table: Any) -> None:
    table = PollTable(dynamo_table)
    size = table.put_known(INSTANCE, "orders", 2, 0, [5, 1, 3])
    stored = get(dynamo_table, keys.sweep_ids_sk("orders", 2, 0))
    assert stored is not None
    assert size == item_size({**stored, "ids": bytes(stored["ids"].value), "count": 3})
    table.put_known(INSTANCE, "orders", 2, 1, [3, 9])
    table.put_known(INSTANCE, "orders", 2, 2, [12])
    table.put_known(INSTANCE, "orders", 1, 0, [100])
    table.put_known(INSTANCE, "products", 2, 0, [200])
    paged = PagedTable(dynamo_table)
    assert PollTable(paged).load_known(INSTANCE, "orders", 2) == [1, 3, 5, 9, 12]
    assert paged.pages >= 3
    assert table.load_known(INSTANCE, "orders", 1) == [100]
    assert get(dynamo_table, keys.sweep_ids_sk("orders", 2, 1))["count"] == 2  # type: ignore[index]
    table.drop_known(INSTANCE, "orders", 2, 2)
    assert table.load_known(INSTANCE, "orders", 2) == [12]  # parts 0 and 1 only
    assert table.load_known(INSTANCE, "products", 2) == [200]


def test_item_size_counts_names_and_values() -> None:
    # names 2+1+1+1; bytes 3, "hé" 3 bytes of UTF-8, 12345 as 5 // 2 + 2, True as 4 // 2 + 2
    assert item_size({"ab": b"xyz", "c": "hé", "n": 12345, "t": True}) == 5 + 3 + 3 + 4 + 4
    assert item_size({"ba": bytearray(b"12")}) == 4


# -- values over 64 KiB ----------------------------------------------------------------------


def test_a_snapshot_up_to_64_kib_is_stored_plain_and_above_it_compressed() -> None:
    # {"1":"vvv..."} is 7 characters of JSON around the key and the value.
    at_limit = CursorState(resource="brands", snapshot={"1": "v" * (INLINE_LIMIT - 8)})
    item = cursor_to_item(INSTANCE, at_limit)
    assert item["snapshot"] == at_limit.snapshot and "snapshotZ" not in item
    assert cursor_from_item(item) == at_limit
    over = CursorState(resource="brands", snapshot={"1": "v" * (INLINE_LIMIT - 7)})
    item = cursor_to_item(INSTANCE, over)
    assert "snapshot" not in item and len(item["snapshotZ"]) < 1_000
    assert cursor_from_item(item) == over
    assert INLINE_LIMIT == 65_536


def test_large_values_round_trip_through_dynamodb(poll_table: PollTable) -> None:
    state = CursorState(
        resource="orders",
        cursor=T0,
        recent=frozenset((str(i), T0) for i in range(5_000)),
        pending={str(i): (f"tok{i}", T0) for i in range(3_000)},
        sweep_at=T0 + timedelta(hours=1),
        sweep_new=frozenset({4, 8, 15}),
        sweep_gone=frozenset({16, 23}),
    )
    written = poll_table.checkpoint(INSTANCE, state, expected_version=0, stats={})
    assert poll_table.load(INSTANCE).cursors["orders"] == written


def test_an_item_without_sweep_ids_reads_empty_sets() -> None:
    item = cursor_to_item(INSTANCE, CursorState(resource="orders", cursor=T0))
    assert "sweepNew" not in item and "sweepGone" not in item
    state = cursor_from_item({**item, "sweepNew": encode_ids([7])})
    assert state.sweep_new == {7} and state.sweep_gone == frozenset()


class RecordingTable(PagedTable):
    """Records the read requests (moto serves every read consistently, so only the
    request can show which reads ask DynamoDB for a strongly consistent one)."""

    def __init__(self, table: Any) -> None:
        super().__init__(table)
        self.reads: list[tuple[str, Any]] = []

    def query(self, **kwargs: Any) -> Any:
        self.reads.append(("query", kwargs.get("ConsistentRead")))
        return super().query(**kwargs)

    def get_item(self, **kwargs: Any) -> Any:
        self.reads.append(("get_item", kwargs.get("ConsistentRead")))
        return self._table.get_item(**kwargs)


def test_every_read_of_poll_state_is_strongly_consistent(dynamo_table: Any) -> None:
    """A stale cursor, lease counter or sweep state would make the poll work for nothing
    (a refused lease, a conflicting checkpoint) or re-sweep: every read asks for the latest."""
    put_instance(dynamo_table)
    put_legacy_cursor(dynamo_table, "orders", T0)
    PollTable(dynamo_table).put_known(INSTANCE, "orders", 1, 0, [1])
    recording = RecordingTable(dynamo_table)
    table = PollTable(recording)
    table.load(INSTANCE)  # the one read, then the legacy move's
    table.load_sweep(INSTANCE, "orders")
    table.load_known(INSTANCE, "orders", 1)
    assert {kind for kind, _ in recording.reads} == {"query", "get_item"}
    assert all(consistent is True for _, consistent in recording.reads), recording.reads


def test_a_sweep_item_with_only_its_keys_reads_as_counters_at_zero(dynamo_table: Any) -> None:
    """Items not written whole (by hand, or by an older release) read their missing
    counters as 0, never as a sweep that has parts or writes."""
    dynamo_table.put_item(Item={"pk": keys.instance_pk(INSTANCE), "sk": keys.sweep_sk("orders")})
    assert PollTable(dynamo_table).load_sweep(INSTANCE, "orders") == SweepState(resource="orders")


def test_stored_pairs_split_at_the_last_bar_and_malformed_ones_are_skipped() -> None:
    item = cursor_to_item(
        INSTANCE, CursorState(resource="orders", cursor=T0, recent=frozenset({("7|2", T0)}))
    )
    assert cursor_from_item(item).recent == {("7|2", T0)}
    item["recent"] = ["5|", "|2026-03-01T12:00:00Z", "6|2026-03-01T12:00:00Z"]
    del item["version"]
    state = cursor_from_item(item)
    assert state.recent == {("6", T0)} and state.version == 0
