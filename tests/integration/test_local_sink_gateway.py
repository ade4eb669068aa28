"""The local stack's callback sink and API Gateway shim, over real HTTP (no AWS needed)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from local.api_gateway import ApiGateway, Route, template_routes
from local.sink import Sink, elements_signature

# -- sink ------------------------------------------------------------------------------


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink(port=0).start()
    yield server
    server.stop()


def _signed(body: str, key: str, secret: str, msg_id: str = "evt-1") -> dict[str, str]:
    ts = datetime.now(UTC)
    return {
        "Content-Type": "application/json",
        "Elements-Webhook-Id": msg_id,
        "Elements-Webhook-Signature": elements_signature(key, body.encode()),
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(ts.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, ts, body),
    }


def test_sink_verifies_both_signatures_and_records_oldest_first(sink: Sink) -> None:
    key = secrets.token_urlsafe(16)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    keys = {"hook": "a", "signature_key": key, "signing_secret": secret}
    r = httpx.post(f"{sink.url}/_behavior", json=keys)
    assert r.status_code == 200 and "signature_key" not in r.json() and "signing_secret" not in r.json()
    good = json.dumps({"message": {"eventId": "e1"}}, separators=(",", ":"))
    ok = httpx.post(f"{sink.url}/hooks/a", content=good, headers=_signed(good, key, secret))
    assert ok.status_code == 200
    tampered_headers = _signed(good, key, secret)
    tampered = good.replace("e1", "e2")
    httpx.post(f"{sink.url}/hooks/a", content=tampered, headers=tampered_headers)
    wrong_key = _signed(good, "other-key", secret)
    httpx.post(f"{sink.url}/hooks/a", content=good, headers=wrong_key)
    httpx.post(f"{sink.url}/hooks/b", content=good, headers={"Content-Type": "application/json"})

    rows = httpx.get(f"{sink.url}/_deliveries", params={"hook": "a"}).json()
    assert [r["signatures_valid"] for r in rows] == [True, False, False]
    assert rows[0]["body"] == {"message": {"eventId": "e1"}}
    assert rows[0]["raw_body"] == good
    assert rows[0]["headers"]["elements-webhook-id"] == "evt-1"
    assert rows[0]["status"] == 200 and rows[0]["hook"] == "a" and rows[0]["time"].endswith("Z")
    every = httpx.get(f"{sink.url}/_deliveries").json()
    assert [r["hook"] for r in every] == ["a", "a", "a", "b"]
    assert every[-1]["signatures_valid"] is None  # no keys registered for b


def test_sink_answers_status_times_then_200_and_delays(sink: Sink) -> None:
    set_up = httpx.post(f"{sink.url}/_behavior", json={"hook": "f", "status": 500, "times": 2})
    assert set_up.status_code == 200
    codes = [httpx.post(f"{sink.url}/hooks/f", json={"n": i}).status_code for i in range(3)]
    assert codes == [500, 500, 200]
    assert [r["status"] for r in httpx.get(f"{sink.url}/_deliveries?hook=f").json()] == [500, 500, 200]
    httpx.post(f"{sink.url}/_behavior", json={"hook": "slow", "status": 200, "times": 1, "delay_ms": 300})
    started = time.monotonic()
    httpx.post(f"{sink.url}/hooks/slow", json={})
    assert time.monotonic() - started >= 0.3
    assert httpx.delete(f"{sink.url}/_deliveries").status_code == 200
    assert httpx.get(f"{sink.url}/_deliveries").json() == []


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"status": 500}, "hook"),
        ({"hook": "x", "status": "500"}, "status"),
        ({"hook": "x", "status": 99}, "status"),
        ({"hook": "x", "times": -1}, "times"),
        ({"hook": "x", "delay_ms": True}, "delay_ms"),
        ({"hook": "x", "signature_key": 5}, "signature_key"),
    ],
)
def test_sink_behavior_rejects_bad_input_naming_the_field(
    sink: Sink, spec: dict[str, Any], field: str
) -> None:
    r = httpx.post(f"{sink.url}/_behavior", json=spec)
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == field


# -- API Gateway shim ------------------------------------------------------------------


class Recorder:
    def __init__(self, answer: Any = None, *, raise_exc: bool = False, sleep: float = 0.0) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer
        self.raise_exc = raise_exc
        self.sleep = sleep
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> Any:
        with self.lock:
            self.events.append(event)
        if self.sleep:
            time.sleep(self.sleep)
        if self.raise_exc:
            raise RuntimeError("boom")
        return self.answer


def _gateway(handler: Recorder, **kw: Any) -> ApiGateway:
    return ApiGateway(handler, port=0, **kw).start()


def test_template_routes_are_root_get_and_greedy_proxy() -> None:
    routes = template_routes()
    assert [r.key for r in routes] == ["GET /", "ANY /{proxy+}"]
    assert Route("ANY", "/{proxy+}").match("POST", "/instances/abc/poll") == {"proxy": "instances/abc/poll"}
    assert Route("GET", "/").match("POST", "/") is None


def test_gateway_builds_a_payload_v2_event() -> None:
    answer = {"statusCode": 201, "headers": {"X-Thing": "1"}, "body": '{"ok":true}', "cookies": ["a=1"]}
    rec = Recorder(answer)
    gw = _gateway(rec)
    try:
        r = httpx.post(
            f"{gw.url}/instances/abc?x=1&x=2&y=",
            json={"hello": "world"},
            headers={"X-Custom": "v", "Cookie": "s=1; t=2", "User-Agent": "tester/1"},
        )
    finally:
        gw.stop()
    assert r.status_code == 201 and r.json() == {"ok": True}
    assert r.headers["x-thing"] == "1" and r.headers["set-cookie"] == "a=1" and r.headers["apigw-requestid"]
    ev = rec.events[0]
    assert ev["version"] == "2.0" and ev["routeKey"] == "ANY /{proxy+}"
    assert ev["rawPath"] == "/instances/abc" and ev["rawQueryString"] == "x=1&x=2&y="
    assert ev["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert ev["pathParameters"] == {"proxy": "instances/abc"}
    assert ev["cookies"] == ["s=1", "t=2"] and "cookie" not in ev["headers"]
    assert ev["headers"]["x-custom"] == "v" and all(k == k.lower() for k in ev["headers"])
    assert json.loads(ev["body"]) == {"hello": "world"} and ev["isBase64Encoded"] is False
    ctx = ev["requestContext"]
    assert ctx["http"] == {
        "method": "POST",
        "path": "/instances/abc",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tester/1",
    }
    assert ctx["stage"] == "$default" and ctx["apiId"] and ctx["requestId"]
    assert ctx["domainName"] == "127.0.0.1"
    assert abs(ctx["timeEpoch"] / 1000 - time.time()) < 5 and ctx["time"].endswith("+0000")


def test_gateway_binary_bodies_and_base64_answers() -> None:
    payload = bytes(range(256))
    rec = Recorder({"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(payload).decode()})
    gw = _gateway(rec)
    try:
        r = httpx.put(f"{gw.url}/blob", content=payload, headers={"Content-Type": "application/octet-stream"})
    finally:
        gw.stop()
    assert r.content == payload
    assert rec.events[0]["isBase64Encoded"] is True
    assert base64.b64decode(rec.events[0]["body"]) == payload


def test_gateway_answers_like_api_gateway_when_things_go_wrong() -> None:
    rec = Recorder(raise_exc=True)
    gw = _gateway(rec)
    slow = _gateway(Recorder({"statusCode": 200}, sleep=1.0), timeout=0.2)
    plain = _gateway(Recorder({"a": 1}))
    try:
        assert httpx.get(f"{gw.url}/instances").status_code == 500
        assert httpx.get(f"{gw.url}/instances").json() == {"message": "Internal Server Error"}
        assert httpx.post(f"{gw.url}/", content=b"x").status_code == 404  # only GET / is routed
        # Over API Gateway's 10 MB payload limit: refused before the function runs.
        big = httpx.post(f"{gw.url}/instances", content=b"x" * (10 * 1024 * 1024 + 1))
        assert big.status_code == 413
        assert len(rec.events) == 2
        assert httpx.get(f"{slow.url}/x").status_code == 503
        r = httpx.get(f"{plain.url}/x")  # a result without statusCode is a 200 JSON body
        assert r.status_code == 200 and r.json() == {"a": 1}
    finally:
        gw.stop()
        slow.stop()
        plain.stop()


def test_gateway_throttles_at_once_instead_of_queueing_without_bound() -> None:
    # Two invocations run, two wait; the fifth request and later are refused at once.
    slow = Recorder({"statusCode": 200}, sleep=1.5)
    gw = _gateway(slow, concurrency=2, queue_size=2)
    answers: list[tuple[int, float]] = []
    lock = threading.Lock()

    def one() -> None:
        started = time.monotonic()
        status = httpx.get(f"{gw.url}/instances", timeout=10).status_code
        with lock:
            answers.append((status, time.monotonic() - started))

    threads = [threading.Thread(target=one) for _ in range(8)]
    try:
        for t in threads:
            t.start()
            time.sleep(0.05)  # in order: the first four take the slots
        for t in threads:
            t.join()
        throttled = [elapsed for status, elapsed in answers if status == 429]
        assert sorted(status for status, _ in answers) == [200] * 4 + [429] * 4
        # Waiting its turn would take at least one 1.5 s invocation.
        assert max(throttled) < 1.4  # answered at once, not after waiting its turn
        assert len(slow.events) == 4 and gw.throttled == 4
    finally:
        gw.stop()


def test_gateway_unknown_methods_are_unknown_routes_and_stop_is_prompt() -> None:
    gw = _gateway(Recorder({"statusCode": 200}, sleep=5.0))
    try:
        trace = httpx.request("TRACE", f"{gw.url}/instances")
        assert trace.status_code == 404 and trace.json() == {"message": "Not Found"}
        # A request in flight does not hold the stop (the workers are daemon threads).
        threading.Thread(target=lambda: httpx.get(f"{gw.url}/x", timeout=10), daemon=True).start()
        time.sleep(0.3)
    finally:
        started = time.monotonic()
        gw.stop()
        assert time.monotonic() - started < 4.5  # the request in flight sleeps 5 s
