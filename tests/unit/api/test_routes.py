"""The API's behaviour on fakes: auth, validation, secrets, schedules, errors."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from bcpoller.api.auth import Authenticator
from bcpoller.api.routes import ApiContext, build_app

from tests.unit.api.helpers import World, call

ORG_A = {"Authorization": "User ua, Organization oa"}
ORG_B = {"Authorization": "User ub, Organization ob"}
CFG = "configuration"


@pytest.fixture
def world() -> World:
    w = World()
    w.secrets.add_org("org-a", "oa", "ua")
    w.secrets.add_org("org-b", "ob", "ub")
    return w


def body(**config: Any) -> dict[str, Any]:
    configuration = {
        "store.hash": "abc123",
        "access.token": "good-token",
        "event.notification.enabled": True,
        "event.notification.callback.url": "http://127.0.0.1:9/hook",
        "event.notification.signature.key": "sig-key-secret",
        "event.poller.refresh_interval": "15",
        "event.poller.configuration": {"orders": {"url": "/hubs/ecommerce/orders"}},
    }
    configuration.update(config)
    return {"element": {"key": "bigcommerce"}, "name": "shop", "tags": ["t"], "configuration": configuration}


def create(world: World, headers: dict[str, str] = ORG_A, **config: Any) -> dict[str, Any]:
    status, data, _ = call(world.app, "POST", "/instances", body=body(**config), headers=headers)
    assert status == 201, data
    return data


def test_create_returns_token_and_signing_secret_once_and_masks_secrets(world: World) -> None:
    created = create(world)
    assert created["token"].startswith(created["id"] + ".")
    assert created["signingSecret"].startswith("whsec_")
    assert created["configuration"]["access.token"] == "********"
    assert created["configuration"]["event.notification.signature.key"] == "********"
    assert created["refreshInterval"] == 15
    assert created["resources"] == ["orders"]
    assert created["eventsEnabled"] is True and created["authState"] == "ok"
    assert world.schedules.schedules == {created["id"]: 15}

    status, got, _ = call(world.app, "GET", f"/instances/{created['id']}", headers=ORG_A)
    assert status == 200
    text = json.dumps(got)
    assert "token" not in got and "signingSecret" not in got
    for secret in ("good-token", "sig-key-secret", created["signingSecret"], created["token"]):
        assert secret not in text
    stored = world.instances.items[created["id"]]
    assert "access.token" not in stored.configuration
    assert b"good-token" not in stored.to_item()["configuration"].encode()
    assert stored.store_created_at.year == 2026


def test_every_problem_is_reported_at_once(world: World) -> None:
    status, data, _ = call(
        world.app,
        "POST",
        "/instances",
        body=body(
            **{
                "event.poller.refresh_interval": "soon",
                "event.notification.callback.url": "http://10.0.0.1/hook",
                "event.poller.configuration": {"contacts": {"url": "/hubs/crm/contacts"}},
            }
        ),
        headers=ORG_A,
    )
    assert status == 400
    fields = {e["field"] for e in data["errors"]}
    assert fields == {
        "configuration.event.poller.refresh_interval",
        "configuration.event.notification.callback.url",
        "configuration.event.poller.configuration.contacts",
    }
    assert "available" in next(e["problem"] for e in data["errors"] if "contacts" in e["field"])
    assert world.instances.items == {} and world.schedules.schedules == {}


def test_store_refusal_is_a_400_saying_what_bigcommerce_answered(world: World) -> None:
    status, data, _ = call(
        world.app, "POST", "/instances", body=body(**{"access.token": "bad"}), headers=ORG_A
    )
    assert status == 400
    assert "BigCommerce refused" in data["message"]
    assert data["errors"][0]["field"] == "configuration.access.token"
    assert "bad" not in json.dumps(data).replace("BigCommerce", "")  # token value never echoed


def test_oauth_code_is_exchanged_once_and_token_kept_secret(world: World) -> None:
    config = {
        "access.token": None,
        "oauth.api.key": "k",
        "oauth.api.secret": "s",
        "oauth.callback.url": "https://app.example/cb",
        "oauth.code": "install-code",
    }
    created = create(world, **config)
    assert created["configuration"]["oauth.access.token"] == "********"
    assert "oauth.code" not in created["configuration"]
    secrets = world.crypto.decrypt(world.instances.items[created["id"]].secrets, created["id"])
    assert secrets["oauth.access.token"] == "oauth-token"
    assert "oauth.code" not in secrets


def test_tenants_are_isolated(world: World) -> None:
    created = create(world)
    iid = created["id"]
    for method, path in [
        ("GET", f"/instances/{iid}"),
        ("PATCH", f"/instances/{iid}"),
        ("DELETE", f"/instances/{iid}"),
        ("GET", f"/instances/{iid}/status"),
        ("GET", f"/instances/{iid}/events"),
        ("POST", f"/instances/{iid}/poll"),
        ("PUT", f"/instances/{iid}/events/enabled"),
        ("POST", f"/instances/{iid}/events/redrive"),
    ]:
        status, data, _ = call(world.app, method, path, headers=ORG_B, body={} if method == "PATCH" else None)
        assert status == 404, (method, path, data)
    status, listed, _ = call(world.app, "GET", "/instances", headers=ORG_B)
    assert status == 200 and listed == []
    assert iid in world.instances.items


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "missing Authorization"),
        ({"Authorization": "Bearer x"}, "malformed"),
        ({"Authorization": "User ua"}, "both User and Organization"),
        ({"Authorization": "User ua, Organization ob"}, "the credentials are not valid"),
        ({"Authorization": "User nope, Organization oa"}, "the credentials are not valid"),
        ({"Authorization": "User ua, Organization nope"}, "the credentials are not valid"),
        ({"Authorization": "Element 0123.abc"}, "the credentials are not valid"),
    ],
)
def test_bad_credentials_are_401_with_a_clear_message(
    world: World, headers: dict[str, str], fragment: str
) -> None:
    status, data, hdrs = call(world.app, "GET", "/instances", headers=headers)
    assert status == 401
    assert fragment in data["message"]
    assert "WWW-Authenticate" in hdrs


def test_element_token_alone_reaches_its_own_instance_only(world: World) -> None:
    a = create(world)
    b = create(world)
    element = {"Authorization": f"Element {a['token']}"}
    assert call(world.app, "GET", f"/instances/{a['id']}", headers=element)[0] == 200
    assert call(world.app, "GET", f"/instances/{a['id']}/status", headers=element)[0] == 200
    assert call(world.app, "GET", f"/instances/{a['id']}/events", headers=element)[0] == 200
    assert call(world.app, "GET", f"/instances/{b['id']}", headers=element)[0] == 404
    assert call(world.app, "GET", "/instances", headers=element)[0] == 403
    assert call(world.app, "DELETE", f"/instances/{a['id']}", headers=element)[0] == 403
    forged = {"Authorization": f"Element {a['id']}.forged"}
    assert call(world.app, "GET", f"/instances/{a['id']}", headers=forged)[0] == 401
    # The same token with the owner's secrets is fine; with another org's it is refused.
    assert (
        call(
            world.app,
            "GET",
            f"/instances/{a['id']}",
            headers={"Authorization": f"User ua, Organization oa, Element {a['token']}"},
        )[0]
        == 200
    )
    assert (
        call(
            world.app,
            "GET",
            "/instances",
            headers={"Authorization": f"User ub, Organization ob, Element {a['token']}"},
        )[0]
        == 401
    )


def test_patch_merges_and_the_schedule_follows(world: World) -> None:
    created = create(world)
    iid = created["id"]
    status, patched, _ = call(
        world.app,
        "PATCH",
        f"/instances/{iid}",
        body={
            "name": "renamed",
            "configuration": {"event.poller.refresh_interval": "1", "access.token": "********"},
        },
        headers=ORG_A,
    )
    assert status == 200, patched
    assert patched["name"] == "renamed" and patched["refreshInterval"] == 1
    assert patched["configuration"]["store.hash"] == "abc123"
    assert world.schedules.schedules[iid] == 1
    assert len(world.store.checked) == 1  # masked secret = unchanged credentials: no new check

    status, patched, _ = call(
        world.app,
        "PATCH",
        f"/instances/{iid}",
        body={"configuration": {"event.notification.enabled": False}},
        headers=ORG_A,
    )
    assert status == 200 and patched["eventsEnabled"] is False
    assert iid not in world.schedules.schedules


def test_patch_with_new_credentials_checks_them_and_clears_auth_failure(world: World) -> None:
    created = create(world)
    iid = created["id"]
    world.instances.update_fields(iid, {"authState": "failed", "authError": "401 from store"})
    status, data, _ = call(
        world.app,
        "PATCH",
        f"/instances/{iid}",
        body={"configuration": {"access.token": "bad"}},
        headers=ORG_A,
    )
    assert status == 400 and "refused" in data["message"]
    assert world.instances.items[iid].auth_state == "failed"
    world.store.good_tokens.add("new-token")
    status, data, _ = call(
        world.app,
        "PATCH",
        f"/instances/{iid}",
        body={"configuration": {"access.token": "new-token"}},
        headers=ORG_A,
    )
    assert status == 200 and data["authState"] == "ok" and data.get("authError") is None
    secrets = world.crypto.decrypt(world.instances.items[iid].secrets, iid)
    assert secrets["access.token"] == "new-token"
    assert secrets["signingSecret"] == created["signingSecret"]


def test_refused_credentials_all_read_the_same(world: World) -> None:
    """No oracle: a wrong User secret, a wrong Organization secret, a user of another
    organization and another organization's Element token get one identical answer."""
    other = create(world)
    answers = {
        call(world.app, "GET", "/instances", headers={"Authorization": header})[1]["message"]
        for header in (
            "User nope, Organization oa",
            "User ua, Organization nope",
            "User ua, Organization ob",
            f"User ub, Organization ob, Element {other['token']}",
            "Element 0123.abc",
        )
    }
    assert answers == {"the credentials are not valid"}


