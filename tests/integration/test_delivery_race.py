"""Exactly once when two deliveries of one message race: SQS hands the message out again
(its visibility timeout ran out) while the first delivery's POST is still on its way."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.template_resources import StackResources
from local.worker_loop import build_sqs_event
from tests.conftest import load_handler
from tests.integration.delivery_support import (
    Context,
    Pipeline,
    Receiver,
    Reply,
    make_instance,
    make_message,
    wait_for,
)


@pytest.fixture
def pipeline(stack: StackResources) -> Iterator[Pipeline]:
    p = Pipeline(stack)
    yield p
    p.close()


def test_redelivery_during_a_slow_post_reaches_the_endpoint_once(pipeline: Pipeline) -> None:
    # A second warm container: its own module, clients and callback sender.
    other = load_handler("delivery")
    with Receiver([Reply(200, delay=2.0)]) as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        message = make_message(instance_id)
        pipeline.send(message)
        first = pipeline.receive(1)
        assert len(first) == 1
        # The visibility timeout "runs out" at once: SQS may hand the message out again.
        pipeline.fast_forward(first)

        results: dict[str, dict[str, Any]] = {}

        def invoke(name: str, app: Any, messages: list[dict[str, Any]]) -> None:
            event = build_sqs_event(messages, pipeline.queue_arn, pipeline.stack.region)
            results[name] = app.lambda_handler(event, Context())

        slow = threading.Thread(target=invoke, args=("first", pipeline.app, first))
        slow.start()
        assert wait_for(lambda: len(receiver.requests) == 1)  # the POST is in progress
        second = pipeline.receive(1)
        assert len(second) == 1 and second[0]["Attributes"]["ApproximateReceiveCount"] == "2"
        invoke("second", other, second)
        # Claimed elsewhere: kept on the queue for later, not sent.
        assert results["second"] == {"batchItemFailures": [{"itemIdentifier": second[0]["MessageId"]}]}
        assert len(receiver.requests) == 1
        slow.join(10)
        assert results["first"] == {"batchItemFailures": []}

        # Later, the kept message comes back: the event is delivered, so it is dropped.
        pipeline.fast_forward(second)
        _, result = pipeline.step(1)
        assert result == {"batchItemFailures": []}
        assert pipeline.queue_depth() == 0
        assert len(receiver.requests) == 1
    entry = pipeline.app.runtime.event_log.get(instance_id, message.event_id)
    assert entry["status"] == "delivered" and entry["attemptCount"] == 1


class ShortContext(Context):
    """An invocation with one second left: its claim lapses a second after it starts."""

    def get_remaining_time_in_millis(self) -> int:
        return 1000


def test_a_duplicate_after_the_claim_lapsed_is_still_not_sent_again(pipeline: Pipeline) -> None:
    with Receiver([Reply(200)]) as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        message = make_message(instance_id)
        pipeline.send(message)
        first = pipeline.receive(1)
        event = build_sqs_event(first, pipeline.queue_arn, pipeline.stack.region)
        assert pipeline.app.lambda_handler(event, ShortContext()) == {"batchItemFailures": []}
        assert len(receiver.requests) == 1
        time.sleep(1.2)  # the first claim has lapsed; its outcome is in the log entry
        pipeline.send(message)  # the poll sent it again (a crash before its checkpoint)
        _, result = pipeline.step(1)
        assert result == {"batchItemFailures": []}
        assert len(receiver.requests) == 1
    entry = pipeline.app.runtime.event_log.get(instance_id, message.event_id)
    assert entry["status"] == "delivered" and entry["attemptCount"] == 1
