"""Fakes of the API's adapters and an HTTP API v2 event builder (unit tests only)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools import Logger
from bcpoller.api.auth import Authenticator, hash_secret
from bcpoller.api.routes import ApiContext, build_app
from bcpoller.api.service import InstanceService, OAuthToken, ParsedFacts, StoreCheckFailed
from bcpoller.config.errors import ConfigError, FieldProblem
from bcpoller.instances import StoredInstance

STORE_TIME = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeInstances:
    def __init__(self) -> None:
        self.items: dict[str, StoredInstance] = {}
        self.deleted: list[str] = []

    def get(self, instance_id: str, *, consistent: bool = False) -> StoredInstance:
        if instance_id not in self.items:
            raise LookupError(instance_id)
        return self.items[instance_id]

    def put_new(self, instance: StoredInstance) -> None:
        assert instance.instance_id not in self.items
        # Round-trip through the item form, as the table would.
        self.items[instance.instance_id] = StoredInstance.from_item(instance.to_item())

    def update_fields(
        self, instance_id: str, fields: dict[str, Any], *, remove: tuple[str, ...] = ()
    ) -> None:
        item = self.items[instance_id].to_item()
        item.update(fields)
        for key in remove:
            item.pop(key, None)
        item["version"] = int(item.get("version", 0)) + 1
        self.items[instance_id] = StoredInstance.from_item(item)

    def list_for_org(self, org_id: str) -> list[StoredInstance]:
        return [i for i in self.items.values() if i.org_id == org_id]

    def delete_all(self, instance_id: str) -> int:
        self.deleted.append(instance_id)
        return 1 if self.items.pop(instance_id, None) else 0


class FakeCrypto:
    """Reversible, bound to the instance id like KMS's encryption context."""

    def encrypt(self, secrets: dict[str, Any], instance_id: str) -> bytes:
        return base64.b64encode(json.dumps({"ctx": instance_id, "s": secrets}).encode())

    def decrypt(self, ciphertext: bytes, instance_id: str) -> dict[str, Any]:
        if not ciphertext:
            return {}
        data = json.loads(base64.b64decode(ciphertext))
        assert data["ctx"] == instance_id, "wrong encryption context"
        return dict(data["s"])


class FakeSchedules:
    def __init__(self) -> None:
        self.schedules: dict[str, int] = {}

    def put(self, instance_id: str, minutes: int) -> None:
        self.schedules[instance_id] = minutes

    def delete(self, instance_id: str) -> bool:
        return self.schedules.pop(instance_id, None) is not None


class FakeTrigger:
    def __init__(self) -> None:
        self.triggered: list[str] = []

    def trigger(self, instance_id: str) -> None:
        self.triggered.append(instance_id)


class FakeStore:
    def __init__(self) -> None:
        self.good_tokens = {"good-token"}
        self.checked: list[dict[str, Any]] = []

    def check(self, configuration: Mapping[str, Any]) -> datetime:
        self.checked.append(dict(configuration))
        token = configuration.get("access.token") or configuration.get("oauth.access.token")
        if token not in self.good_tokens:
            raise StoreCheckFailed(
                "BigCommerce refused the credentials: 401 Unauthorized", [("access.token", "refused")]
            )
        return STORE_TIME

    def exchange_oauth(self, configuration: Mapping[str, Any]) -> OAuthToken:
        if configuration.get("oauth.code") != "install-code":
            raise StoreCheckFailed("BigCommerce did not install the app", [("oauth.code", "invalid code")])
        self.good_tokens.add("oauth-token")
        return OAuthToken(access_token="oauth-token", store_hash="abc123")


@dataclass
class FakeEvents:
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def list(self, instance_id: str, **kwargs: Any) -> tuple[list[Any], str | None]:
        self.calls.append(kwargs)
        if kwargs.get("next_token") == "bad":
            raise ValueError("next_token: not a token this API returned")
        found = [e for e in self.items.values() if e["instanceId"] == instance_id]
        if kwargs.get("status"):
            found = [e for e in found if e["status"] == kwargs["status"]]
        limit = kwargs.get("limit", 50)
        return found[:limit], ("more" if len(found) > limit else None)

    def get(self, instance_id: str, event_id: str) -> Any:
        e = self.items.get(event_id)
        return e if e and e["instanceId"] == instance_id else None

    def counts_since(
        self, instance_id: str, since: datetime, *, now: datetime | None = None
    ) -> dict[str, int]:
        # Bounded like the hourly counters: only events of [since, now] count.
        assert now is None or since < now, (since, now)
        found = [
            e
            for e in self.items.values()
            if e["instanceId"] == instance_id and since <= _created(e) <= (now or datetime.now(UTC))
        ]
        return {s: sum(1 for e in found if e["status"] == s) for s in ("delivered", "failed")}


