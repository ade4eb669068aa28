"""The whole system on the local stack, driven over HTTP only: the API, the store's control
API, the sink, moto's SQS API (queue depth) and the runtime's control endpoint."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest

from local.demo import SEED_POLLER_CONFIGURATION
from tests.e2e.conftest import LocalStack, wait_until

pytestmark = pytest.mark.e2e


def create_instance(
    stack: LocalStack, hook: str, resources: tuple[str, ...], refresh: int = 5, **extra: Any
) -> dict[str, Any]:
    """An instance whose events go to the sink's /hooks/{hook}; the hook checks both signatures."""
    key = secrets.token_urlsafe(20)
    body = {
        "element": {"key": "bigcommerce"},
        "name": f"e2e {hook}",
        "tags": ["e2e"],
        "configuration": {
            "store.url": f"{stack.store}/stores/{stack.state['store_hash']}",
            "store.hash": stack.state["store_hash"],
            "access.token": stack.state["store_token"],
            "event.notification.enabled": True,
            "event.notification.callback.url": f"{stack.sink}/hooks/{hook}",
            "event.notification.signature.key": key,
            "event.poller.refresh_interval": refresh,
            "event.poller.configuration": {r: SEED_POLLER_CONFIGURATION[r] for r in resources},
            **extra,
        },
    }
    r = httpx.post(f"{stack.api}/instances", json=body, headers=stack.headers, timeout=30)
    assert r.status_code in (200, 201), r.text
    created = r.json()
    assert created["configuration"]["access.token"] != stack.state["store_token"]  # masked
    keys = {"hook": hook, "signature_key": key, "signing_secret": created["signingSecret"]}
    httpx.post(f"{stack.sink}/_behavior", json=keys).raise_for_status()
    return dict(created)


def deliveries(stack: LocalStack, hook: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{stack.sink}/_deliveries", params={"hook": hook}, timeout=30).json())


def event_of(delivery: dict[str, Any]) -> tuple[str, str, str]:
    ev = delivery["body"]["message"]["events"][0]
    return ev["objectType"], ev["objectId"], ev["eventType"]


def delivered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in rows if 200 <= d["status"] < 300]


def test_each_store_change_reaches_the_sink_once_signed(local_stack: LocalStack) -> None:
    stack, store = local_stack, local_stack.store
    inst = create_instance(stack, "changes", ("orders", "products", "customers"))
    try:
        made: list[tuple[str, int]] = []
        for resource, n in (("orders", 3), ("customers", 2), ("products", 1)):
            for _ in range(n):
                r = httpx.post(f"{store}/_admin/{resource}", json={})
                assert r.status_code == 201, r.text
                made.append((resource, int(r.json()["id"])))
        ours = {(res, str(i)) for res, i in made}

        def seen(kind: str) -> set[tuple[str, str]]:
            rows = delivered(deliveries(stack, "changes"))
            return {(t, i) for t, i, k in map(event_of, rows) if k == kind and (t, i) in ours}

        wait_until(lambda: seen("CREATED") == ours, 30, "a CREATED event per new record")
        time.sleep(1.1)  # the next change lands in a later second of the store's clock
        updated = [made[0], made[1], made[3]]
        for resource, i in updated:
            change = {"orders": {"staff_notes": "e2e"}, "customers": {"notes": "e2e"}}[resource]
            r = httpx.put(f"{store}/_admin/{resource}/{i}", json=change)
            assert r.status_code == 200, r.text
        want_updates = {(res, str(i)) for res, i in updated}
        wait_until(lambda: seen("UPDATED") == want_updates, 30, "an UPDATED event per update")
        time.sleep(3)  # a few more polls: none may repeat an event

        rows = [d for d in deliveries(stack, "changes") if (event_of(d)[0], event_of(d)[1]) in ours]
        assert all(200 <= d["status"] < 300 for d in rows)
        assert all(d["signatures_valid"] is True for d in rows), "every delivery verifies with both keys"
        ids = [d["body"]["message"]["eventId"] for d in rows]
        assert len(ids) == len(set(ids)) == len(made) + len(updated), Counter(map(event_of, rows))
        for d in rows:
            message = d["body"]["message"]
            assert d["headers"]["elements-webhook-id"] == message["eventId"]
            assert message["instanceId"] == inst["id"]
            kind = message["events"][0]["objectType"]
            assert str(message["raw"][kind][0]["id"]) == message["events"][0]["objectId"]
        # Each change in the store's own mutation log is one event with its time.
        changes = httpx.get(f"{store}/_admin/changes").json()
        logged = {
            (c["resource"], str(c["id"]), c["date_modified"])
            for c in changes
            if (c["resource"], str(c["id"])) in ours
        }
        events = [e for d in rows for e in d["body"]["message"]["events"]]
        sent = {(e["objectType"], e["objectId"], e["date"]) for e in events}
        assert sent == logged
    finally:
        httpx.delete(f"{stack.api}/instances/{inst['id']}", headers=stack.headers)


