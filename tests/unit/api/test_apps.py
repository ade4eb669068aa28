"""The organization's BigCommerce app on fakes: registration, the auth callback's code
exchange and instance, the load callback's session, uninstall, and every refusal of a
bad signed_payload_jwt or a replayed code."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import jwt
import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model
from bcpoller.api.apps import AppService, RegisteredApp, StoreInstall, crypto_context
from bcpoller.api.auth import Authenticator
from bcpoller.api.routes import ApiContext, build_app
from bcpoller.api.service import OAuthToken, StoreCheckFailed
from bcpoller.api.signed_payload import SignedPayloadError, verify_signed_payload

from tests.conftest import load_event
from tests.unit.api.helpers import Ctx, FakeStore, World, call

ORG = {"Authorization": "User ua, Organization oa"}
CLIENT_ID = "app-client-id"
CLIENT_SECRET = "app-client-secret-0123456789abcdef0123456789"
TOKEN = "oauth-token-from-login"
CATALOG = [
    {"name": "orders", "configuration": {"url": "/hubs/ecommerce/orders"}},
    {"name": "products", "configuration": {"url": "/hubs/ecommerce/products"}},
]


class FakeAppStore:
    def __init__(self, secrets: Any) -> None:
        self.apps: dict[str, RegisteredApp] = {}
        self.org_apps: dict[str, str] = {}
        self.installs: dict[tuple[str, str], StoreInstall] = {}
        self.codes: set[str] = set()
        self.secrets = secrets  # sessions land where the Authenticator reads secrets

    def get_app(self, app_id: str) -> RegisteredApp | None:
        return self.apps.get(app_id)

    def get_org_app(self, org_id: str) -> RegisteredApp | None:
        app_id = self.org_apps.get(org_id)
        return self.apps.get(app_id) if app_id else None

    def put_app(self, app: RegisteredApp, *, new: bool) -> bool:
        if new and app.org_id in self.org_apps:
            return False
        self.org_apps[app.org_id] = app.app_id
        self.apps[app.app_id] = app
        return True

    def get_install(self, app_id: str, store_hash: str) -> StoreInstall | None:
        return self.installs.get((app_id, store_hash))

    def put_install(self, app_id: str, install: StoreInstall, *, new: bool) -> bool:
        if new and (app_id, install.store_hash) in self.installs:
            return False
        self.installs[(app_id, install.store_hash)] = install
        return True

    def list_installs(self, app_id: str) -> list[StoreInstall]:
        return [i for (a, _), i in self.installs.items() if a == app_id]

    def claim_code(self, app_id: str, code_hash: str, expires_at: int) -> bool:
        if code_hash in self.codes:
            return False
        self.codes.add(code_hash)
        return True

    def put_session(self, token_hash: str, org_id: str, instance_id: str, expires_at: int) -> None:
        self.secrets.items[token_hash] = {
            "kind": "session",
            "orgId": org_id,
            "instanceId": instance_id,
            "expiresAt": expires_at,
        }


class LoginStore(FakeStore):
    """BigCommerce's login service: any fresh code of this app's client id and secret."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[str] = []
        self.good_tokens.add(TOKEN)

    def exchange_oauth(self, configuration: Mapping[str, Any]) -> OAuthToken:
        self.exchanges.append(str(configuration.get("oauth.code")))
        if (configuration.get("oauth.api.key"), configuration.get("oauth.api.secret")) != (
            CLIENT_ID,
            CLIENT_SECRET,
        ):
            raise StoreCheckFailed(
                "BigCommerce did not install the app: invalid_client", [("oauth.code", "refused")]
            )
        store_hash = str(configuration["oauth.context"]).split("/", 1)[1]
        return OAuthToken(access_token=TOKEN, store_hash=store_hash)