def _created(event: dict[str, Any]) -> datetime:
    """A fake event's creation time: tests that count or replay must give one."""
    value = event.get("createdAt")
    assert value is not None, f"fake event {event.get('eventId')} has no createdAt"
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class FakeReplayer:
    def __init__(self, events: FakeEvents) -> None:
        self.events = events

    def retry(self, instance_id: str, event_id: str) -> bool:
        e = self.events.items[event_id]
        if e["status"] != "failed":
            return False
        e["status"] = "queued"
        return True

    def replay_failed(
        self, instance_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> int:
        n = 0
        for e in self.events.items.values():
            if (since and _created(e) < since) or (until and _created(e) > until):
                continue
            if e["instanceId"] == instance_id and e["status"] == "failed":
                e["status"] = "queued"
                n += 1
        return n

    def redrive_instance(self, instance_id: str) -> dict[str, Any]:
        self.redriven = [*getattr(self, "redriven", []), instance_id]
        return {"moved": 2, "left": 0, "scanned": 5, "complete": True}


class FakeCursors:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.reports: dict[str, dict[str, Any]] = {}

    def cursors(self, instance_id: str) -> list[dict[str, Any]]:
        return self.rows.get(instance_id, [])

    def last_poll(self, instance_id: str) -> dict[str, Any] | None:
        return self.reports.get(instance_id)


class FakeSecrets:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def add_org(self, org_id: str, org_secret: str, user_secret: str) -> None:
        self.items[hash_secret(org_secret)] = {"kind": "org", "orgId": org_id, "userId": f"u-{org_id}"}
        self.items[hash_secret(user_secret)] = {"kind": "user", "orgId": org_id, "userId": f"u-{org_id}"}

    def get_secret(self, secret_hash: str) -> dict[str, Any] | None:
        return self.items.get(secret_hash)


def fake_parse(raw: dict[str, Any]) -> ParsedFacts:
    """A small stand-in for the configuration model: enough rules to see problems flow."""
    cfg = raw.get("configuration") or {}
    problems = []
    enabled = cfg.get("event.notification.enabled", False)
    if not isinstance(enabled, bool):
        problems.append(
            FieldProblem(field="configuration.event.notification.enabled", problem="must be true or false")
        )
    interval = cfg.get("event.poller.refresh_interval", "")
    minutes = None
    if interval not in ("", None):
        try:
            minutes = int(interval)
        except (TypeError, ValueError):
            problems.append(
                FieldProblem(
                    field="configuration.event.poller.refresh_interval", problem="must be a number of minutes"
                )
            )
    pollers = cfg.get("event.poller.configuration") or {}
    for name in pollers:
        if name not in ("orders", "products", "customers"):
            problems.append(
                FieldProblem(
                    field=f"configuration.event.poller.configuration.{name}",
                    problem="unknown resource; available: customers, orders, products",
                )
            )
    if problems:
        raise ConfigError(problems)
    return ParsedFacts(
        events_enabled=bool(enabled),
        callback_url=cfg.get("event.notification.callback.url") or None,
        refresh_minutes=minutes,
        resources=list(pollers),
    )


@dataclass
class World:
    instances: FakeInstances = field(default_factory=FakeInstances)
    crypto: FakeCrypto = field(default_factory=FakeCrypto)
    schedules: FakeSchedules = field(default_factory=FakeSchedules)
    trigger: FakeTrigger = field(default_factory=FakeTrigger)
    store: FakeStore = field(default_factory=FakeStore)
    events: FakeEvents = field(default_factory=FakeEvents)
    cursors: FakeCursors = field(default_factory=FakeCursors)
    secrets: FakeSecrets = field(default_factory=FakeSecrets)
    catalog: list[dict[str, Any]] = field(
        default_factory=lambda: [{"name": "orders", "configuration": {"url": "/x"}}]
    )

    def __post_init__(self) -> None:
        self.service = InstanceService(
            instances=self.instances,
            crypto=self.crypto,
            schedules=self.schedules,
            trigger=self.trigger,
            store=self.store,
            events=self.events,
            replayer=FakeReplayer(self.events),
            cursors=self.cursors,
            parse=fake_parse,
            allow_loopback=True,
        )
        ctx = ApiContext(
            service=self.service,
            auth=Authenticator(self.secrets, self.instances),
            catalog=lambda: self.catalog,
        )
        self.app = build_app(lambda: ctx, web_dir=None, logger=Logger(service="test"))


def v2_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    hdrs = {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}}
    return {
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": hdrs,
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "t",
            },
            "requestId": "r",
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "pathParameters": {"proxy": path.lstrip("/")},
        "body": text,
        "isBase64Encoded": False,
    }


class Ctx:
    function_name = "api"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    aws_request_id = "req"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def call(app: Any, method: str, path: str, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
    result = app.resolve(v2_event(method, path, **kwargs), Ctx())
    body = result.get("body") or ""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body
    return result["statusCode"], parsed, result.get("headers") or {}