@pytest.mark.parametrize(
    "host_change", [{"store.url": "http://127.0.0.1:9/capture"}, {"store.hash": "zzz999"}]
)
def test_a_new_store_host_needs_the_credentials_in_the_same_request(
    world: World, host_change: dict[str, str]
) -> None:
    iid = create(world)["id"]
    checked = len(world.store.checked)
    for sent in ({}, {"access.token": "********"}):
        status, data, _ = call(
            world.app,
            "PATCH",
            f"/instances/{iid}",
            body={"configuration": {**host_change, **sent}},
            headers=ORG_A,
        )
        assert status == 400, data
        assert "configuration.access.token" in {e["field"] for e in data["errors"]}
    # The stored token never went to the new host.
    assert len(world.store.checked) == checked
    status, data, _ = call(
        world.app,
        "PATCH",
        f"/instances/{iid}",
        body={"configuration": {**host_change, "access.token": "good-token"}},
        headers=ORG_A,
    )
    assert status == 200, data
    assert world.store.checked[-1]["access.token"] == "good-token"


def test_events_switch_and_delete(world: World) -> None:
    iid = create(world)["id"]
    assert call(world.app, "DELETE", f"/instances/{iid}/events/enabled", headers=ORG_A)[0] == 200
    assert iid not in world.schedules.schedules
    assert world.instances.items[iid].configuration["event.notification.enabled"] is False
    assert call(world.app, "POST", f"/instances/{iid}/poll", headers=ORG_A)[0] == 409
    assert call(world.app, "PUT", f"/instances/{iid}/events/enabled", headers=ORG_A)[0] == 200
    assert world.schedules.schedules[iid] == 15
    status, data, _ = call(world.app, "POST", f"/instances/{iid}/poll", headers=ORG_A)
    assert status == 202 and data["instanceId"] == iid and world.trigger.triggered == [iid]
    assert call(world.app, "DELETE", f"/instances/{iid}", headers=ORG_A)[0] == 204
    assert iid not in world.schedules.schedules and world.instances.deleted == [iid]
    assert call(world.app, "GET", f"/instances/{iid}", headers=ORG_A)[0] == 404


