"""PollFunction on moto's server (DynamoDB, SQS, KMS) against the simulated store over
HTTP: exactly one event per (object, updated time), with the right kind."""

from __future__ import annotations

import random
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from bcpoller.adapters import aws
from bcpoller.adapters.poll_table import PollTable
from bcpoller.messages import iso_utc
from bcpoller.settings import get_settings

from local.poll_harness import (
    CallCounter,
    by_service,
    create_instance,
    cursor_item,
    drain_queue,
    instance_item,
    invoke_poll,
    load_poll_handler,
    poller,
)
from local.store import SimulatedStore
from local.template_resources import StackResources


@pytest.fixture
def store() -> Iterator[SimulatedStore]:
    s = SimulatedStore(seed=11, records_per_resource=5).start()
    yield s
    s.stop()


@pytest.fixture
def poll(stack: StackResources, store: SimulatedStore, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    from bcpoller.settings import reset_settings

    monkeypatch.setenv("BC_API_BASE_URL", store.url)
    reset_settings()
    return load_poll_handler()


def _orders_changes(store: SimulatedStore, since: datetime) -> list[tuple[str, str, str]]:
    return [
        (str(c["id"]), c["date_modified"], c["operation"])
        for c in store.changes(since)
        if c["resource"] == "orders"
    ]


def _ids(messages: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((m["objectId"], m["changedAt"]) for m in messages)


def test_600_updates_inside_one_second_each_emitted_once(poll: ModuleType, store: SimulatedStore) -> None:
    ids = store.bulk("orders", 600, start=store.now() - timedelta(hours=1))  # before the instance
    instance_id = create_instance(store, {"orders": poller()})
    second = store.now()
    for oid in ids[:300]:
        store.update("orders", oid, {"date_modified": second})
    fresh = store.bulk("orders", 50, start=second)
    assert invoke_poll(poll, instance_id)["status"] == "ok"
    for oid in ids[300:]:  # the rest of that same second lands after the first poll
        store.update("orders", oid, {"date_modified": second})
    invoke_poll(poll, instance_id)
    invoke_poll(poll, instance_id)

    messages = drain_queue()
    emitted = _ids(messages)
    assert len(emitted) == 650 and set(emitted.values()) == {1}
    assert {oid for oid, at in emitted if at == iso_utc(second)} == {str(i) for i in ids + fresh}
    kinds = {m["objectId"]: m["eventType"] for m in messages}
    assert {kinds[str(i)] for i in ids} == {"UPDATED"}
    assert {kinds[str(i)] for i in fresh} == {"CREATED"}


def test_updates_landing_while_pages_are_read(poll: ModuleType, store: SimulatedStore) -> None:
    origin = store.now() - timedelta(seconds=30)
    instance_id = create_instance(store, {"orders": poller(pageSize=20, pollDelay=2)}, created=origin)
    ids = store.bulk("orders", 200, start=origin + timedelta(seconds=1), per_second=20)
    stop = threading.Event()
    rng = random.Random(5)

    def writer() -> None:
        # A bounded number of changes (about 4 s of them): the polls overlap them however
        # loaded the machine is, and a slow poll cannot make the writer produce ever more.
        for _ in range(400):
            if stop.is_set():
                return
            oid = rng.choice(ids)
            store.update("orders", oid, {"status_id": rng.randint(1, 12)})
            if rng.random() < 0.2:
                ids.append(int(store.create("orders")["id"]))
            time.sleep(0.01)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(3):
            invoke_poll(poll, instance_id)
    finally:
        stop.set()
        thread.join()
    time.sleep(2.2)  # past the overlap: the store is quiet now
    invoke_poll(poll, instance_id)
    invoke_poll(poll, instance_id)

    messages = drain_queue()
    emitted = _ids(messages)
    assert max(emitted.values()) == 1, "a change was sent twice"
    happened = {(oid, at) for oid, at, _ in _orders_changes(store, origin)}
    assert set(emitted) <= happened
    final = {(str(oid), iso_utc(_modified(store, oid))) for oid in set(ids)}
    assert final <= set(emitted), f"lost: {sorted(final - set(emitted))[:5]}"


def _modified(store: SimulatedStore, oid: int) -> datetime:
    from email.utils import parsedate_to_datetime

    record = store.get("orders", oid)
    assert record is not None
    return parsedate_to_datetime(record["date_modified"])


@pytest.mark.parametrize("skew", [90, -90])
def test_store_clock_skew(poll: ModuleType, store: SimulatedStore, skew: int) -> None:
    store.set_clock_skew(skew)
    instance_id = create_instance(store, {"orders": poller()})
    a = int(store.create("orders")["id"])
    invoke_poll(poll, instance_id)
    store.update("orders", a)
    b = int(store.create("orders")["id"])
    invoke_poll(poll, instance_id)
    invoke_poll(poll, instance_id)

    messages = drain_queue()
    expected = [
        (str(oid), at, op) for oid, at, op in _orders_changes(store, store.now() - timedelta(minutes=1))
    ]
    assert sorted((m["objectId"], m["changedAt"]) for m in messages) == sorted(
        {(o, t) for o, t, _ in expected}
    )
    assert {m["objectId"]: m["eventType"] for m in messages if m["objectId"] == str(b)} == {str(b): "CREATED"}
    # The cursor is in the store's time, not the Lambda's.
    cursor = cursor_item(instance_id, "orders")
    assert cursor is not None
    assert abs((datetime.fromisoformat(cursor["cursor"]) - store.now()).total_seconds()) < 5


def test_resource_without_date_filter_diffs_a_snapshot(poll: ModuleType, store: SimulatedStore) -> None:
    instance_id = create_instance(store, {"categories": poller("/hubs/ecommerce/categories")})
    assert invoke_poll(poll, instance_id)["status"] == "ok"
    assert drain_queue() == []  # the first read is the baseline

    existing = sorted(int(c["id"]) for c in _all_categories(store))
    store.update("categories", existing[0], {"name": "Renamed"})
    store.delete("categories", existing[1])
    new = int(store.create("categories", {"name": "Brand new"})["id"])
    invoke_poll(poll, instance_id)
    invoke_poll(poll, instance_id)

    kinds = sorted((m["objectId"], m["eventType"]) for m in drain_queue())
    assert kinds == sorted(
        [(str(existing[0]), "UPDATED"), (str(existing[1]), "DELETED"), (str(new), "CREATED")]
    )


def _all_categories(store: SimulatedStore) -> list[dict[str, Any]]:
    return [store.get("categories", i) or {} for i in range(1, 100_000) if store.get("categories", i)][:50]


def test_failed_poll_leaves_cursor_unchanged(poll: ModuleType, store: SimulatedStore) -> None:
    instance_id = create_instance(store, {"orders": poller()})
    store.create("orders")
    invoke_poll(poll, instance_id)
    before = cursor_item(instance_id, "orders")
    store.create("orders")
    store.set_faults(status=500, error_rate=1.0, count=1000)

    # Just over the engine's reserve, so the read starts and its retries meet the deadline.
    result = invoke_poll(poll, instance_id, timeout_s=16)

    assert result["status"] != "ok" and "HTTP 500" in result["resources"]["orders"]["lastError"]
    assert cursor_item(instance_id, "orders") == before
    store.set_faults(error_rate=0.0, count=0)
    invoke_poll(poll, instance_id)
    assert len(drain_queue()) == 2


def test_refused_credentials_mark_the_instance(poll: ModuleType, store: SimulatedStore) -> None:
    instance_id = create_instance(store, {"orders": poller()}, token="wrong-token")
    assert invoke_poll(poll, instance_id)["status"] == "auth_failed"
    assert instance_item(instance_id).get("authState", "ok") == "ok"  # one refusal: tried again
    result = invoke_poll(poll, instance_id)
    assert result["status"] == "auth_failed"
    item = instance_item(instance_id)
    assert item["authState"] == "failed" and item.get("authError")
    assert "wrong-token" not in str(result) and "wrong-token" not in str(item.get("authError"))
    assert "leaseOwner" not in item
    assert invoke_poll(poll, instance_id)["status"] == "skipped"


def test_a_held_lease_defers_work_but_not_a_quiet_poll(poll: ModuleType, store: SimulatedStore) -> None:
    instance_id = create_instance(store, {"orders": poller()})
    table = PollTable(aws.table(get_settings().table_name))
    now = time.time()
    assert table.take_lease(instance_id, owner="someone", lease_until=now + 60, now=now, work_seq=0) is None
    assert invoke_poll(poll, instance_id)["status"] == "ok"  # nothing to do: no lease needed
    store.create("orders")
    result = invoke_poll(poll, instance_id)
    assert result["status"] == "skipped" and "lease" in result["reason"]
    assert drain_queue() == []


def test_bad_event_is_reported_not_raised(poll: ModuleType) -> None:
    from local.runtime import LambdaContext

    context = LambdaContext("poll", "arn:aws:lambda:us-east-1:123456789012:function:poll", 512, 120)
    result = poll.lambda_handler({"instanceID": "x"}, context)
    assert result["status"] == "invalid_event"
    assert result["errors"][0]["field"] == "instanceId"
    assert poll.lambda_handler(["nope"], context)["status"] == "invalid_event"


def test_oversize_record_is_stored_and_referenced(poll: ModuleType, store: SimulatedStore) -> None:
    instance_id = create_instance(store, {"orders": poller()})
    store.create("orders", {"staff_notes": "n" * 300_000})
    invoke_poll(poll, instance_id)
    (message,) = drain_queue()
    assert "body" not in message and message["bodyRef"] == f"BLOB#{message['eventId']}"
    blob = aws.table(get_settings().table_name).get_item(
        Key={"pk": f"INST#{instance_id}", "sk": message["bodyRef"]}
    )["Item"]
    assert b"n" * 1000 in zlib.decompress(bytes(blob["body"].value))
    assert int(blob["ttl"]) > time.time()


def test_quiet_poll_costs_one_table_call_and_nothing_else(poll: ModuleType, store: SimulatedStore) -> None:
    instance_id = create_instance(store, {"orders": poller(), "products": poller(_products_url())})
    store.create("orders")
    invoke_poll(poll, instance_id)  # warm: the KMS decryption is cached from here on
    drain_queue()
    counter = CallCounter().install()
    try:
        invoke_poll(poll, instance_id)
        quiet = counter.reset()
    finally:
        counter.uninstall()
    assert quiet == Counter({"dynamodb:Query": 1}), quiet
    assert by_service(quiet) == {"dynamodb": 1}


def _products_url() -> str:
    from local.poll_harness import PRODUCTS_URL

    return PRODUCTS_URL


def test_a_tie_is_read_once_and_quiet_polls_after_it_cost_one_request(
    poll: ModuleType, store: SimulatedStore
) -> None:
    """600 orders stamped in one second: the first poll reads them in ceil(600/250)
    pages by id; later quiet polls ask once and read nothing (the old reads re-read the
    whole second, page by page, until a newer change moved the cursor), and the cursor
    item stays small."""
    now = store.now()
    instance_id = create_instance(store, {"orders": poller()}, created=now - timedelta(minutes=1))
    ids = store.bulk("orders", 600, start=now - timedelta(seconds=30))
    first = invoke_poll(poll, instance_id)["resources"]["orders"]
    assert (first["requests"], first["recordsRead"], first["eventsEmitted"]) == (3, 600, 600)
    for _ in range(2):
        quiet = invoke_poll(poll, instance_id)["resources"]["orders"]
        assert (quiet["requests"], quiet["recordsRead"], quiet["checkpoints"]) == (1, 0, 0)
    messages = drain_queue()
    assert sorted(int(m["objectId"]) for m in messages) == ids
    assert {m["eventType"] for m in messages} == {"CREATED"}
    item = cursor_item(instance_id, "orders")
    assert item is not None and "idsAtCursor" not in item and "recentZ" not in item
    assert not item.get("recent") and item["readTo"] and "after" not in item  # nothing left to re-read


def test_cursors_of_the_old_layout_carry_over_once(poll: ModuleType, store: SimulatedStore) -> None:
    """A stack upgraded in place keeps its watermarks: cursors written under CURSOR#
    (before the one-read layout) are moved, and nothing before them is announced again."""
    from bcpoller import keys

    instance_id = create_instance(store, {"orders": poller()})
    store.create("orders")
    assert invoke_poll(poll, instance_id)["status"] == "ok"
    assert len(drain_queue()) == 1
    raw = aws.table(get_settings().table_name)
    pk = keys.instance_pk(instance_id)
    # Turn the stack back into the old layout: cursor under CURSOR#, no last-poll item.
    cursor = raw.get_item(Key={"pk": pk, "sk": keys.cursor_sk("orders")}, ConsistentRead=True)["Item"]
    raw.delete_item(Key={"pk": pk, "sk": keys.cursor_sk("orders")})
    raw.delete_item(Key={"pk": pk, "sk": keys.POLL_STATUS})
    raw.put_item(Item={**cursor, "sk": f"{keys.LEGACY_CURSOR_PREFIX}orders"})

    view = PollTable(raw).load(instance_id)
    assert view.cursors["orders"].cursor is not None
    assert "Item" not in raw.get_item(Key={"pk": pk, "sk": f"{keys.LEGACY_CURSOR_PREFIX}orders"})
    assert "Item" in raw.get_item(Key={"pk": pk, "sk": keys.cursor_sk("orders")}, ConsistentRead=True)
    store.create("orders")
    assert invoke_poll(poll, instance_id)["status"] == "ok"
    assert len(drain_queue()) == 1  # only the new order: the old one is not announced again


def test_concurrent_polls_log_their_own_instance_id(
    poll: ModuleType, store: SimulatedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local runtime runs environments side by side in one process: each poll's log
    lines carry its own instance id, never the one another thread set last."""
    import json as _json
    import logging

    from local.runtime import LambdaContext

    formatted: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            formatted.append(poll.logger.registered_formatter.format(record))

    # The engine's child logger hangs under the service that first imported it in this
    # process (maybe another function's); in PollFunction it is the handler's.
    from aws_lambda_powertools import Logger
    from bcpoller.poll import engine

    monkeypatch.setattr(engine, "logger", Logger(service=poll.logger.service, child=True))
    collect = Collect()
    poll.logger._logger.addHandler(collect)
    # Earlier tests in the process may have left the shared "poll" logger at WARNING.
    level = poll.logger._logger.level
    poll.logger.setLevel("INFO")

    ids = [create_instance(store, {"orders": poller()}) for _ in range(2)]
    barrier = threading.Barrier(2)
    real = poll.poll_instance

    def interleaved(instance_id: str, *args: Any, **kwargs: Any) -> Any:
        barrier.wait(timeout=10)  # both handlers have set their keys before either logs
        return real(instance_id, *args, **kwargs)

    poll.poll_instance = interleaved
    try:
        context = LambdaContext("poll", "arn:aws:lambda:us-east-1:123456789012:function:poll", 256, 120)
        threads = [
            threading.Thread(target=poll.lambda_handler, args=({"instanceId": i}, context)) for i in ids
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        poll.poll_instance = real
        poll.logger._logger.removeHandler(collect)
        poll.logger.setLevel(level)
    lines = [_json.loads(line) for line in formatted]
    polled = [line for line in lines if line.get("message") in ("poll quiet", "poll finished")]
    assert len(polled) == 2
    for line in polled:
        assert line["instance_id"] in ids
    assert {line["instance_id"] for line in polled} == set(ids)
