"""Wake-up (issue 18) on moto's server and the simulated store over HTTP: the route's
secret check, coalescing under a burst, and the hooks kept on the store."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from types import ModuleType, SimpleNamespace
from typing import Any

import httpx
import pytest
from bcpoller import keys
from bcpoller.adapters import aws
from bcpoller.adapters.wake_table import WakeTable
from bcpoller.settings import reset_settings
from bcpoller.wakeup.coalesce import WakeService, run_woken, secret_hash
from bcpoller.wakeup.hooks import SECRET_HEADER

from local.demo import SEED_POLLER_CONFIGURATION
from local.store import SimulatedStore
from local.template_resources import StackResources
from tests.conftest import load_handler
from tests.integration.test_api_instances import api, call, new_org, public_dns, store  # noqa: F401
from tests.unit.api.helpers import Ctx, v2_event

WAKE_BASE = "https://localhost"  # the test events' domainName


def _body(
    sim: SimulatedStore, *, wakeup: bool, resources: tuple[str, ...] = ("products", "orders")
) -> dict[str, Any]:
    return {
        "element": {"key": "bigcommerce"},
        "name": "wake",
        "configuration": {
            "store.url": f"{sim.url}/stores/{sim.store_hash}",
            "store.hash": sim.store_hash,
            "access.token": sim.token,
            "event.notification.enabled": True,
            "event.notification.callback.url": "https://mycoolapp.com/events",
            "event.poller.refresh_interval": 1,
            "event.poller.wakeup": wakeup,
            "event.poller.configuration": {r: SEED_POLLER_CONFIGURATION[r] for r in resources},
        },
    }


def _hooks(sim: SimulatedStore) -> list[dict[str, Any]]:
    return sorted(sim.webhooks.hooks.values(), key=lambda h: h["id"])


def _poll_item(stack: StackResources, instance_id: str) -> dict[str, Any]:
    table = aws.table(stack.table_name)
    key = {keys.PK: keys.instance_pk(instance_id), keys.SK: keys.POLL_STATUS}
    return dict(table.get_item(Key=key, ConsistentRead=True).get("Item") or {})


@pytest.fixture
def org(api: ModuleType) -> str:  # noqa: F811
    return new_org("wake")["authorization"]


@pytest.fixture
def triggered(api: ModuleType) -> list[str]:  # noqa: F811
    """The woken polls the route asked for (moto cannot run PollFunction)."""
    calls: list[str] = []
    api.context().wake.trigger = calls.append
    return calls


def _wake(api: ModuleType, instance_id: str, secret: str | None) -> tuple[int, Any]:  # noqa: F811
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    payload = {"scope": "store/product/updated", "store_id": "1", "data": {"type": "product", "id": 1}}
    event = v2_event("POST", f"/wake/{instance_id}", body=payload, headers=headers)
    result = api.lambda_handler(event, Ctx())
    return result["statusCode"], json.loads(result["body"]) if result.get("body") else None


def test_forged_missing_or_unknown_get_the_same_401_and_trigger_nothing(
    api: ModuleType,  # noqa: F811
    store: SimulatedStore,  # noqa: F811
    org: str,
    triggered: list[str],
    stack: StackResources,
) -> None:
    status, inst = call(api, "POST", "/instances", org, body=_body(store, wakeup=True))
    assert status == 201, inst
    before = _poll_item(stack, inst["id"])
    answers = [
        _wake(api, inst["id"], "forged-" + "x" * 40),
        _wake(api, inst["id"], None),
        _wake(api, inst["id"], ""),
        _wake(api, "9d7c3f52-0000-4000-8000-000000000000", "forged"),
    ]
    assert [a[0] for a in answers] == [401, 401, 401, 401]
    assert len({str(a[1]) for a in answers}) == 1  # the same body: nothing tells them apart
    assert triggered == []
    after = _poll_item(stack, inst["id"])
    assert after.get("wakeReq") == before.get("wakeReq")  # refused requests write nothing
    # The real secret (the store sends the hook's headers) is accepted and asks for a poll.
    secret = _hooks(store)[0]["headers"][SECRET_HEADER]
    assert _wake(api, inst["id"], secret) == (200, {"accepted": True})
    assert triggered == [inst["id"]]


def test_the_secret_never_appears_in_responses_or_logs(
    api: ModuleType,  # noqa: F811
    store: SimulatedStore,  # noqa: F811
    org: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, inst = call(api, "POST", "/instances", org, body=_body(store, wakeup=True))
    assert status == 201
    secret = _hooks(store)[0]["headers"][SECRET_HEADER]
    texts = [str(inst)]
    for path in (f"/instances/{inst['id']}", f"/instances/{inst['id']}/status", "/instances"):
        texts.append(str(call(api, "GET", path, org)[1]))
    texts.append(capsys.readouterr().out + capsys.readouterr().err)
    assert all(secret not in t for t in texts)
    status_body = call(api, "GET", f"/instances/{inst['id']}/status", org)[1]
    assert status_body["wakeup"]["enabled"] is True
    assert {h["scope"] for h in status_body["wakeup"]["hooks"]} == {"store/order/*", "store/product/*"}


def test_hooks_follow_the_instance_and_are_repaired_by_the_poll(
    api: ModuleType,  # noqa: F811
    store: SimulatedStore,  # noqa: F811
    org: str,
    triggered: list[str],
    stack: StackResources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, inst = call(api, "POST", "/instances", org, body=_body(store, wakeup=True))
    assert status == 201
    iid = inst["id"]
    url = f"{WAKE_BASE}/wake/{iid}"
    hooks = _hooks(store)
    assert {(h["scope"], h["destination"], h["is_active"]) for h in hooks} == {
        ("store/order/*", url, True),
        ("store/product/*", url, True),
    }
    secret = hooks[0]["headers"][SECRET_HEADER]
    assert all(h["headers"] == {SECRET_HEADER: secret} for h in hooks)

    # Events off: hooks deleted, the route refuses; on again: registered again.
    assert call(api, "DELETE", f"/instances/{iid}/events/enabled", org)[0] == 200
    assert _hooks(store) == []
    assert _wake(api, iid, secret)[0] == 401
    assert call(api, "PUT", f"/instances/{iid}/events/enabled", org)[0] == 200
    assert len(_hooks(store)) == 2

    # BigCommerce deactivated one hook and lost the other: the poll's check repairs both.
    first, second = _hooks(store)
    httpx.post(f"{store.url}/_admin/webhooks", json={"deactivate": True}).raise_for_status()
    store.webhooks.hooks.pop(second["id"])
    monkeypatch.setenv("SECONDS_PER_MINUTE", "0.001")  # the check is due at once
    reset_settings()
    poll = load_handler("poll")
    poll.lambda_handler({"instanceId": iid}, SimpleNamespace(get_remaining_time_in_millis=lambda: 60_000))
    repaired = _hooks(store)
    assert len(repaired) == 2 and all(h["is_active"] for h in repaired)
    assert {h["scope"] for h in repaired} == {"store/order/*", "store/product/*"}
    assert first["id"] in {h["id"] for h in repaired}  # re-activated, not replaced
    report = _poll_item(stack, iid)["hooks"]
    assert report["reactivated"] == 1 and report["created"] == 1 and report["error"] is None

    # Wake-up switched off by a PATCH: hooks deleted; the instance deleted: none either.
    status, _ = call(
        api, "PATCH", f"/instances/{iid}", org, body={"configuration": {"event.poller.wakeup": False}}
    )
    assert status == 200
    assert _hooks(store) == []
    status, _ = call(
        api, "PATCH", f"/instances/{iid}", org, body={"configuration": {"event.poller.wakeup": True}}
    )
    assert status == 200 and len(_hooks(store)) == 2
    assert call(api, "DELETE", f"/instances/{iid}", org)[0] == 204
    assert _hooks(store) == []


def test_wakeup_must_be_a_boolean(api: ModuleType, store: SimulatedStore, org: str) -> None:  # noqa: F811
    body = _body(store, wakeup=True)
    body["configuration"]["event.poller.wakeup"] = "yes"
    status, answer = call(api, "POST", "/instances", org, body=body)
    assert status == 400
    assert any(e["field"] == "configuration.event.poller.wakeup" for e in answer["errors"]), answer


def test_a_burst_of_wakeups_means_a_few_polls_one_at_a_time(stack: StackResources) -> None:
    """1,000 requests from 8 threads: one runner at a time, a poll pass started after the
    last request (no wake-up is lost), and a handful of passes, spaced while crowded."""
    table = WakeTable(aws.table(stack.table_name))
    table.arm("burst", hashed_secret=secret_hash("s3cret"), url="https://x/wake/burst", hooks={})
    lock = threading.Lock()
    passes: list[float] = []
    running = [0]
    most_running = [0]
    runners: list[threading.Thread] = []
    poll_s = 0.3

    def poll() -> Any:
        with lock:
            running[0] += 1
            most_running[0] = max(most_running[0], running[0])
            passes.append(time.monotonic())
        time.sleep(poll_s)
        with lock:
            running[0] -= 1
        return SimpleNamespace(status="ok", reason=None)

    def trigger(instance_id: str) -> None:
        thread = threading.Thread(
            target=run_woken, args=(instance_id, table, poll), kwargs={"remaining_ms": lambda: 900_000}
        )
        runners.append(thread)
        thread.start()

    service = WakeService(state=table, trigger=trigger)
    sent: list[float] = []

    def send(n: int) -> None:
        for _ in range(n):
            at = time.monotonic()
            service.wake("burst", "s3cret")
            with lock:
                sent.append(at)

    started = time.monotonic()
    # moto applies concurrent updates of one item without DynamoDB's per-item ordering (an
    # ADD can be lost when two land at once): the first request goes alone, so the test
    # does not hinge on moto racing the very first two.
    send(1)
    senders = [threading.Thread(target=send, args=(n,)) for n in (124, *[125] * 7)]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    burst_s = time.monotonic() - started
    while any(t.is_alive() for t in list(runners)):
        time.sleep(0.05)
    assert len(sent) == 1000
    assert most_running[0] == 1
    assert len(runners) == 1  # the runner kept going while requests came in
    assert max(passes) > max(sent)
    # Spaced passes (coalesce.next_gap): at once, then 4 s, then 16 s... however long the
    # burst lasted on moto (seconds here), a handful of passes, not one per pass-length.
    assert len(passes) <= 5, (len(passes), burst_s)
    if len(passes) > 2:
        assert passes[2] - passes[1] >= 4.0  # the crowded second pass was followed after a gap
    item = table._table.get_item(Key={keys.PK: keys.instance_pk("burst"), keys.SK: keys.POLL_STATUS})["Item"]
    # Settled: every counted request is done (moto may have dropped a few concurrent ADDs).
    assert int(item["wakeReq"]) == int(item["wakeDone"]) > 900
    # Settled: the next request starts a runner again.
    service.wake("burst", "s3cret")
    assert len(runners) == 2
    runners[-1].join()


def test_a_dead_runner_is_taken_over_once_stale(stack: StackResources) -> None:
    table = WakeTable(aws.table(stack.table_name))
    table.arm("stale", hashed_secret=secret_hash("k"), url="https://x/wake/stale", hooks={})
    started: list[str] = []
    clock = [1_000_000.0]
    service = WakeService(state=table, trigger=started.append, clock=lambda: clock[0], stale_s=180)
    assert service.wake("stale", "k") == "started"  # ...and that runner never runs
    clock[0] += 60
    assert service.wake("stale", "k") == "coalesced"
    clock[0] += 200
    assert [service.wake("stale", "k") for _ in range(3)] == ["started", "coalesced", "coalesced"]
    assert started == ["stale", "stale"]


def test_the_pass_counters_and_spacing_round_trip_on_dynamodb(stack: StackResources) -> None:
    """The runner's writes on moto's server: a refused finish says how many requests came in
    (ReturnValuesOnConditionCheckFailure, no extra read), a hand-over keeps the spacing for
    the next runner, and a finished run removes it."""
    table = WakeTable(aws.table(stack.table_name))
    table.arm("rt", hashed_secret=secret_hash("k"), url="https://x/wake/rt", hooks={})
    for n in range(3):
        assert table.request("rt", secret_hash("k"), 100.0 + n) is not None
    mark = table.start_pass("rt", 110.0)
    assert mark is not None and (mark.req, mark.done, mark.gap, mark.next_at) == (3, 0, 0.0, None)
    for _ in range(4):  # arriving during the pass
        table.request("rt", secret_hash("k"), 111.0)
    assert table.finish("rt", mark.req) == 7
    table.hand_over("rt", 16.0, 130.5)
    item = _poll_item(stack, "rt")
    assert (item["wakeAt"], item["wakeGap"], item["wakeNext"]) == (0, 16, Decimal("130.5"))
    ticket = table.request("rt", secret_hash("k"), 120.0)
    assert ticket is not None and ticket.at == 0.0  # stale at once: the next request takes over
    mark = table.start_pass("rt", 121.0)
    assert mark is not None and (mark.req, mark.gap, mark.next_at) == (8, 16.0, 130.5)
    assert table.finish("rt", 8) is None
    item = _poll_item(stack, "rt")
    assert item["wakeDone"] == 8 and not {"wakeAt", "wakeGap", "wakeNext"} & set(item)
    table.disarm("rt")
    assert table.start_pass("rt", 122.0) is None
