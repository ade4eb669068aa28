"""DeliveryFunction on moto's server with a real HTTP receiver: signatures, outcomes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import pytest
from bcpoller.adapters import aws
from bcpoller.adapters.instance_table import InstanceTable
from bcpoller.delivery.signing import USER_AGENT
from standardwebhooks import Webhook

from local.template_resources import StackResources
from tests.conftest import load_handler
from tests.integration.delivery_support import (
    SIGNATURE_KEY,
    SIGNING_SECRET,
    Pipeline,
    Receiver,
    Reply,
    make_instance,
    make_message,
)


@pytest.fixture
def pipeline(stack: StackResources) -> Iterator[Pipeline]:
    p = Pipeline(stack)
    yield p
    p.close()


def event_log(pipeline: Pipeline):
    return pipeline.app.runtime.event_log


def test_signed_callback_verifies_with_standardwebhooks_and_plain_hmac(pipeline: Pipeline) -> None:
    with Receiver() as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        message = make_message(instance_id)
        pipeline.send(message)
        _, result = pipeline.step()

        assert result == {"batchItemFailures": []}
        assert len(receiver.requests) == 1
        got = receiver.requests[0]
        headers = {k.lower(): v for k, v in got.headers.items()}
        # Byte for byte what the poller queued.
        assert got.body == message.body.encode()
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"] == USER_AGENT
        assert headers["elements-webhook-id"] == message.event_id
        # Standard Webhooks, checked by the library itself (raises on a bad signature).
        payload = Webhook(SIGNING_SECRET).verify(got.body, headers)
        assert payload["message"]["eventId"] == message.event_id
        assert headers["webhook-id"] == message.event_id
        # Elements header, checked by hand.
        digest = hmac.new(SIGNATURE_KEY.encode(), got.body, hashlib.sha256).digest()
        expected = base64.b64encode(digest).decode()
        assert headers["elements-webhook-signature"] == "sha256=" + expected
        with pytest.raises(Exception, match="signature"):
            Webhook(SIGNING_SECRET).verify(got.body + b" ", headers)

    entry = event_log(pipeline).get(instance_id, message.event_id)
    assert entry is not None
    assert entry["status"] == "delivered"
    assert entry["body"] == message.body
    assert [a["statusCode"] for a in entry["attempts"]] == [200]
    assert entry["attempts"][0]["latencyMs"] >= 0
    assert pipeline.queue_depth() == 0


def test_no_signature_key_means_no_elements_header(pipeline: Pipeline) -> None:
    with Receiver() as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url, signature_key=None)
        pipeline.send(make_message(instance_id))
        pipeline.step()
        headers = {k.lower() for k in receiver.requests[0].headers}
    assert "elements-webhook-signature" not in headers
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= headers


def test_batch_is_delivered_concurrently(pipeline: Pipeline) -> None:
    # Each reply takes 1 s: ten in sequence would take 10 s and never overlap.
    with Receiver([Reply(200, delay=1.0)]) as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        pipeline.send(*[make_message(instance_id, str(100 + i)) for i in range(10)])
        messages = pipeline.receive(10, wait=3)
        assert len(messages) == 10
        started = time.monotonic()
        pipeline.invoke(messages)
        elapsed = time.monotonic() - started
        arrivals = sorted(r.at for r in receiver.requests)
    assert len(arrivals) == 10
    in_flight = max(sum(1 for other in arrivals if at <= other < at + 1.0) for at in arrivals)
    assert in_flight >= 5, f"at most {in_flight} POSTs overlapped"
    # In sequence the ten 1 s replies take 10 s: anything clearly below proves overlap,
    # with room for a loaded machine.
    assert elapsed < 9, f"the batch took {elapsed:.1f} s"


def test_410_turns_notifications_off(pipeline: Pipeline) -> None:
    with Receiver([Reply(410)]) as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        first = make_message(instance_id, "1")
        pipeline.send(first)
        _, result = pipeline.step()
        assert result == {"batchItemFailures": []}

        instance = InstanceTable(aws.table(pipeline.stack.table_name)).get(instance_id)
        assert instance.events_enabled is False
        assert "410" in (instance.notifications_disabled_reason or "")
        entry = event_log(pipeline).get(instance_id, first.event_id)
        assert entry["status"] == "failed"
        assert entry["attempts"][0]["statusCode"] == 410

        # Later events of that instance fail at once with the reason, without a POST.
        second = make_message(instance_id, "2")
        pipeline.send(second)
        pipeline.step()
        assert len(receiver.requests) == 1
    later = event_log(pipeline).get(instance_id, second.event_id)
    assert later["status"] == "failed"
    assert "notifications are off" in later["lastError"]
    assert later["attempts"] == []
    assert pipeline.queue_depth() == 0


def test_400_fails_at_once(pipeline: Pipeline) -> None:
    with Receiver([Reply(400)]) as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        message = make_message(instance_id)
        pipeline.send(message)
        _, result = pipeline.step()
        assert result == {"batchItemFailures": []}
        assert len(receiver.requests) == 1
    entry = event_log(pipeline).get(instance_id, message.event_id)
    assert entry["status"] == "failed"
    assert entry["lastError"] == "HTTP 400"
    assert pipeline.visibility_calls == []
    assert pipeline.queue_depth() == 0
    assert pipeline.queue_depth(pipeline.stack.dlq_url) == 0


def test_redirect_is_not_followed(pipeline: Pipeline) -> None:
    with Receiver([Reply(302, {"Location": "/elsewhere"})]) as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        message = make_message(instance_id)
        pipeline.send(message)
        pipeline.step()
        assert [r.path for r in receiver.requests] == ["/hook"]
    entry = event_log(pipeline).get(instance_id, message.event_id)
    assert entry["status"] == "failed"
    assert entry["attempts"][0]["statusCode"] == 302
    assert "redirect not followed" in entry["lastError"]


def test_hanging_receiver_times_out_and_is_retried(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, stack: StackResources
) -> None:
    from bcpoller.settings import reset_settings

    monkeypatch.setenv("DELIVERY_TIMEOUT_SECONDS", "0.3")
    reset_settings()
    pipeline.app = load_handler("delivery")
    with Receiver([Reply(200, delay=3.0)]) as receiver:
        instance_id = make_instance(stack, receiver.url)
        message = make_message(instance_id)
        pipeline.send(message)
        messages, result = pipeline.step()
        assert result == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    entry = pipeline.app.runtime.event_log.get(instance_id, message.event_id)
    assert entry["status"] == "retrying"
    attempt = entry["attempts"][0]
    assert attempt["statusCode"] is None
    assert attempt["error"] == "timed out after 0.3 s"
    assert 250 <= attempt["latencyMs"] < 2000
    assert len(pipeline.visibility_calls) == 1
    # Still on the queue, invisible until its next attempt.
    assert pipeline.queue_depth() == 1
    assert pipeline.receive(wait=0) == []


def test_unreachable_receiver_is_retried_with_a_short_error(pipeline: Pipeline) -> None:
    with Receiver() as receiver:
        url = receiver.url
    # The server is closed: connection refused.
    instance_id = make_instance(pipeline.stack, url)
    message = make_message(instance_id)
    pipeline.send(message)
    messages, result = pipeline.step()
    assert result["batchItemFailures"] == [{"itemIdentifier": messages[0]["MessageId"]}]
    entry = event_log(pipeline).get(instance_id, message.event_id)
    assert entry["status"] == "retrying"
    assert entry["attempts"][0]["error"].startswith("connection error")
    assert url not in json.dumps(entry["attempts"])


def test_gone_instance_fails_with_a_reason(pipeline: Pipeline) -> None:
    message = make_message("no-such-instance")
    pipeline.send(message)
    _, result = pipeline.step()
    assert result == {"batchItemFailures": []}
    entry = event_log(pipeline).get("no-such-instance", message.event_id)
    assert entry["status"] == "failed"
    assert "instance not found" in entry["lastError"]
    assert pipeline.queue_depth() == 0


def test_private_callback_address_is_refused_at_send_time(pipeline: Pipeline) -> None:
    instance_id = make_instance(pipeline.stack, "http://10.0.0.7/hook")
    message = make_message(instance_id)
    pipeline.send(message)
    _, result = pipeline.step()
    assert result == {"batchItemFailures": []}
    entry = event_log(pipeline).get(instance_id, message.event_id)
    assert entry["status"] == "failed"
    assert "callback URL refused" in entry["lastError"]
    assert "private" in entry["lastError"]
