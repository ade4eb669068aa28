"""What a poll costs, counted on moto's server and the simulated store over HTTP: a quiet
warm poll reads the table once and writes nothing, and two polls started at once still
deliver every change exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from bcpoller.adapters import aws
from bcpoller.messages import iso_utc

from local.poll_harness import (
    CUSTOMERS_URL,
    PRODUCTS_URL,
    READ_OPERATIONS,
    CallCounter,
    by_service,
    captured_output,
    create_instance,
    drain_queue,
    invoke_poll,
    load_poll_handler,
    poller,
)
from local.store import SimulatedStore
from local.template_resources import StackResources

THREE = {"orders": poller(), "products": poller(PRODUCTS_URL), "customers": poller(CUSTOMERS_URL)}


@pytest.fixture
def store() -> Iterator[SimulatedStore]:
    s = SimulatedStore(seed=21, records_per_resource=3).start()
    yield s
    s.stop()


@pytest.fixture
def poll(stack: StackResources, store: SimulatedStore, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    from bcpoller.settings import reset_settings

    monkeypatch.setenv("BC_API_BASE_URL", store.url)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "poll")
    reset_settings()
    aws.reset_clients()
    handler = load_poll_handler()
    # Powertools keeps the first configuration of a service's logger in this process (an
    # earlier test may have set another level): measure at the default level, INFO.
    handler.logger.setLevel("INFO")
    # The engine's child logger hangs under the service that first imported it (in this
    # test process, maybe another function's); in PollFunction that is "poll".
    from aws_lambda_powertools import Logger
    from bcpoller.poll import engine

    monkeypatch.setattr(engine, "logger", Logger(service="poll", child=True))
    return handler


def test_a_quiet_warm_poll_reads_once_writes_nothing_and_logs_one_short_line(
    poll: ModuleType, store: SimulatedStore
) -> None:
    origin = store.now() - timedelta(minutes=5)
    instance_id = create_instance(store, THREE, created=origin)
    for name in THREE:
        # Each resource has a change, so each has a cursor item. Dated a minute back: past
        # the re-read overlap (pollDelay), so no later poll prunes it however slow the
        # machine makes the polls (that prune is a legitimate write, not a quiet poll's).
        store.create(name, {"date_modified": store.now() - timedelta(minutes=1)})
    assert invoke_poll(poll, instance_id)["status"] == "ok"  # cold: KMS, lease, checkpoints
    assert invoke_poll(poll, instance_id)["status"] == "ok"  # the report settles
    counter = CallCounter().install()
    requests_before = sum(store.stats_requests.values())
    try:
        with captured_output("poll") as output:
            result = invoke_poll(poll, instance_id)
    finally:
        counter.uninstall()

    assert result["status"] == "ok" and sum(r["eventsEmitted"] for r in result["resources"].values()) == 0
    calls = counter.calls
    services = by_service(calls)
    reads = [c for c in counter.dynamo if c.operation in READ_OPERATIONS]
    writes = [c for c in counter.dynamo if c.is_write]
    assert len(reads) <= 1, calls
    assert sum(c.read_units() for c in reads) <= 1.0, [c.read_bytes() for c in reads]
    assert writes == [], calls
    assert services.get("kms", 0) == 0 and services.get("sqs", 0) == 0, calls
    store_requests = sum(store.stats_requests.values()) - requests_before
    assert store_requests == 3 and sum(r["requests"] for r in result["resources"].values()) == 3
    assert store.stats_requests["GET /v2/time"] == 0  # the clock came from the Date headers
    logged = output.getvalue()
    assert 0 < len(logged.encode()) <= 300, logged


def test_two_polls_started_at_once_deliver_every_change_exactly_once(
    poll: ModuleType, store: SimulatedStore
) -> None:
    origin = store.now() - timedelta(minutes=2)
    instance_id = create_instance(store, THREE, created=origin)
    second = load_poll_handler(copy=1)  # another Lambda instance: its own module and clients
    first_done = threading.Event()
    # In the later rounds the second poll reaches its first send only once the first poll
    # has finished: its cursors are stale by then, the worst interleaving of an overlap.
    second.deps.state = _LateLease(second.deps.state, first_done)
    for round_ in range(4):
        ids = store.bulk("orders", 40, start=store.now(), per_second=40)
        store.create("products")
        store.create("customers")
        for oid in ids[:5]:
            store.update("orders", oid)
        results: list[dict[str, object]] = []
        barrier = threading.Barrier(2)
        first_done.clear()
        second.deps.state.wait = round_ >= 2

        def run(
            handler: ModuleType,
            barrier: threading.Barrier = barrier,
            results: list[dict[str, object]] = results,
        ) -> None:
            barrier.wait()  # both polls start at the same instant
            results.append(invoke_poll(handler, instance_id))
            if handler is poll:
                first_done.set()

        threads = [threading.Thread(target=run, args=(h,)) for h in (poll, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 2 and all(r["status"] in ("ok", "skipped", "lease_lost") for r in results)
    invoke_poll(poll, instance_id)  # a last quiet poll catches anything deferred

    messages = drain_queue()
    sent = Counter(m["eventId"] for m in messages)
    changes = {
        (c["resource"], str(c["id"]), iso_utc(_when(c["date_modified"])))
        for c in store.changes(origin)
        if c["operation"] != "DELETED"
    }
    last_change: dict[tuple[str, str], str] = {}
    for c in store.changes(origin):
        last_change[(c["resource"], str(c["id"]))] = iso_utc(_when(c["date_modified"]))
    latest = {(name, oid, at) for (name, oid), at in last_change.items()}
    emitted = {(m["objectType"], m["objectId"], m["changedAt"]) for m in messages}
    assert latest <= emitted, f"lost: {sorted(latest - emitted)[:5]}"
    assert emitted <= changes
    # Exactly once: one eventId per change, and no message queued twice either (the lease
    # keeps the overlapping poll from sending; delivery's idempotency is the last guard).
    assert len({m["eventId"] for m in messages}) == len(emitted)
    assert max(sent.values()) == 1, [k for k, n in sent.items() if n > 1][:3]


def _when(value: object) -> datetime:
    from bcpoller.connector.client import parse_record_time

    parsed = parse_record_time(value)
    assert parsed is not None, value
    return parsed


class _LateLease:
    """The second poll's table adapter, whose first lease request waits (when ``wait``)
    until the first poll is done."""

    def __init__(self, inner: Any, first_done: threading.Event) -> None:
        self.inner = inner
        self.first_done = first_done
        self.wait = False

    def take_lease(self, *args: Any, **kwargs: Any) -> str | None:
        if self.wait:
            assert self.first_done.wait(30), "the first poll never finished"
        result: str | None = self.inner.take_lease(*args, **kwargs)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