def test_failing_callback_is_retried_then_delivered_once(local_stack: LocalStack) -> None:
    stack = local_stack
    inst = create_instance(stack, "flaky", ("orders",))
    try:
        failing = {"hook": "flaky", "status": 500, "times": 3}
        httpx.post(f"{stack.sink}/_behavior", json=failing).raise_for_status()
        order = httpx.post(f"{stack.store}/_admin/orders", json={}).json()
        wait_until(lambda: delivered(deliveries(stack, "flaky")), 45, "a 2xx after 3 failures", interval=1.0)
        rows = [d for d in deliveries(stack, "flaky") if event_of(d)[1] == str(order["id"])]
        assert [d["status"] for d in rows] == [500, 500, 500, 200]
        assert len({d["body"]["message"]["eventId"] for d in rows}) == 1
        assert all(d["signatures_valid"] is True for d in rows)
        event_id = rows[0]["body"]["message"]["eventId"]
        url = f"{stack.api}/instances/{inst['id']}/events/{event_id}"
        log = httpx.get(url, headers=stack.headers).json()
        assert log["status"] == "delivered"
        assert [a["statusCode"] for a in log["attempts"]] == [500, 500, 500, 200]
    finally:
        httpx.delete(f"{stack.api}/instances/{inst['id']}", headers=stack.headers)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _queue_depth(stack: LocalStack) -> int:
    sqs = boto3.client(
        "sqs",
        endpoint_url=stack.state["moto"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    url = sqs.list_queues()["QueueUrls"]
    events_queue = next(u for u in url if u.endswith("-EventsQueue"))
    attrs = sqs.get_queue_attributes(QueueUrl=events_queue, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


KILL_CHANGES = 500  # two pages of 250: the poll is killed after the first


def test_runtime_killed_mid_poll_loses_nothing_and_sends_nothing_twice(local_stack: LocalStack) -> None:
    stack = local_stack
    old_pid = int(stack.reload()["runtime_pid"])
    health = f"{stack.control}/health"
    # The changes are spread over the last 40 s of the store's clock (ties of at most
    # 25 a second) and the instance backfills from before them: its first poll reads
    # them all, page by page, slowed by 300 ms of store latency a request.
    now = datetime.fromisoformat(httpx.get(f"{stack.store}/_admin/clock").json()["now"])
    start = now - timedelta(seconds=40)
    bulk = {"count": KILL_CHANGES, "date_modified": start.isoformat(), "per_second": KILL_CHANGES // 40}
    ids = httpx.post(f"{stack.store}/_admin/orders/bulk", json=bulk).json()["ids"]
    assert len(ids) == KILL_CHANGES
    # Deliveries wait (as with the event source mapping disabled), so the kill lands in
    # the poll and not in a delivery batch, whose messages would hide for the queue's 180 s.
    assert httpx.post(f"{stack.control}/event-source", json={"enabled": False}).status_code == 200
    wait_until(lambda: httpx.get(health).json()["deliveries_in_flight"] == 0, 30, "no delivery in flight")
    before = _queue_depth(stack)
    httpx.post(f"{stack.store}/_admin/faults", json={"latency_ms": 300}).raise_for_status()
    since = (start - timedelta(seconds=1)).isoformat()
    inst = create_instance(stack, "kill", ("orders",), **{"event.poller.backfill_since": since})
    try:
        # Mid-poll: at least one page is in SQS, not all of them.
        depth = wait_until(
            lambda: (lambda d: d if 250 <= d - before < KILL_CHANGES else 0)(_queue_depth(stack)),
            60,
            "the poll's first page in SQS",
            interval=0.05,
        )
        assert httpx.get(health).json()["polls_running"] >= 1
        os.kill(old_pid, signal.SIGKILL)
        assert depth - before < KILL_CHANGES
        httpx.post(f"{stack.store}/_admin/faults", json={"latency_ms": 0}).raise_for_status()
        wait_until(lambda: int(stack.reload()["runtime_pid"]) != old_pid, 30, "the runtime restarted")
        wait_until(lambda: answers(health), 60, "the new runtime's health")

        want = {str(i) for i in ids}

        def got() -> bool:
            rows = delivered(deliveries(stack, "kill"))
            return {event_of(d)[1] for d in rows} >= want

        wait_until(got, 150, "every order delivered after the restart", interval=2.0)
        time.sleep(3)
        rows = [d for d in delivered(deliveries(stack, "kill")) if event_of(d)[1] in want]
        per_event = Counter(d["body"]["message"]["eventId"] for d in rows)
        assert len(per_event) == KILL_CHANGES
        assert max(per_event.values()) == 1, "an event reached the callback twice"
        assert all(d["signatures_valid"] is True for d in rows)
    finally:
        with contextlib.suppress(httpx.HTTPError):  # leave the shared stack as found
            httpx.post(f"{stack.store}/_admin/faults", json={"latency_ms": 0})
            httpx.post(f"{stack.control}/event-source", json={"enabled": True})
            httpx.delete(f"{stack.api}/instances/{inst['id']}", headers=stack.headers)


def test_deleted_and_archived_records_reach_the_sink_as_deleted_once(local_stack: LocalStack) -> None:
    """Deletions on (a sweep every 5 configured minutes, 1 s on this stack): a deleted
    product, customer and order and an archived order each reach the sink as DELETED
    exactly once; an instance of the same store with deletions off gets none."""
    stack, store = local_stack, local_stack.store
    resources = ("orders", "products", "customers")
    swept = {r: {**SEED_POLLER_CONFIGURATION[r], "deletions": {"everyMinutes": 5}} for r in resources}
    on = create_instance(stack, "sweep", resources, **{"event.poller.configuration": swept})
    off = create_instance(stack, "nosweep", resources)
    try:
        made: dict[str, list[str]] = {}
        for resource, n in (("orders", 2), ("products", 1), ("customers", 1)):
            made[resource] = []
            for _ in range(n):
                r = httpx.post(f"{store}/_admin/{resource}", json={})
                assert r.status_code == 201, r.text
                made[resource].append(str(r.json()["id"]))
        ours = {(res, i) for res, ids in made.items() for i in ids}

        def kinds(hook: str, kind: str) -> list[tuple[str, str]]:
            rows = delivered(deliveries(stack, hook))
            return [(t, i) for t, i, k in map(event_of, rows) if k == kind and (t, i) in ours]

        for hook in ("sweep", "nosweep"):
            wait_until(lambda h=hook: set(kinds(h, "CREATED")) == ours, 30, f"CREATED at {hook}")
        time.sleep(2.5)  # a sweep or two lists the new ids (1 s apart here)
        archived, order = made["orders"]
        r = httpx.put(f"{store}/_admin/orders/{archived}", json={"is_deleted": True})
        assert r.status_code == 200, r.text
        deleted = (("orders", order), ("products", made["products"][0]), ("customers", made["customers"][0]))
        for resource, oid in deleted:
            assert httpx.delete(f"{store}/_admin/{resource}/{oid}").status_code == 204
        wait_until(lambda: set(kinds("sweep", "DELETED")) == ours, 30, "a DELETED per deletion")
        time.sleep(4)  # several more polls and sweeps: none may repeat a deletion

        gone = kinds("sweep", "DELETED")
        assert Counter(gone) == Counter(dict.fromkeys(ours, 1)), Counter(gone)
        rows = [d for d in delivered(deliveries(stack, "sweep")) if event_of(d)[2] == "DELETED"]
        assert all(d["signatures_valid"] is True for d in rows)
        assert len({d["body"]["message"]["eventId"] for d in rows}) == len(rows)
        assert kinds("nosweep", "DELETED") == []
        # The archived order's event carries the record as last read; the others only the id.
        raw = {event_of(d)[1]: d["body"]["message"]["raw"] for d in rows}
        assert raw[archived]["orders"][0]["is_deleted"] is True
        assert raw[made["products"][0]]["products"][0] == {"id": int(made["products"][0])}
    finally:
        for inst in (on, off):
            httpx.delete(f"{stack.api}/instances/{inst['id']}", headers=stack.headers)