@dataclass
class AppWorld:
    world: World = field(default_factory=World)
    now: list[float] = field(default_factory=lambda: [time.time()])

    def __post_init__(self) -> None:
        w = self.world
        w.store = LoginStore()
        w.service.store = w.store
        w.secrets.add_org("org-a", "oa", "ua")
        w.secrets.add_org("org-b", "ob", "ub")
        self.store = FakeAppStore(w.secrets)
        self.apps = AppService(
            apps=self.store,
            instances=w.service,
            crypto=w.crypto,
            catalog=lambda: CATALOG,
            allow_loopback=True,
        )
        ctx = ApiContext(
            service=w.service,
            auth=Authenticator(w.secrets, w.instances, clock=lambda: self.now[0]),
            catalog=lambda: CATALOG,
            apps=self.apps,
        )
        self.app = build_app(lambda: ctx, web_dir=None, logger=Logger(service="test"))

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
        return call(self.app, method, path, **kwargs)

    def register(self, **changes: Any) -> dict[str, Any]:
        body = {
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "callbackUrl": "http://127.0.0.1:9/hook",
            "resources": ["orders"],
            "refreshInterval": 1,
            **changes,
        }
        status, data, _ = self.call("PUT", "/app", body=body, headers=ORG)
        assert status == 200, data
        return data

    def install(self, app_id: str, code: str = "code-1", store: str = "abc123") -> tuple[int, str]:
        query = {"code": code, "scope": "store_v2_orders_read_only", "context": f"stores/{store}"}
        status, page, headers = self.call("GET", f"/apps/{app_id}/auth", query=query)
        assert headers.get("Content-Type", "").startswith("text/html"), headers
        return status, str(page)

    def jwt(self, **changes: Any) -> str:
        now = int(time.time())
        claims = {
            "aud": CLIENT_ID,
            "iss": "bc",
            "iat": now,
            "nbf": now - 5,
            "exp": now + 3600,
            "jti": "j-1",
            "sub": "stores/abc123",
            "user": {"id": 9128, "email": "merchant@example.com", "locale": "en"},
            "owner": {"id": 9128, "email": "merchant@example.com"},
            "url": "/",
        }
        secret = changes.pop("secret", CLIENT_SECRET)
        claims.update(changes)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture
def aw() -> AppWorld:
    return AppWorld()


def installed(aw: AppWorld) -> tuple[dict[str, Any], str]:
    app = aw.register()
    status, page = aw.install(app["appId"])
    assert status == 200, page
    (install,) = aw.store.installs.values()
    return app, install.instance_id


# -- registration -------------------------------------------------------------------------


def test_register_masks_the_secret_and_gives_the_callback_urls(aw: AppWorld) -> None:
    app = aw.register()
    assert app["clientSecret"] == "********"
    assert CLIENT_SECRET not in json.dumps(app)
    assert app["eventsOnInstall"] is True
    base = f"https://localhost/apps/{app['appId']}"
    assert app["authCallbackUrl"] == f"{base}/auth"
    assert app["loadCallbackUrl"] == f"{base}/load"
    assert app["uninstallCallbackUrl"] == f"{base}/uninstall"
    assert app["removeUserCallbackUrl"] == f"{base}/remove_user"
    stored = aw.store.apps[app["appId"]]
    assert CLIENT_SECRET.encode() not in stored.secrets
    assert aw.world.crypto.decrypt(stored.secrets, crypto_context(app["appId"])) == {
        "clientSecret": CLIENT_SECRET
    }

    # A change without the secret keeps it; the app id (and so the URLs) stay the same.
    again = aw.register(clientSecret="********", callbackUrl="", resources=["orders", "products"])
    assert again["appId"] == app["appId"] and again["eventsOnInstall"] is False
    assert (
        aw.world.crypto.decrypt(aw.store.apps[app["appId"]].secrets, crypto_context(app["appId"]))[
            "clientSecret"
        ]
        == CLIENT_SECRET
    )
    status, got, _ = aw.call("GET", "/app", headers=ORG)
    assert status == 200 and got["resources"] == ["orders", "products"]
    assert aw.call("GET", "/app", headers={"Authorization": "User ub, Organization ob"})[0] == 404