def test_enable_events_without_callback_is_a_400(world: World) -> None:
    iid = create(world, **{"event.notification.enabled": False, "event.notification.callback.url": None})[
        "id"
    ]
    status, data, _ = call(world.app, "PUT", f"/instances/{iid}/events/enabled", headers=ORG_A)
    assert status == 400 and data["errors"][0]["field"] == "configuration.event.notification.callback.url"


def test_status_events_retry_and_replay(world: World) -> None:
    iid = create(world)["id"]
    world.cursors.rows[iid] = [
        {
            "resource": "orders",
            "cursor": "2026-01-01T00:00:00+00:00",
            "recordsRead": 5,
            "eventsEmitted": 3,
            "lastError": None,
        }
    ]
    recent = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for n, status in enumerate(["delivered", "failed", "failed", "queued"]):
        world.events.items[f"e{n}"] = {
            "instanceId": iid,
            "eventId": f"e{n}",
            "createdAt": recent,
            "status": status,
            "attempts": [{"at": "2026-01-01T00:00:00Z", "statusCode": 500, "latencyMs": 12, "error": None}],
            "body": json.dumps({"message": {"eventId": f"e{n}"}}),
        }
    status, data, _ = call(world.app, "GET", f"/instances/{iid}/status", headers=ORG_A)
    assert status == 200
    assert data["resources"][0]["resource"] == "orders" and data["resources"][0]["eventsEmitted"] == 3
    assert data["last24h"]["delivered"] == 1 and data["last24h"]["failed"] == 2

    status, page, _ = call(
        world.app, "GET", f"/instances/{iid}/events", headers=ORG_A, query={"status": "failed", "limit": "1"}
    )
    assert status == 200 and [e["eventId"] for e in page["events"]] == ["e1"] and page["nextToken"] == "more"
    assert "body" not in page["events"][0]

    status, detail, _ = call(world.app, "GET", f"/instances/{iid}/events/e1", headers=ORG_A)
    assert (
        status == 200
        and detail["body"] == {"message": {"eventId": "e1"}}
        and detail["attempts"][0]["statusCode"] == 500
    )

    assert call(world.app, "POST", f"/instances/{iid}/events/e0/retry", headers=ORG_A)[0] == 409
    assert call(world.app, "POST", f"/instances/{iid}/events/e1/retry", headers=ORG_A)[0] == 202
    assert call(world.app, "POST", f"/instances/{iid}/events/nope/retry", headers=ORG_A)[0] == 404
    status, data, _ = call(world.app, "POST", f"/instances/{iid}/events/replay", body={}, headers=ORG_A)
    assert status == 202 and data == {"replayed": 1}


