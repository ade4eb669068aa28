"""10,000 changes in one poll, on moto's server and the simulated store."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from bcpoller.messages import iso_utc

from local.poll_harness import (
    QueueConsumer,
    RecordingQueue,
    create_instance,
    cursor_item,
    invoke_poll,
    load_poll_handler,
    poller,
)
from local.store import SimulatedStore
from local.template_resources import StackResources


@pytest.fixture
def store() -> Iterator[SimulatedStore]:
    # Quota high enough that the governor never waits: this measures the poller.
    s = SimulatedStore(seed=3, records_per_resource=0, quota=10_000).start()
    yield s
    s.stop()


@pytest.mark.slow
@pytest.mark.timeout(1200)  # ~1,000 SendMessageBatch calls: minutes when moto shares busy cores
def test_10000_changes_in_one_poll(
    stack: StackResources, store: SimulatedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bcpoller.settings import reset_settings

    monkeypatch.setenv("BC_API_BASE_URL", store.url)
    reset_settings()
    handler = load_poll_handler()
    sent = RecordingQueue(handler.deps.queue)  # the real SQS writer, observed
    handler.deps.queue = sent

    origin = store.now() - timedelta(minutes=10)
    instance_id = create_instance(store, {"orders": poller()}, created=origin)
    ids = store.bulk("orders", 10_000, start=origin + timedelta(seconds=1), per_second=25)

    with QueueConsumer() as consumer:
        result = invoke_poll(handler, instance_id, timeout_s=900)

    assert result["status"] == "ok", result
    assert result["resources"]["orders"]["eventsEmitted"] == 10_000
    messages = [json.loads(b) for b in sent.bodies]
    per_change = Counter((m["objectId"], m["changedAt"]) for m in messages)
    assert len(per_change) == 10_000 and set(per_change.values()) == {1}
    assert {m["objectId"] for m in messages} == {str(i) for i in ids}
    assert {m["eventType"] for m in messages} == {"CREATED"}
    # Every one of them really went through SQS (which may deliver a message twice).
    assert {m["eventId"] for m in consumer.messages} == {m["eventId"] for m in messages}
    last = origin + timedelta(seconds=1 + (10_000 - 1) // 25)
    item = cursor_item(instance_id, "orders")
    assert item is not None and item["cursor"] == iso_utc(last)

    again = invoke_poll(handler, instance_id)
    assert again["resources"]["orders"]["eventsEmitted"] == 0
