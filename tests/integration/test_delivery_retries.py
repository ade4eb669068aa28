"""Retries on the schedule, duplicates, the DLQ and replay, on moto's server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bcpoller.adapters import aws
from bcpoller.adapters.instance_table import InstanceTable
from bcpoller.delivery.policy import JITTER, MAX_ATTEMPTS, RETRY_DELAYS_SECONDS
from bcpoller.delivery.replay import Replayer

from local.template_resources import StackResources
from tests.integration.delivery_support import Pipeline, Receiver, Reply, make_instance, make_message


@pytest.fixture
def pipeline(stack: StackResources) -> Iterator[Pipeline]:
    p = Pipeline(stack)
    yield p
    p.close()


def replayer(pipeline: Pipeline) -> Replayer:
    return pipeline.app.runtime.replayer()


def test_failing_three_times_then_succeeding_delivers_exactly_once(pipeline: Pipeline) -> None:
    replies = [Reply(500), Reply(503), Reply(429, {"Retry-After": "1"}), Reply(200)]
    with Receiver(replies) as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        message = make_message(instance_id)
        pipeline.send(message)
        for attempt in range(1, 4):
            messages, result = pipeline.step()
            assert result["batchItemFailures"] == [{"itemIdentifier": messages[0]["MessageId"]}]
            assert messages[0]["Attributes"]["ApproximateReceiveCount"] == str(attempt)
            assert pipeline.receive(wait=0) == [], "a retried message stays invisible until its time"
            pipeline.fast_forward(messages)
        _, result = pipeline.step()
        assert result == {"batchItemFailures": []}
        # The same event queued again (poller re-read a page): not POSTed again.
        pipeline.send(message)
        pipeline.step()
        assert len(receiver.requests) == 4
        assert [r.status for r in replies[: len(receiver.requests)]].count(200) == 1
        assert {r.body for r in receiver.requests} == {message.body.encode()}
    entry = pipeline.app.runtime.event_log.get(instance_id, message.event_id)
    assert entry["status"] == "delivered"
    assert [a["statusCode"] for a in entry["attempts"]] == [500, 503, 429, 200]
    assert [a["error"] for a in entry["attempts"]] == ["HTTP 500", "HTTP 503", "HTTP 429", None]
    assert entry["deliveredAt"] >= entry["attempts"][-1]["at"]
    assert "nextAttemptAt" not in entry and "lastError" not in entry
    assert pipeline.queue_depth() == 0


def test_duplicate_in_the_same_batch_is_posted_once(pipeline: Pipeline) -> None:
    with Receiver([Reply(200, delay=0.3)]) as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        message = make_message(instance_id)
        pipeline.send(message, message)
        messages = pipeline.receive(2, wait=2)
        assert len(messages) == 2
        result = pipeline.invoke(messages)
        # One sends, the other finds it in progress and comes back later...
        assert len(result["batchItemFailures"]) == 1
        assert len(receiver.requests) == 1
        retried = result["batchItemFailures"][0]["itemIdentifier"]
        pipeline.fast_forward([m for m in messages if m["MessageId"] == retried])
        # ... and then finds it delivered.
        _, again = pipeline.step()
        assert again == {"batchItemFailures": []}
        assert len(receiver.requests) == 1
    assert pipeline.queue_depth() == 0


def test_visibility_follows_the_schedule_then_the_dlq_and_replay_delivers(pipeline: Pipeline) -> None:
    with Receiver([Reply(503)]) as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        message = make_message(instance_id)
        pipeline.send(message)
        for attempt in range(1, MAX_ATTEMPTS):
            messages, result = pipeline.step()
            assert result["batchItemFailures"], f"attempt {attempt} must be retried"
            pipeline.fast_forward(messages)
        assert len(pipeline.visibility_calls) == MAX_ATTEMPTS - 1
        for asked, scheduled in zip(pipeline.visibility_calls, RETRY_DELAYS_SECONDS, strict=True):
            assert scheduled * (1 - JITTER) - 1 <= asked <= scheduled * (1 + JITTER) + 1
        # The last attempt: to the DLQ, failed, and deleted from the events queue.
        _, result = pipeline.step()
        assert result == {"batchItemFailures": []}
        assert len(receiver.requests) == MAX_ATTEMPTS
    assert pipeline.queue_depth() == 0
    assert pipeline.queue_depth(pipeline.stack.dlq_url) == 1
    log = pipeline.app.runtime.event_log
    entry = log.get(instance_id, message.event_id)
    assert entry["status"] == "failed"
    assert len(entry["attempts"]) == MAX_ATTEMPTS
    assert entry["lastError"].startswith(f"gave up after {MAX_ATTEMPTS} attempts")

    with Receiver([Reply(200)]) as healed:
        instances = InstanceTable(aws.table(pipeline.stack.table_name))
        instances.update_fields(instance_id, {"callbackUrl": healed.url})
        assert replayer(pipeline).redrive_dlq() == 1
        assert pipeline.queue_depth(pipeline.stack.dlq_url) == 0
        assert log.get(instance_id, message.event_id)["status"] == "queued"
        _, result = pipeline.step()
        assert result == {"batchItemFailures": []}
        assert healed.bodies() == [message.body.encode()]
    final = log.get(instance_id, message.event_id)
    assert final["status"] == "delivered"
    assert [a["statusCode"] for a in final["attempts"]] == [503] * MAX_ATTEMPTS + [200]


def test_replay_failed_events_in_a_range_and_retry_one(pipeline: Pipeline) -> None:
    with Receiver([Reply(400), Reply(400), Reply(200)]) as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        first, second = make_message(instance_id, "1"), make_message(instance_id, "2")
        pipeline.send(first, second)
        pipeline.step(2)
        log = pipeline.app.runtime.event_log
        assert {log.get(instance_id, m.event_id)["status"] for m in (first, second)} == {"failed"}
        assert counted(log, instance_id) == {"delivered": 0, "failed": 2}

        assert replayer(pipeline).replay_failed(instance_id, until="2000-01-01T00:00:00Z") == 0
        assert replayer(pipeline).replay_failed(instance_id) == 2
        pipeline.step(2)
        assert len(receiver.requests) == 4
        assert {log.get(instance_id, m.event_id)["status"] for m in (first, second)} == {"delivered"}
        # The replay's attempt is appended to the first one's, not written over it.
        assert [a["statusCode"] for a in log.get(instance_id, first.event_id)["attempts"]] == [400, 200]

        # Retry of a delivered event sends it again: queued makes it claimable again.
        assert replayer(pipeline).retry(instance_id, first.event_id) is True
        assert log.get(instance_id, first.event_id)["status"] == "queued"
        pipeline.step()
        assert len(receiver.requests) == 5
        assert receiver.requests[-1].body == first.body.encode()
    assert replayer(pipeline).retry(instance_id, "no-such-event") is False
    # The hourly counters follow the replays: each event counted once, as it ended.
    assert counted(log, instance_id) == {"delivered": 2, "failed": 0}


def counted(log: Any, instance_id: str) -> dict[str, int]:
    counts = log.counts_since(instance_id, "2000-01-01T00:00:00Z")
    return {k: counts[k] for k in ("delivered", "failed")}