def test_status_counts_and_replay_keep_to_their_time_bounds(world: World) -> None:
    iid = create(world)["id"]
    now = datetime.now(UTC)
    for n, (status, age_h) in enumerate([("delivered", 1), ("failed", 2), ("failed", 30), ("delivered", 25)]):
        world.events.items[f"e{n}"] = {
            "instanceId": iid, "eventId": f"e{n}", "status": status, "createdAt": now - timedelta(hours=age_h)
        }  # fmt: skip
    status, data, _ = call(world.app, "GET", f"/instances/{iid}/status", headers=ORG_A)
    # Only the last 24 hours count.
    assert status == 200 and (data["last24h"]["delivered"], data["last24h"]["failed"]) == (1, 1)
    since = (now - timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    status, data, _ = call(
        world.app, "POST", f"/instances/{iid}/events/replay", body={"since": since}, headers=ORG_A
    )
    # The 30-hour-old failure is outside the range the caller gave.
    assert status == 202 and data == {"replayed": 1}
    assert world.events.items["e2"]["status"] == "failed"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "query.limit"),
        ({"limit": "abc"}, "query.limit"),
        ({"status": "weird"}, "query.status"),
        ({"since": "yesterday"}, "query.since"),
        ({"nextToken": "bad"}, "nextToken"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
    ],
)
def test_bad_event_queries_name_the_field(world: World, query: dict[str, str], field: str) -> None:
    iid = create(world)["id"]
    status, data, _ = call(world.app, "GET", f"/instances/{iid}/events", headers=ORG_A, query=query)
    assert status in (400, 422)
    assert field in [e["field"] for e in data["errors"]], data