def test_registration_problems_are_named(aw: AppWorld) -> None:
    status, data, _ = aw.call(
        "PUT",
        "/app",
        body={"clientId": "x", "callbackUrl": "http://10.0.0.1/hook", "resources": ["orders", "contacts"]},
        headers=ORG,
    )
    assert status == 400, data
    fields = {e["field"] for e in data["errors"]}
    assert fields == {"clientSecret", "callbackUrl", "resources.1"}, data


# -- auth callback ------------------------------------------------------------------------


def test_install_creates_the_instance_with_the_apps_defaults_and_events_on(aw: AppWorld) -> None:
    app, instance_id = installed(aw)
    instance = aw.world.instances.items[instance_id]
    assert instance.org_id == "org-a" and instance.install_state == "installed"
    assert instance.events_enabled and instance.callback_url == "http://127.0.0.1:9/hook"
    assert instance.resources == ["orders"] and instance.refresh_minutes == 1
    assert aw.world.schedules.schedules == {instance_id: 1}
    assert instance.configuration["oauth.callback.url"] == app["authCallbackUrl"]
    assert "oauth.code" not in instance.configuration
    secrets = aw.world.crypto.decrypt(instance.secrets, instance_id)
    assert secrets["oauth.access.token"] == TOKEN and secrets["oauth.api.secret"] == CLIENT_SECRET
    status, got, _ = aw.call("GET", "/app", headers=ORG)
    assert status == 200
    assert [(s["storeHash"], s["instanceId"], s["status"]) for s in got["stores"]] == [
        ("abc123", instance_id, "installed")
    ]


def test_install_page_says_events_on_or_off_and_never_shows_a_secret(aw: AppWorld) -> None:
    app = aw.register(callbackUrl="")
    status, page = aw.install(app["appId"])
    assert status == 200
    assert "App installed" in page and "off until a callback URL is set" in page
    for secret in (CLIENT_SECRET, TOKEN):
        assert secret not in page
    (install,) = aw.store.installs.values()
    assert not aw.world.instances.items[install.instance_id].events_enabled
    assert aw.world.schedules.schedules == {}


def test_a_replayed_code_is_refused_before_the_login_service_sees_it(aw: AppWorld) -> None:
    app, _ = installed(aw)
    status, page = aw.install(app["appId"], code="code-1")
    assert status == 400
    assert "already used" in page
    assert aw.world.store.exchanges == ["code-1"]  # once, not twice


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"context": "stores/abc123"}, "code: missing"),
        ({"code": "c", "context": "store/abc"}, "context: missing or not stores/{store_hash}"),
    ],
)
def test_an_incomplete_install_request_names_the_parameter(
    aw: AppWorld, query: dict[str, str], problem: str
) -> None:
    app = aw.register()
    status, page, _ = aw.call("GET", f"/apps/{app['appId']}/auth", query=query)
    assert status == 400 and problem in page, page


def test_an_unknown_app_url_is_a_404_page(aw: AppWorld) -> None:
    status, page = aw.install("no-such-app-id-at-all")
    assert status == 404 and "no BigCommerce app is registered at this URL" in page


def test_the_login_service_refusing_the_app_is_shown(aw: AppWorld) -> None:
    app = aw.register(clientSecret="not-the-portal-secret")
    status, page = aw.install(app["appId"])
    assert status == 400 and "did not install the app" in page
    assert "not-the-portal-secret" not in page
    assert aw.world.instances.items == {}


def test_installing_again_refreshes_the_same_instance(aw: AppWorld) -> None:
    app, instance_id = installed(aw)
    status, page = aw.install(app["appId"], code="code-2")
    assert status == 200 and "App installed again" in page
    assert list(aw.world.instances.items) == [instance_id]
    assert aw.world.store.exchanges == ["code-1", "code-2"]


# -- load callback ------------------------------------------------------------------------


def session_of(location: str) -> tuple[str, str]:
    prefix = "../../#/session/"
    assert location.startswith(prefix), location
    instance_id, token = unquote(location[len(prefix) :]).split("/", 1)
    return instance_id, token


