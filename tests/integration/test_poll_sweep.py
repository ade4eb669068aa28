"""The deletion sweep through the real PollFunction, on moto's server (DynamoDB, SQS, KMS)
and the simulated store over HTTP: DELETED once per deleted product and customer and per
archived order, the sweep's items outside the poll's one read, 50,000 products in items
far below DynamoDB's 400 KB, and nothing at all when ``deletions`` is absent."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from bcpoller import keys
from bcpoller.adapters import aws
from bcpoller.settings import get_settings

from local.dynamo_size import item_size
from local.poll_harness import (
    CUSTOMERS_URL,
    PRODUCTS_URL,
    CallCounter,
    create_instance,
    drain_queue,
    invoke_poll,
    load_poll_handler,
    poller,
)
from local.store import SimulatedStore
from local.template_resources import StackResources

HOURLY = {"deletions": {"everyMinutes": 60}}


@pytest.fixture
def store() -> Iterator[SimulatedStore]:
    s = SimulatedStore(seed=5, records_per_resource=0, quota=100_000).start()
    yield s
    s.stop()


@pytest.fixture
def poll(stack: StackResources, store: SimulatedStore, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    from bcpoller.settings import reset_settings

    monkeypatch.setenv("BC_API_BASE_URL", store.url)
    reset_settings()
    return load_poll_handler()


def _raw_items(instance_id: str, prefix: str) -> list[dict[str, Any]]:
    """The items of the instance's partition whose sk starts with ``prefix``, as DynamoDB
    holds them (typed), for their sizes."""
    settings = get_settings()
    raw = aws.client("dynamodb")
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": settings.table_name,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
        "ExpressionAttributeValues": {":pk": {"S": keys.instance_pk(instance_id)}, ":p": {"S": prefix}},
    }
    while True:
        page = raw.query(**kwargs)
        out.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _deleted(messages: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((m["objectType"], m["objectId"]) for m in messages if m["eventType"] == "DELETED")


def test_deleted_products_customers_and_archived_orders_are_deleted_once(
    poll: ModuleType, store: SimulatedStore
) -> None:
    before = store.now() - timedelta(hours=2)
    ids = {r: store.bulk(r, 5, start=before, per_second=5) for r in ("orders", "products", "customers")}
    order, product, customer = ids["orders"][2], ids["products"][1], ids["customers"][3]
    pollers = {
        "orders": poller(**HOURLY),
        "products": poller(PRODUCTS_URL, **HOURLY),
        "customers": poller(CUSTOMERS_URL, **HOURLY),
    }
    instance_id = create_instance(store, pollers)
    assert invoke_poll(poll, instance_id)["status"] == "ok"  # the baseline sweeps
    assert drain_queue() == []

    store.delete("products", product)
    store.delete("customers", customer)
    store.update("orders", order, {"is_deleted": True})  # BigCommerce's archive: listed, flagged
    invoke_poll(poll, instance_id)  # no sweep due: only the archived order, read by the poll
    first = drain_queue()
    assert _deleted(first) == Counter({("orders", str(order)): 1})
    assert len(first) == 1

    store.set_clock_skew(61 * 60)  # a sweep is due
    invoke_poll(poll, instance_id)
    store.set_clock_skew(2 * 61 * 60)
    invoke_poll(poll, instance_id)
    later = drain_queue()
    assert _deleted(later) == Counter({("products", str(product)): 1, ("customers", str(customer)): 1})
    for m in later:
        assert m["body"] and '"raw"' in m["body"]

    # The poll's one read is untouched: nothing of the sweep sorts under META.
    meta = _raw_items(instance_id, keys.META)
    assert sorted(i["sk"]["S"] for i in meta) == sorted(
        [keys.META, keys.POLL_STATUS, *(keys.cursor_sk(r) for r in pollers)]
    )
    assert len(_raw_items(instance_id, keys.SWEEP_PREFIX)) >= 6  # a state and a part each


def test_deletions_off_writes_no_sweep_item_and_sends_what_it_always_sent(
    poll: ModuleType, store: SimulatedStore
) -> None:
    made = store.bulk("products", 5, start=store.now() - timedelta(hours=2), per_second=5)
    instance_id = create_instance(store, {"products": poller(PRODUCTS_URL)})
    invoke_poll(poll, instance_id)
    store.delete("products", made[1])
    store.update("products", made[2], {"name": "renamed"})
    store.set_clock_skew(61 * 60)
    invoke_poll(poll, instance_id)
    messages = drain_queue()
    assert [(m["objectId"], m["eventType"]) for m in messages] == [(str(made[2]), "UPDATED")]
    assert _raw_items(instance_id, keys.SWEEP_PREFIX) == []
    cursor = _raw_items(instance_id, keys.cursor_sk("products"))[0]
    assert "sweepAt" not in cursor and "sweepNew" not in cursor


def test_a_quiet_poll_with_deletions_on_but_not_due_costs_one_read(
    poll: ModuleType, store: SimulatedStore
) -> None:
    store.bulk("products", 5, start=store.now() - timedelta(hours=2), per_second=5)
    instance_id = create_instance(store, {"products": poller(PRODUCTS_URL, **HOURLY)})
    invoke_poll(poll, instance_id)
    invoke_poll(poll, instance_id)
    counter = CallCounter().install()
    try:
        counter.reset()
        invoke_poll(poll, instance_id)
        dynamo = list(counter.dynamo)
    finally:
        counter.uninstall()
    assert [c.operation for c in dynamo] == ["Query"]
    assert all(not c.is_write for c in dynamo)


def test_fifty_thousand_products_sweep_in_pages_of_ids_and_small_items(
    poll: ModuleType, store: SimulatedStore
) -> None:
    total = 50_000
    made = store.bulk("products", total, start=store.now() - timedelta(days=2), per_second=1000)
    instance_id = create_instance(store, {"products": poller(PRODUCTS_URL, **HOURLY)})
    poll.deps.sweep_pages = 1000  # the whole listing in one poll, to count its requests
    invoke_poll(poll, instance_id)  # the baseline
    store.delete("products", made[31_337])
    store.set_clock_skew(61 * 60)
    before = store.stats()["requests"].get("GET /v3/catalog/products", 0)
    invoke_poll(poll, instance_id)
    requests = store.stats()["requests"]["GET /v3/catalog/products"] - before
    assert requests == 1 + total // 250  # the normal poll's page, then one request per 250 ids
    assert _deleted(drain_queue()) == Counter({("products", str(made[31_337])): 1})
    sizes = [item_size(i) for i in _raw_items(instance_id, keys.SWEEP_PREFIX)]
    assert sizes and max(sizes) < 400 * 1024
    cursor = _raw_items(instance_id, keys.cursor_sk("products"))[0]
    assert item_size(cursor) < 4096  # the poll's one read stays one read unit