@pytest.mark.parametrize(
    "raw",
    ["not json", "[]", '{"configuration": "x"}', '{"name": 5, "configuration": {}}', "{}"],
)
def test_malformed_bodies_are_client_errors_not_500(world: World, raw: str) -> None:
    status, data, _ = call(world.app, "POST", "/instances", raw_body=raw, headers=ORG_A)
    assert 400 <= status < 500, (status, data)
    assert data["message"]


def test_oversize_body_is_413(world: World) -> None:
    big = body(**{"padding": "x" * (300 * 1024)})
    status, data, _ = call(world.app, "POST", "/instances", body=big, headers=ORG_A)
    assert status == 413 and "256 KiB" in data["message"]


def test_server_fault_is_a_clean_500(world: World) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret detail s3cr3t")

    world.cursors.cursors = boom  # type: ignore[method-assign]
    iid = create(world)["id"]
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("test").addHandler(handler)
    try:
        status, data, _ = call(
            world.app, "GET", f"/instances/{iid}/status", headers=ORG_A, query={"token": "q-t0ken"}
        )
    finally:
        logging.getLogger("test").removeHandler(handler)
    assert status == 500 and "s3cr3t" not in json.dumps(data)
    # The operator's log line says where it failed, and carries neither the exception's
    # text nor the query string (either may hold a token).
    fault = next(r for r in records if r.getMessage() == "unhandled server fault")
    assert fault.route == f"GET /instances/{iid}/status"  # type: ignore[attr-defined]
    assert fault.where[-1] == "test_routes.py:" + str(boom.__code__.co_firstlineno + 1) + " boom"  # type: ignore[attr-defined]
    assert fault.exc_info is None
    shown = json.dumps(vars(fault), default=str)
    assert "s3cr3t" not in shown and "q-t0ken" not in shown


def test_schedule_failure_leaves_no_instance(world: World) -> None:
    def fail(instance_id: str, minutes: int) -> None:
        raise RuntimeError("scheduler down")

    world.schedules.put = fail  # type: ignore[method-assign]
    status, _, _ = call(world.app, "POST", "/instances", body=body(), headers=ORG_A)
    assert status == 500 and world.instances.items == {}


def test_catalog_openapi_docs_and_web_placeholder(world: World) -> None:
    status, data, _ = call(world.app, "GET", "/catalog")
    assert status == 200 and data["resources"][0]["name"] == "orders"
    status, doc, _ = call(world.app, "GET", "/openapi.json")
    assert status == 200 and "/instances/{instance_id}/events/replay" in doc["paths"]
    status, html, hdrs = call(world.app, "GET", "/docs")
    assert status == 200 and "swagger" in html.lower() and "unpkg" not in html and "cdn" not in html.lower()
    status, html, hdrs = call(world.app, "GET", "/")
    assert status == 200 and hdrs["Content-Type"].startswith("text/html")
    # No other site may frame the page that holds the secrets (a header: <meta> cannot).
    assert hdrs["Content-Security-Policy"] == "frame-ancestors 'none'" and hdrs["X-Frame-Options"] == "DENY"
    assert call(world.app, "GET", "/static/../../etc/passwd")[0] == 404
    assert call(world.app, "GET", "/static/secret.py")[0] == 404


