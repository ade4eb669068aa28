"""The instances API end to end on moto's server (DynamoDB, KMS, Scheduler, SQS) with the
simulated BigCommerce store over real HTTP, driving the handler with HTTP API v2 events."""

from __future__ import annotations

import copy
import io
import json
import socket
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from bcpoller.adapters import aws
from bcpoller.api import admin
from bcpoller.security import ssrf
from bcpoller.settings import reset_settings

from local.store import SimulatedStore
from local.template_resources import StackResources
from tests.conftest import load_handler
from tests.unit.api.helpers import Ctx, v2_event

SECRET_VALUES = ("sim-password", "sim-token", "sim-client-secret")


@pytest.fixture
def store() -> Iterator[SimulatedStore]:
    s = SimulatedStore(seed=7, records_per_resource=5).start()
    yield s
    s.stop()


@pytest.fixture
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seeds' callback host resolves to a public address (there is no DNS in tests)."""
    real = socket.getaddrinfo

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "mycoolapp.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port or 443))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake)


@pytest.fixture
def api(
    stack: StackResources, store: SimulatedStore, public_dns: None, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    monkeypatch.setenv("BC_API_BASE_URL", store.url)
    monkeypatch.setenv("BC_LOGIN_BASE_URL", store.url)
    reset_settings()
    aws.reset_clients()
    return load_handler("api")


def new_org(name: str) -> dict[str, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert admin.main(["create-org", "--name", name, "--json"]) == 0
    return json.loads(out.getvalue())


def call(api: ModuleType, method: str, path: str, auth: str | None = None, **kwargs: Any) -> tuple[int, Any]:
    headers = {"Authorization": auth} if auth else {}
    result = api.lambda_handler(v2_event(method, path, headers=headers, **kwargs), Ctx())
    body = result.get("body")
    return result["statusCode"], (json.loads(body) if body else None)


def seed(shared_dir: Path, name: str) -> dict[str, Any]:
    path = shared_dir / f"seed-instance-{name}.json"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return json.loads(path.read_text())


def basic_seed(shared_dir: Path, store: SimulatedStore) -> dict[str, Any]:
    body = seed(shared_dir, "basic-auth")
    body["configuration"].update(
        {"store.url": store.legacy_url, "username": store.username, "password": store.password}
    )
    return body


def oauth_seed(shared_dir: Path, store: SimulatedStore) -> dict[str, Any]:
    """The OAuth seed installed as BigCommerce's single-click install would: the app's key
    and secret plus the install callback's code and context."""
    body = seed(shared_dir, "oauth")
    body["configuration"].update(
        {
            "oauth.api.key": store.client_id,
            "oauth.api.secret": store.client_secret,
            "oauth.code": "install-code-1",
            "oauth.context": f"stores/{store.store_hash}",
            "oauth.scope": "store_v2_orders_read_only store_v2_products_read_only",
        }
    )
    return body


def create_oauth_instance(
    api: ModuleType, org: dict[str, str], shared_dir: Path, store: SimulatedStore
) -> dict[str, Any]:
    """POST /instances with the OAuth seed pointed at the simulated store; it must be a 201."""
    status, created = call(
        api, "POST", "/instances", org["authorization"], body=oauth_seed(shared_dir, store)
    )
    assert status == 201, created
    return created


def schedule(stack: StackResources, instance_id: str) -> dict[str, Any] | None:
    client = boto3.client("scheduler")
    try:
        return client.get_schedule(Name=f"inst-{instance_id}", GroupName=stack.schedule_group_name)
    except client.exceptions.ResourceNotFoundException:
        return None


def raw_items(stack: StackResources, instance_id: str) -> list[dict[str, Any]]:
    """Every stored item of the instance: its own partition and its event log's."""
    ddb = boto3.client("dynamodb")
    return [
        item
        for pk in (f"INST#{instance_id}", f"EVT#{instance_id}")
        for item in ddb.query(
            TableName=stack.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        )["Items"]
    ]


def test_basic_auth_seed_gets_a_400_listing_the_available_resources(
    api: ModuleType, shared_dir: Path, store: SimulatedStore, stack: StackResources
) -> None:
    org = new_org("acme")
    status, data = call(api, "POST", "/instances", org["authorization"], body=basic_seed(shared_dir, store))
    assert status == 400, data
    contacts = [e for e in data["errors"] if "contacts" in e["field"]]
    assert contacts, data
    assert "orders" in contacts[0]["problem"] and "products" in contacts[0]["problem"]
    assert not any(v in json.dumps(data) for v in SECRET_VALUES)


def test_basic_auth_seed_with_a_catalog_resource_creates_an_instance(
    api: ModuleType, shared_dir: Path, store: SimulatedStore, stack: StackResources
) -> None:
    org = new_org("acme")
    body = basic_seed(shared_dir, store)
    orders = {"url": "/hubs/ecommerce/orders?where=min_date_modified='${date:EEE, dd MMM yyyy HH:mm:ss Z}'"}
    body["configuration"]["event.poller.configuration"] = {"orders": orders}
    status, data = call(api, "POST", "/instances", org["authorization"], body=body)
    assert status == 201, data
    assert data["configuration"]["password"] == "********"
    assert data["refreshInterval"] == 5  # "" = the default
    sched = schedule(stack, data["id"])
    assert sched is not None and sched["ScheduleExpression"] == "rate(5 minutes)"
    # A tick that cannot reach PollFunction is not retried for a day (Scheduler's default).
    assert sched["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60}


def test_oauth_seed_installs_polls_on_a_schedule_and_keeps_secrets(
    api: ModuleType, shared_dir: Path, store: SimulatedStore, stack: StackResources
) -> None:
    org = new_org("acme")
    created = create_oauth_instance(api, org, shared_dir, store)
    iid = created["id"]
    assert created["name"] == "API_Polling" and created["tags"] == ["Test"]
    assert created["resources"] == ["orders", "products", "customers"]
    assert created["refreshInterval"] == 15 and created["eventsEnabled"] is True
    assert created["configuration"]["oauth.api.secret"] == "********"
    assert created["configuration"]["oauth.access.token"] == "********"
    assert created["signingSecret"].startswith("whsec_")

    sched = schedule(stack, iid)
    assert sched is not None
    assert sched["ScheduleExpression"] == "rate(15 minutes)"
    assert sched["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert json.loads(sched["Target"]["Input"]) == {"instanceId": iid}
    assert sched["Target"]["Arn"] == stack.poll_function_arn

    # Secrets never come back and are not in the table in clear.
    status, got = call(api, "GET", f"/instances/{iid}", org["authorization"])
    assert status == 200
    text = json.dumps(got)
    for value in (*SECRET_VALUES, created["token"], created["signingSecret"]):
        assert value not in text
    stored = json.dumps(raw_items(stack, iid), default=str)
    for value in (store.client_secret, created["token"], created["signingSecret"].removeprefix("whsec_")):
        assert value not in stored

    # The schedule follows the interval, the events switch, and the instance.
    status, patched = call(
        api,
        "PATCH",
        f"/instances/{iid}",
        org["authorization"],
        body={"configuration": {"event.poller.refresh_interval": 1}},
    )
    assert status == 200, patched
    assert schedule(stack, iid)["ScheduleExpression"] == "rate(1 minute)"
    assert call(api, "DELETE", f"/instances/{iid}/events/enabled", org["authorization"])[0] == 200
    assert schedule(stack, iid) is None
    assert call(api, "PUT", f"/instances/{iid}/events/enabled", org["authorization"])[0] == 200
    assert schedule(stack, iid)["ScheduleExpression"] == "rate(1 minute)"

    status, st = call(api, "GET", f"/instances/{iid}/status", org["authorization"])
    assert (
        status == 200
        and st["authState"] == "ok"
        and st["last24h"] == {**st["last24h"], "delivered": 0, "failed": 0}
    )
    status, page = call(api, "GET", f"/instances/{iid}/events", org["authorization"])
    assert status == 200 and page == {"events": [], "nextToken": None}

    assert call(api, "DELETE", f"/instances/{iid}", org["authorization"])[0] == 204
    assert schedule(stack, iid) is None
    assert raw_items(stack, iid) == []
    assert call(api, "GET", f"/instances/{iid}", org["authorization"])[0] == 404


def test_wrong_store_credentials_are_a_400_saying_what_bigcommerce_answered(
    api: ModuleType, shared_dir: Path, store: SimulatedStore
) -> None:
    org = new_org("acme")
    body = basic_seed(shared_dir, store)
    body["configuration"]["password"] = "wrong-password"
    body["configuration"]["event.poller.configuration"] = {"orders": {"url": "/hubs/ecommerce/orders"}}
    status, data = call(api, "POST", "/instances", org["authorization"], body=body)
    assert status == 400, data
    assert "refused" in data["message"] and "401" in data["message"]
    assert "wrong-password" not in json.dumps(data)


def test_ssrf_guard_refuses_private_callbacks(
    api: ModuleType, shared_dir: Path, store: SimulatedStore
) -> None:
    org = new_org("acme")
    body = oauth_seed(shared_dir, store)
    body["configuration"]["event.notification.callback.url"] = "http://169.254.169.254/latest/meta-data/"
    status, data = call(api, "POST", "/instances", org["authorization"], body=body)
    assert status == 400
    assert any(e["field"] == "configuration.event.notification.callback.url" for e in data["errors"]), data


def test_tenants_are_isolated_and_element_token_reaches_only_its_instance(
    api: ModuleType, shared_dir: Path, store: SimulatedStore
) -> None:
    a, b = new_org("a"), new_org("b")
    status, one = call(api, "POST", "/instances", a["authorization"], body=oauth_seed(shared_dir, store))
    assert status == 201, one
    second_body = oauth_seed(shared_dir, store)
    second_body["configuration"]["oauth.code"] = "install-code-2"
    status, two = call(api, "POST", "/instances", a["authorization"], body=second_body)
    assert status == 201, two

    assert call(api, "GET", f"/instances/{one['id']}", b["authorization"])[0] == 404
    assert call(api, "DELETE", f"/instances/{one['id']}", b["authorization"])[0] == 404
    assert call(api, "GET", "/instances", b["authorization"]) == (200, [])
    status, listed = call(api, "GET", "/instances", a["authorization"])
    assert status == 200 and {i["id"] for i in listed} == {one["id"], two["id"]}

    element = f"Element {one['token']}"
    assert call(api, "GET", f"/instances/{one['id']}", element)[0] == 200
    assert call(api, "GET", f"/instances/{one['id']}/status", element)[0] == 200
    assert call(api, "GET", f"/instances/{one['id']}/events", element)[0] == 200
    assert call(api, "GET", f"/instances/{two['id']}", element)[0] == 404
    assert call(api, "GET", "/instances", element)[0] == 403
    assert call(api, "PATCH", f"/instances/{one['id']}", element, body={"name": "x"})[0] == 403
    assert call(api, "GET", f"/instances/{one['id']}", f"Element {one['id']}.not-the-token")[0] == 401
    assert call(api, "GET", "/instances", "User nope, Organization nope")[0] == 401
    assert (
        call(api, "GET", "/instances", f"User {a['userSecret']}, Organization {b['organizationSecret']}")[0]
        == 401
    )


def test_patch_changes_credentials_and_checks_them(
    api: ModuleType, shared_dir: Path, store: SimulatedStore, stack: StackResources
) -> None:
    org = new_org("acme")
    created = create_oauth_instance(api, org, shared_dir, store)
    iid = created["id"]
    boto3.resource("dynamodb").Table(stack.table_name).update_item(
        Key={"pk": f"INST#{iid}", "sk": "META"},
        UpdateExpression="SET authState = :f, authError = :e",
        ExpressionAttributeValues={":f": "failed", ":e": "401 Unauthorized"},
    )
    bad = {"configuration": {"oauth.access.token": "not-a-token"}}
    status, data = call(api, "PATCH", f"/instances/{iid}", org["authorization"], body=bad)
    assert status == 400 and "refused" in data["message"]
    good = {
        "configuration": {
            "oauth.access.token": None,
            "access.token": store.token,
            "store.hash": store.store_hash,
        }
    }
    status, data = call(api, "PATCH", f"/instances/{iid}", org["authorization"], body=good)
    assert status == 200, data
    assert data["authState"] == "ok" and data.get("authError") is None
    assert data["configuration"]["access.token"] == "********"
    assert "oauth.access.token" not in data["configuration"]


def test_poll_now_posts_to_the_local_runtime(
    api: ModuleType, shared_dir: Path, store: SimulatedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("POLL_NOW_URL", f"http://127.0.0.1:{server.server_address[1]}/poll")
        reset_settings()
        handler = load_handler("api")
        org = new_org("acme")
        status, created = call(
            handler, "POST", "/instances", org["authorization"], body=oauth_seed(shared_dir, store)
        )
        assert status == 201, created
        status, data = call(handler, "POST", f"/instances/{created['id']}/poll", org["authorization"])
        assert status == 202 and data["instanceId"] == created["id"]
        assert received == [{"instanceId": created["id"]}]
    finally:
        server.shutdown()
        server.server_close()


def test_oversize_and_malformed_bodies(api: ModuleType) -> None:
    org = new_org("acme")
    status, data = call(
        api, "POST", "/instances", org["authorization"], raw_body="{" + " " * (257 * 1024) + "}"
    )
    assert status == 413
    status, data = call(api, "POST", "/instances", org["authorization"], raw_body="{not json")
    assert 400 <= status < 500 and data["message"]
    status, data = call(
        api, "POST", "/instances", org["authorization"], body=copy.deepcopy({"configuration": []})
    )
    assert status in (400, 422) and data["errors"]


def _sample(
    name: str, authorization: str, path: str | None = None, body: dict[str, Any] | None = None
) -> dict:
    from tests.conftest import load_event

    event = load_event(name)
    event["headers"]["authorization"] = authorization
    if path is not None:
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def test_sample_events_drive_the_handler(api: ModuleType, store: SimulatedStore) -> None:
    """events/api_*.json (what `sam local invoke -e` takes) with a real organization."""
    org = new_org("acme")
    from tests.conftest import load_event

    body = json.loads(load_event("api_create_instance.json")["body"])
    body["configuration"].update(
        {"store.url": store.api_url, "store.hash": store.store_hash, "access.token": store.token}
    )
    result = api.lambda_handler(_sample("api_create_instance.json", org["authorization"], body=body), Ctx())
    assert result["statusCode"] == 201, result["body"]
    created = json.loads(result["body"])
    result = api.lambda_handler(
        _sample("api_get_instance.json", org["authorization"], path=f"/instances/{created['id']}"), Ctx()
    )
    assert result["statusCode"] == 200 and json.loads(result["body"])["id"] == created["id"]
    result = api.lambda_handler(_sample("api_list_instances.json", org["authorization"]), Ctx())
    assert result["statusCode"] == 200 and [i["id"] for i in json.loads(result["body"])] == [created["id"]]


def test_status_events_retry_and_replay_on_the_real_log_and_queue(
    api: ModuleType, shared_dir: Path, store: SimulatedStore, stack: StackResources
) -> None:
    from datetime import UTC, datetime

    from bcpoller.adapters.event_log_table import EventLogTable
    from bcpoller.delivery.event_log import EventLog
    from bcpoller.messages import QueueMessage

    org = new_org("acme")
    created = create_oauth_instance(api, org, shared_dir, store)
    iid = created["id"]
    table = boto3.resource("dynamodb").Table(stack.table_name)
    # A cursor as the poll engine writes it (its dedup state must not reach the response).
    table.put_item(
        Item={
            "pk": f"INST#{iid}",
            "sk": "META#CURSOR#orders",
            "cursor": "2026-11-28T10:00:00Z",
            "recent": ["1|2026-11-28T10:00:00Z"],
            "version": 3,
            "lastPollStart": "2026-11-28T10:00:01Z",
            "lastPollEnd": "2026-11-28T10:00:02Z",
            "recordsRead": 7,
            "eventsEmitted": 4,
            "requests": 2,
        }
    )
    log = EventLog(EventLogTable(table))
    now = datetime.now(UTC)
    ids = []
    for n in range(3):
        message = QueueMessage(
            instanceId=iid,
            eventId=f"00000000-0000-4000-8000-00000000000{n}",
            eventType="UPDATED",
            objectType="orders",
            objectId=str(100 + n),
            changedAt=now,
            emittedAt=now,
            body=json.dumps({"message": {"n": n}}),
        )
        log.fail_without_attempt(message, reason="callback answered 500", now=now)
        ids.append(message.event_id)

    status, st = call(api, "GET", f"/instances/{iid}/status", org["authorization"])
    assert status == 200, st
    assert st["resources"] == [
        {
            "resource": "orders",
            "cursor": "2026-11-28T10:00:00Z",
            "status": None,  # no poll has run: only the cursor item speaks
            "lastPollStart": "2026-11-28T10:00:01Z",
            "lastPollEnd": "2026-11-28T10:00:02Z",
            "recordsRead": 7,
            "eventsEmitted": 4,
            "requests": 2,
            "lastError": None,
            "unreadable": None,
            "unreadableReason": None,
        }
    ]
    assert st["last24h"]["failed"] == 3 and st["last24h"]["delivered"] == 0

    status, page = call(
        api, "GET", f"/instances/{iid}/events", org["authorization"], query={"status": "failed", "limit": "2"}
    )
    assert status == 200 and len(page["events"]) == 2 and page["nextToken"]
    status, rest = call(
        api,
        "GET",
        f"/instances/{iid}/events",
        org["authorization"],
        query={"status": "failed", "nextToken": page["nextToken"]},
    )
    assert status == 200 and len(rest["events"]) == 1
    assert {e["eventId"] for e in page["events"] + rest["events"]} == set(ids)
    status, bad = call(
        api, "GET", f"/instances/{iid}/events", org["authorization"], query={"nextToken": "garbage"}
    )
    assert status == 400 and bad["errors"][0]["field"] == "nextToken"

    status, detail = call(api, "GET", f"/instances/{iid}/events/{ids[0]}", org["authorization"])
    assert status == 200 and detail["body"] == {"message": {"n": 0}} and detail["status"] == "failed"

    sqs = boto3.client("sqs")
    status, data = call(api, "POST", f"/instances/{iid}/events/{ids[0]}/retry", org["authorization"])
    assert status == 202, data
    status, data = call(api, "POST", f"/instances/{iid}/events/{ids[0]}/retry", org["authorization"])
    assert status == 409  # now queued: a second retry would duplicate it
    status, data = call(api, "POST", f"/instances/{iid}/events/replay", org["authorization"], body={})
    assert status == 202 and data == {"replayed": 2}
    received = sqs.receive_message(QueueUrl=stack.events_queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["eventId"] for m in received) == sorted(ids)


def test_a_quiet_poll_shows_in_status(
    api: ModuleType, shared_dir: Path, store: SimulatedStore, stack: StackResources
) -> None:
    """A poll that finds nothing writes no cursor item; /status must still show it ran."""
    from tests.integration.delivery_support import Context

    org = new_org("quiet")
    created = create_oauth_instance(api, org, shared_dir, store)
    iid = created["id"]

    result = load_handler("poll").lambda_handler({"instanceId": iid}, Context())
    assert result["status"] == "ok", result

    status, st = call(api, "GET", f"/instances/{iid}/status", org["authorization"])
    assert status == 200, st
    rows = {row["resource"]: row for row in st["resources"]}
    assert set(rows) == set(created["resources"])
    for row in rows.values():
        assert row["status"] == "ok" and row["eventsEmitted"] == 0 and row["lastError"] is None
        assert row["lastPollStart"] and row["lastPollEnd"] and row["lastPollEnd"] >= row["lastPollStart"]


class ItemsRead:
    """Items DynamoDB returned to this process (GetItem, Query, BatchGetItem), counted on
    the wire by a botocore hook, whatever code path asked for them."""

    def __init__(self) -> None:
        self.items = 0

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Item" in parsed:
            self.items += 1
        self.items += int(parsed.get("ScannedCount", parsed.get("Count", 0)) or 0)
        for found in (parsed.get("Responses") or {}).values():
            self.items += len(found)


def test_status_reads_a_bounded_number_of_items_whatever_the_traffic(
    api: ModuleType, shared_dir: Path, store: SimulatedStore, stack: StackResources
) -> None:
    """100,000 events in the last 24 h: written as the delivery writes its counters (one
    atomic ADD per instance and batch), beside a sample of real log entries."""
    import time
    from datetime import UTC, datetime, timedelta

    from bcpoller.adapters.event_log_table import EventLogTable
    from bcpoller.delivery.event_log import EventLog, Tally
    from bcpoller.messages import QueueMessage

    org = new_org("busy")
    iid = create_oauth_instance(api, org, shared_dir, store)["id"]
    table = aws.table(stack.table_name)
    log = EventLog(EventLogTable(table))
    now = datetime.now(UTC)
    tally = Tally()
    for n in range(100_000):
        # Spread over the last 24 h (the oldest hour partly), one in ten failed.
        when = now - timedelta(seconds=n * 86_000 / 100_000)
        tally.add(iid, when, "failed" if n % 10 == 0 else "delivered")
    log.add_counts(tally.take())
    tally.add(iid, now - timedelta(hours=30), "delivered", 5_000)  # older than the window
    log.add_counts(tally.take())
    for n in range(300):  # a sample of real log entries, as delivery writes them
        message = QueueMessage(
            instanceId=iid,
            eventId=f"00000000-0000-4000-8000-{n:012d}",
            eventType="UPDATED",
            objectType="orders",
            objectId=str(n),
            changedAt=now,
            emittedAt=now,
            body=json.dumps({"message": {"n": n}}),
        )
        claimed = log.claim(message, now=now, lease_until=now, first_attempt=True)
        log.finish_attempt(iid, message.event_id, status="delivered", attempt=None, now=now, claimed=claimed)

    reads = ItemsRead()
    for client in {id(c): c for c in (table.meta.client, aws.client("dynamodb"))}.values():
        client.meta.events.register("after-call.dynamodb", reads)
    started = time.perf_counter()
    status, st = call(api, "GET", f"/instances/{iid}/status", org["authorization"])
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert status == 200, st
    assert (st["last24h"]["delivered"], st["last24h"]["failed"]) == (90_000, 10_000)
    # Instance, secret lookup, cursors and two daily counter items; never the events.
    assert reads.items <= 10, reads.items
    print(f"status of an instance with 100,000 events in 24 h: {reads.items} items, {elapsed_ms:.0f} ms")

    started = time.perf_counter()
    call(api, "GET", f"/instances/{iid}/status", org["authorization"])
    print(f"again (warm): {(time.perf_counter() - started) * 1000:.0f} ms")

    reads.items = 0
    status, listed = call(api, "GET", "/instances", org["authorization"])
    assert status == 200 and [i["id"] for i in listed] == [iid]
    assert reads.items <= 5, reads.items
