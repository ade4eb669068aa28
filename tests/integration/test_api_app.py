"""The organization's BigCommerce app on moto's server (DynamoDB, KMS, Scheduler) with
the simulated store's login service and control-panel stand-in over real HTTP: the
auth callback installs, load opens a session, uninstall stops polling; bad JWTs and
replayed codes are refused; no secret reaches a response or a log line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import httpx
import pytest
from bcpoller.adapters import aws
from bcpoller.settings import reset_settings

from local.store import SimulatedStore
from local.template_resources import StackResources
from tests.conftest import load_handler
from tests.integration.test_api_instances import new_org, raw_items, schedule
from tests.unit.api.helpers import Ctx, v2_event

HOOK = "http://127.0.0.1:9/hooks/app"


@pytest.fixture
def store() -> Iterator[SimulatedStore]:
    s = SimulatedStore(seed=7, records_per_resource=3).start()
    yield s
    s.stop()


@pytest.fixture
def api(stack: StackResources, store: SimulatedStore, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("BC_API_BASE_URL", store.url)
    monkeypatch.setenv("BC_LOGIN_BASE_URL", store.url)
    reset_settings()
    aws.reset_clients()
    return load_handler("api")


class Caller:
    """Calls the handler as API Gateway would, keeping every answer to check for secrets."""

    def __init__(self, api: ModuleType) -> None:
        self.api = api
        self.answers: list[str] = []

    def __call__(
        self, method: str, path: str, auth: str | None = None, **kwargs: Any
    ) -> tuple[int, Any, dict[str, str]]:
        headers = {"Authorization": auth} if auth else {}
        headers["host"] = "api.example.test"
        result = self.api.lambda_handler(v2_event(method, path, headers=headers, **kwargs), Ctx())
        text = result.get("body") or ""
        self.answers.append(text + json.dumps(result.get("headers") or {}))
        ctype = (result.get("headers") or {}).get("Content-Type", "")
        body = json.loads(text) if text and ctype.startswith("application/json") else text
        return result["statusCode"], body, result.get("headers") or {}


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def control_panel(store: SimulatedStore, route: str, callback: str) -> dict[str, str]:
    """The query BigCommerce's control panel sends to our callback (its 302's target)."""
    answer = httpx.get(f"{store.url}/_admin/{route}", params={"callback": callback}, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"].startswith(callback + "?")
    return query_of(answer.headers["location"])


def signed(store: SimulatedStore, **overrides: Any) -> str:
    answer = httpx.post(f"{store.url}/_admin/signed_payload", json=overrides)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["signed_payload_jwt"])


def sessions(stack: StackResources) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=stack.table_name)["Items"]
    return [i for i in items if i.get("kind", {}).get("S") == "session"]


@pytest.fixture
def installed(
    api: ModuleType, store: SimulatedStore, stack: StackResources
) -> tuple[Caller, dict[str, str], dict[str, Any], str]:
    call = Caller(api)
    org = new_org("app-org")
    status, app, _ = call(
        "PUT",
        "/app",
        org["authorization"],
        body={
            "clientId": store.client_id,
            "clientSecret": store.client_secret,
            "callbackUrl": HOOK,
            "resources": ["orders", "products"],
            "refreshInterval": 2,
        },
    )
    assert status == 200, app
    assert app["authCallbackUrl"] == f"https://api.example.test/apps/{app['appId']}/auth"
    query = control_panel(store, "install", app["authCallbackUrl"])
    status, page, headers = call("GET", f"/apps/{app['appId']}/auth", query=query)
    assert status == 200, page
    assert headers["Content-Type"].startswith("text/html")
    assert "App installed" in page and f"every change is sent to {HOOK}" in page
    status, got, _ = call("GET", "/app", org["authorization"])
    (installed_store,) = got["stores"]
    assert installed_store["storeHash"] == store.store_hash and installed_store["status"] == "installed"
    return call, org, app, installed_store["instanceId"]


def test_install_creates_a_polling_instance_whose_secrets_are_encrypted(
    installed: tuple[Caller, dict[str, str], dict[str, Any], str],
    store: SimulatedStore,
    stack: StackResources,
) -> None:
    call, org, app, instance_id = installed
    status, instance, _ = call("GET", f"/instances/{instance_id}", org["authorization"])
    assert status == 200
    assert instance["eventsEnabled"] is True and instance["installState"] == "installed"
    assert instance["resources"] == ["orders", "products"] and instance["refreshInterval"] == 2
    assert instance["configuration"]["oauth.api.secret"] == "********"
    assert instance["configuration"]["oauth.access.token"] == "********"
    found = schedule(stack, instance_id)
    assert found is not None and found["ScheduleExpression"] == "rate(2 minutes)"
    raw = json.dumps([{k: str(v) for k, v in i.items()} for i in raw_items(stack, instance_id)])
    assert store.client_secret not in raw and store.token not in raw
    # The app item holds the client secret as KMS ciphertext only.
    app_item = boto3.client("dynamodb").get_item(
        TableName=stack.table_name, Key={"pk": {"S": f"APP#{app['appId']}"}, "sk": {"S": "APP"}}
    )["Item"]
    assert store.client_secret.encode() not in app_item["secrets"]["B"]
    plain = boto3.client("kms").decrypt(
        CiphertextBlob=app_item["secrets"]["B"], EncryptionContext={"instanceId": f"app:{app['appId']}"}
    )["Plaintext"]
    assert json.loads(plain) == {"clientSecret": store.client_secret}


def test_replayed_codes_are_refused_with_clear_errors(
    installed: tuple[Caller, dict[str, str], dict[str, Any], str], store: SimulatedStore
) -> None:
    call, _, app, _ = installed
    query = control_panel(store, "install", app["authCallbackUrl"])
    assert call("GET", f"/apps/{app['appId']}/auth", query=query)[0] == 200  # installed again
    status, page, _ = call("GET", f"/apps/{app['appId']}/auth", query=query)
    assert status == 400 and "this install code was already used" in page
    # A code the login service has already seen (used elsewhere) is refused by BigCommerce.
    burned = control_panel(store, "install", app["authCallbackUrl"])
    token_call = httpx.post(
        f"{store.url}/oauth2/token",
        json={
            "client_id": store.client_id,
            "client_secret": store.client_secret,
            "code": burned["code"],
            "context": burned["context"],
            "redirect_uri": app["authCallbackUrl"],
            "grant_type": "authorization_code",
        },
    )
    assert token_call.status_code == 200
    status, page, _ = call("GET", f"/apps/{app['appId']}/auth", query=burned)
    assert status == 400 and "the code was already used" in page


def test_load_gives_a_session_for_that_store_only_and_every_callback_refuses_bad_jwts(
    installed: tuple[Caller, dict[str, str], dict[str, Any], str],
    store: SimulatedStore,
    stack: StackResources,
) -> None:
    call, _, app, instance_id = installed
    load = f"/apps/{app['appId']}/load"
    refused = {
        "forged": (signed(store, secret="a-forger-s-secret-that-is-long-enough-000"), 401, "bad signature"),
        "expired": (signed(store, expires_in=-3600), 401, "expired"),
        "wrong audience": (signed(store, aud="someone-elses-app"), 401, "another app"),
        "wrong store": (signed(store, sub="stores/not-mine"), 404, "has not installed this app"),
    }
    for callback in ("load", "uninstall", "remove_user"):
        for case, (token, expected, words) in refused.items():
            if (callback, case) == ("remove_user", "wrong store"):
                continue  # remove-user acknowledges any store's verified payload
            path = f"/apps/{app['appId']}/{callback}"
            status, page, headers = call("GET", path, query={"signed_payload_jwt": token})
            assert (status, words in page) == (expected, True), (callback, case, page)
            assert "Location" not in headers
    assert sessions(stack) == []
    assert schedule(stack, instance_id) is not None  # no refused uninstall stopped polling

    query = control_panel(store, "load", f"https://api.example.test{load}")
    status, _, headers = call("GET", load, query=query)
    assert status == 302
    prefix = f"../../#/session/{instance_id}/"
    assert headers["Location"].startswith(prefix)
    token = headers["Location"][len(prefix) :]
    (session,) = sessions(stack)
    assert token not in json.dumps(session)  # stored hashed
    assert call("GET", f"/instances/{instance_id}/status", f"Session {token}")[0] == 200
    assert call("GET", "/instances", f"Session {token}")[0] == 403


def test_uninstall_stops_polling_erases_credentials_and_keeps_the_log(
    installed: tuple[Caller, dict[str, str], dict[str, Any], str],
    store: SimulatedStore,
    stack: StackResources,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    call, org, app, instance_id = installed
    ddb = boto3.client("dynamodb")
    ddb.put_item(
        TableName=stack.table_name,
        Item={"pk": {"S": f"EVT#{instance_id}"}, "sk": {"S": "EVENT#e-1"}, "status": {"S": "delivered"}},
    )
    uninstall = f"/apps/{app['appId']}/uninstall"
    status, page, _ = call("GET", uninstall, query={"signed_payload_jwt": signed(store, aud="not-this-app")})
    assert status == 401 and schedule(stack, instance_id) is not None

    status, page, _ = call("GET", uninstall, query={"signed_payload_jwt": signed(store)})
    assert status == 200, page
    assert schedule(stack, instance_id) is None
    status, instance, _ = call("GET", f"/instances/{instance_id}", org["authorization"])
    assert instance["installState"] == "uninstalled" and instance["eventsEnabled"] is False
    assert "oauth.access.token" not in instance["configuration"]
    item = ddb.get_item(
        TableName=stack.table_name, Key={"pk": {"S": f"INST#{instance_id}"}, "sk": {"S": "META"}}
    )["Item"]
    plain = boto3.client("kms").decrypt(
        CiphertextBlob=item["secrets"]["B"], EncryptionContext={"instanceId": instance_id}
    )["Plaintext"]
    assert set(json.loads(plain)) == {"signingSecret"}
    assert any(i["sk"]["S"] == "EVENT#e-1" for i in raw_items(stack, instance_id))
    status, got, _ = call("GET", "/app", org["authorization"])
    assert got["stores"][0]["status"] == "uninstalled"

    # No secret anywhere: not in a response of this test's calls, not in a log line.
    output = capfd.readouterr()
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    # Every attribute of every record (the extra fields too), as a log line would carry them.
    logs = output.out + output.err + "\n".join(json.dumps(vars(r), default=str) for r in records)
    assert "app installed" in logs and "app uninstalled" in logs  # the capture sees the handler's lines
    secrets = [store.client_secret, store.token, org["organizationSecret"], org["userSecret"]]
    for text in [logs, *call.answers]:
        for secret in secrets:
            assert secret not in text
        assert "eyJhbGciOiJIUzI1NiIs" not in text  # no JWT echoed