def test_load_opens_the_stores_instance_with_a_short_lived_session(aw: AppWorld) -> None:
    app, instance_id = installed(aw)
    status, _, headers = aw.call("GET", f"/apps/{app['appId']}/load", query={"signed_payload_jwt": aw.jwt()})
    assert status == 302
    shown_id, token = session_of(headers["Location"])
    assert shown_id == instance_id
    session = {"Authorization": f"Session {token}"}
    assert aw.call("GET", f"/instances/{instance_id}", headers=session)[0] == 200
    assert aw.call("GET", f"/instances/{instance_id}/events", headers=session)[0] == 200
    # The session is not the organization: no listing, no changes, no other instance.
    assert aw.call("GET", "/instances", headers=session)[0] == 403
    assert aw.call("GET", "/app", headers=session)[0] == 403
    assert aw.call("POST", f"/instances/{instance_id}/poll", headers=session)[0] == 403
    assert (
        aw.call(
            "GET", f"/instances/{instance_id}", headers={"Authorization": f"Session {token}, Organization oa"}
        )[0]
        == 401
    )
    aw.now[0] += 31 * 60
    status, data, _ = aw.call("GET", f"/instances/{instance_id}", headers=session)
    assert status == 401 and "expired" in data["message"]


BAD_JWTS: dict[str, tuple[dict[str, Any], int, str]] = {
    "forged": ({"secret": "someone-elses-secret-0123456789abcdef0123"}, 401, "bad signature"),
    "expired": (
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200, "nbf": None},
        401,
        "expired",
    ),
    "wrong audience": ({"aud": "another-app"}, 401, "another app"),
    "wrong issuer": ({"iss": "not-bc"}, 401, "not issued by BigCommerce"),
    "no sub": ({"sub": None}, 401, "lacks the sub claim"),
    "bad sub": ({"sub": "users/1"}, 401, "sub is not stores/"),
    "wrong store": ({"sub": "stores/zzz999"}, 404, "store zzz999 has not installed this app"),
}


# remove-user needs no install: a verified payload of any store is acknowledged.
@pytest.mark.parametrize(
    ("callback", "case"),
    [
        (cb, case)
        for cb in ("load", "uninstall", "remove_user")
        for case in BAD_JWTS
        if (cb, case) != ("remove_user", "wrong store")
    ],
)
def test_every_callback_refuses_a_bad_signed_payload(aw: AppWorld, callback: str, case: str) -> None:
    app, instance_id = installed(aw)
    changes, expected_status, words = BAD_JWTS[case]
    sessions_before = len(aw.world.secrets.items)
    token = aw.jwt(**changes)
    status, page, headers = aw.call(
        "GET", f"/apps/{app['appId']}/{callback}", query={"signed_payload_jwt": token}
    )
    assert status == expected_status, page
    assert words in str(page), page
    assert token not in str(page) and CLIENT_SECRET not in str(page)
    assert "Location" not in headers
    assert len(aw.world.secrets.items) == sessions_before  # no session was made
    assert aw.world.schedules.schedules == {instance_id: 1}  # nothing was uninstalled
    assert aw.world.instances.items[instance_id].install_state == "installed"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-jwt",
        "a.b.c",
        # alg "none": unsigned, must never pass
        jwt.encode(
            {"aud": CLIENT_ID, "iss": "bc", "sub": "stores/abc123", "exp": 9999999999}, None, algorithm="none"
        ),
    ],
)
def test_load_refuses_garbage_and_unsigned_tokens(aw: AppWorld, token: str) -> None:
    app, _ = installed(aw)
    status, page, _ = aw.call("GET", f"/apps/{app['appId']}/load", query={"signed_payload_jwt": token})
    assert status == 401, page


KEY = "k" * 40


def test_verify_checks_times_against_the_given_clock() -> None:
    now = 1_800_000_000
    token = jwt.encode(
        {"aud": "c", "iss": "bc", "sub": "stores/s1", "exp": now + 60, "nbf": now - 1}, KEY, algorithm="HS256"
    )
    assert verify_signed_payload(token, client_id="c", client_secret=KEY, now=now).store_hash == "s1"
    with pytest.raises(SignedPayloadError, match="expired"):
        verify_signed_payload(token, client_id="c", client_secret=KEY, now=now + 120)
    with pytest.raises(SignedPayloadError, match="not valid yet"):
        verify_signed_payload(token, client_id="c", client_secret=KEY, now=now - 600)