def test_a_write_that_loses_a_race_is_a_409(world: World) -> None:
    iid = create(world)["id"]

    class ConditionalCheckFailed(Exception):
        response = {"Error": {"Code": "ConditionalCheckFailedException", "Message": "failed"}}

    def lost_race(*args: Any, **kwargs: Any) -> None:
        raise ConditionalCheckFailed()

    world.instances.update_fields = lost_race  # type: ignore[method-assign]
    status, data, _ = call(world.app, "PATCH", f"/instances/{iid}", body={"name": "x"}, headers=ORG_A)
    assert status == 409 and "meanwhile" in data["message"]


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        ('{"a":' * 1000 + "1" + "}" * 1000, "body", "nested deeper than 32"),
        (json.dumps(body()).replace('"shop"', '"\\ud800"'), "name", "lone surrogate"),
        (json.dumps(body()).replace('["t"]', '["\\udfff"]'), "tags[0]", "lone surrogate"),
        (
            json.dumps(body()).replace('"good-token"', '"x\\ud800"'),
            "configuration.access.token",
            "lone surrogate",
        ),
        (
            json.dumps(body()).replace('"15"', "Infinity"),
            "configuration.event.poller.refresh_interval",
            "not a finite number",
        ),
        (
            json.dumps(body()).replace('"15"', "1e400"),
            "configuration.event.poller.refresh_interval",
            "finite",
        ),
    ],
)
def test_bodies_that_crashed_the_handler_get_a_400_naming_the_field(
    world: World, raw: str, field: str, fragment: str
) -> None:
    status, data, _ = call(world.app, "POST", "/instances", raw_body=raw, headers=ORG_A)
    assert status == 400, data
    assert data["errors"][0]["field"] == field
    assert fragment in data["errors"][0]["problem"]
    assert world.instances.items == {}


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/ho\x00ok", "http://127.0.\x000.1:9/hook", "http://127.0.0.1:9/a b"]
)
def test_a_callback_url_httpx_cannot_send_to_is_refused_at_the_door(world: World, url: str) -> None:
    status, data, _ = call(
        world.app, "POST", "/instances", body=body(**{"event.notification.callback.url": url}), headers=ORG_A
    )
    assert status == 400, data
    assert data["errors"][0]["field"] == "configuration.event.notification.callback.url"


@pytest.mark.parametrize("how", ["events switch", "patch"])
def test_refused_credentials_resume_explicitly_once_they_pass(world: World, how: str) -> None:
    iid = create(world)["id"]
    world.instances.update_fields(iid, {"authState": "failed", "authError": "401 from store"})

    def resume() -> tuple[int, Any]:
        if how == "patch":
            status, data, _ = call(world.app, "PATCH", f"/instances/{iid}", body={"name": "x"}, headers=ORG_A)
        else:
            status, data, _ = call(world.app, "PUT", f"/instances/{iid}/events/enabled", headers=ORG_A)
        return status, data

    world.store.good_tokens.discard("good-token")  # still refused: nothing resumes
    status, data = resume()
    assert status == 400 and "refused" in data["message"]
    assert world.instances.items[iid].auth_state == "failed"
    world.store.good_tokens.add("good-token")  # fixed on the store's side
    checked = len(world.store.checked)
    status, data = resume()
    assert status == 200, data
    assert world.instances.items[iid].auth_state == "ok" and world.instances.items[iid].auth_error is None
    assert len(world.store.checked) == checked + 1
    assert world.store.checked[-1]["access.token"] == "good-token"  # the stored token, same host


def test_redrive_answers_what_moved_and_what_is_left(world: World) -> None:
    iid = create(world)["id"]
    status, data, _ = call(world.app, "POST", f"/instances/{iid}/events/redrive", headers=ORG_A)
    assert status == 200, data
    assert data == {"instanceId": iid, "moved": 2, "left": 0, "scanned": 5, "complete": True}
    assert world.service.replayer.redriven == [iid]  # type: ignore[attr-defined]


def test_each_app_reads_its_own_request_when_two_serve_in_one_process(world: World) -> None:
    """Powertools keeps the request on a class every resolver shares; the local stack runs two
    API environments as threads of one process. Another environment's request arriving while
    this one runs must not change whose Authorization this one reads."""
    other = World()
    other.secrets.add_org("org-b", "ob", "ub")
    create(world)
    ctx = ApiContext(
        service=world.service,
        auth=Authenticator(world.secrets, world.instances),
        catalog=lambda: world.catalog,
    )

    def context_with_a_request_in_between() -> ApiContext:
        assert call(other.app, "GET", "/instances", headers=ORG_B)[0] == 200
        return ctx

    app = build_app(context_with_a_request_in_between, web_dir=None, logger=Logger(service="test"))
    status, data, _ = call(app, "GET", "/instances", headers=ORG_A)
    assert status == 200, data
    assert [i["name"] for i in data] == ["shop"]