# -- uninstall ----------------------------------------------------------------------------


def test_uninstall_stops_polling_erases_credentials_and_keeps_the_log(aw: AppWorld) -> None:
    app, instance_id = installed(aw)
    created = datetime.now(UTC).isoformat()
    aw.world.events.items["e1"] = {
        "instanceId": instance_id, "eventId": "e1", "status": "delivered", "createdAt": created
    }  # fmt: skip
    status, page, _ = aw.call(
        "GET", f"/apps/{app['appId']}/uninstall", query={"signed_payload_jwt": aw.jwt()}
    )
    assert status == 200, page
    assert aw.world.schedules.schedules == {}
    instance = aw.world.instances.items[instance_id]
    assert instance.install_state == "uninstalled" and not instance.events_enabled
    secrets = aw.world.crypto.decrypt(instance.secrets, instance_id)
    assert set(secrets) == {"signingSecret"}, secrets.keys()
    status, got, _ = aw.call("GET", f"/instances/{instance_id}", headers=ORG)
    assert got["installState"] == "uninstalled"
    assert "oauth.access.token" not in got["configuration"]
    assert aw.call("GET", f"/instances/{instance_id}/events", headers=ORG)[1]["events"][0]["eventId"] == "e1"
    assert aw.call("GET", "/app", headers=ORG)[1]["stores"][0]["status"] == "uninstalled"
    # Neither the load callback nor the events switch brings it back; an install does.
    assert aw.call("GET", f"/apps/{app['appId']}/load", query={"signed_payload_jwt": aw.jwt()})[0] == 409
    assert aw.call("PUT", f"/instances/{instance_id}/events/enabled", headers=ORG)[0] == 409
    turn_on = {"configuration": {"event.notification.enabled": True}}
    assert aw.call("PATCH", f"/instances/{instance_id}", body=turn_on, headers=ORG)[0] == 409
    assert aw.world.schedules.schedules == {}
    status, page = aw.install(app["appId"], code="code-2")
    assert status == 200, page
    again = aw.world.instances.items[instance_id]
    assert again.install_state == "installed" and again.events_enabled
    assert again.notifications_disabled_reason is None
    assert aw.world.schedules.schedules == {instance_id: 1}


def test_an_install_of_a_deleted_instance_starts_over(aw: AppWorld) -> None:
    app, instance_id = installed(aw)
    assert aw.call("DELETE", f"/instances/{instance_id}", headers=ORG)[0] == 204
    status, _ = aw.install(app["appId"], code="code-2")
    assert status == 200
    (install,) = aw.store.installs.values()
    assert install.instance_id != instance_id and install.instance_id in aw.world.instances.items


def test_the_sample_auth_callback_event_installs(aw: AppWorld) -> None:
    """events/api_app_auth_callback.json is what BigCommerce's install sends (sam local invoke -e)."""
    event = load_event("api_app_auth_callback.json")
    APIGatewayProxyEventV2Model.model_validate(event)
    app_id = event["rawPath"].split("/")[2]
    registered = aw.register()
    aw.store.apps[app_id] = replace(aw.store.apps[registered["appId"]], app_id=app_id)
    # The sample's secret was encrypted under the registered id: re-encrypt it under the sample's.
    secret = aw.world.crypto.decrypt(aw.store.apps[app_id].secrets, crypto_context(registered["appId"]))
    aw.store.apps[app_id] = replace(
        aw.store.apps[app_id], secrets=aw.world.crypto.encrypt(secret, crypto_context(app_id))
    )
    result = aw.app.resolve(event, Ctx())
    assert result["statusCode"] == 200, result["body"]
    assert "App installed" in result["body"] and "Store abc123 is connected" in result["body"]
    (install,) = aw.store.installs.values()
    instance = aw.world.instances.items[install.instance_id]
    assert instance.configuration["oauth.callback.url"] == (
        f"https://{event['headers']['host']}/apps/{app_id}/auth"
    )
