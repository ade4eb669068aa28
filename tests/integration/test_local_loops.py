"""The local runtime's SQS worker and scheduler loops against moto's server (over HTTP)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import httpx
import pytest

from local.scheduler_loop import PollNowServer, SchedulerLoop, rate_minutes
from local.template_resources import StackResources
from local.worker_loop import WorkerLoop, build_sqs_event, failed_ids


def _sqs(stack: StackResources) -> Any:
    return boto3.client("sqs", endpoint_url=stack.endpoint_url, region_name=stack.region)


def _send(sqs: Any, url: str, n: int) -> None:
    for i in range(n):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"n": i}),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )


def _depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_sqs_event_matches_lambda_shape(stack: StackResources) -> None:
    sqs = _sqs(stack)
    _send(sqs, stack.events_queue_url, 1)
    loop = WorkerLoop(sqs, stack.events_queue_url, lambda e: None)
    batch = loop.receive_batch()
    event = build_sqs_event(batch, loop.queue_arn, loop.region)
    (record,) = event["Records"]
    assert set(record) >= {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"].endswith("EventsQueue")
    assert record["awsRegion"] == "us-east-1" and json.loads(record["body"]) == {"n": 0}
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId"} <= set(record["attributes"])
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "test",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }


def test_worker_deletes_all_but_the_reported_failures(stack: StackResources) -> None:
    sqs = _sqs(stack)
    _send(sqs, stack.events_queue_url, 5)
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        seen.append(event)
        fail = [r for r in event["Records"] if json.loads(r["body"])["n"] in (1, 3)]
        for r in fail:  # as the delivery function does for a retry: back soon
            sqs.change_message_visibility(
                QueueUrl=stack.events_queue_url, ReceiptHandle=r["receiptHandle"], VisibilityTimeout=0
            )
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in fail]}

    loop = WorkerLoop(sqs, stack.events_queue_url, handler, batching_window=0.3)
    batch = loop.receive_batch()
    assert len(batch) == 5  # the batching window fills the batch
    kept = loop.process(batch)
    assert len(kept) == 2 and _depth(sqs, stack.events_queue_url) == 2
    again = loop.receive_batch()
    assert sorted(json.loads(m["Body"])["n"] for m in again) == [1, 3]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in again} == {"2"}


@pytest.mark.parametrize(
    "answer",
    [RuntimeError("boom"), {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}, "nonsense"],
)
def test_worker_keeps_the_whole_batch_on_a_crash_or_bad_answer(stack: StackResources, answer: Any) -> None:
    sqs = _sqs(stack)
    _send(sqs, stack.events_queue_url, 3)

    def handler(event: dict[str, Any]) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    loop = WorkerLoop(sqs, stack.events_queue_url, handler, batching_window=0.2)
    assert len(loop.process(loop.receive_batch())) == 3
    assert _depth(sqs, stack.events_queue_url) == 3


def test_failed_ids_rules() -> None:
    ids = {"a", "b"}
    assert failed_ids(None, ids) == set()
    assert failed_ids({"batchItemFailures": []}, ids) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, ids) == {"a"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids) == ids


def test_moto_moves_a_message_to_the_dlq_past_max_receive_count(stack: StackResources) -> None:
    sqs = _sqs(stack)
    _send(sqs, stack.events_queue_url, 1)
    receives = 0

    def always_fail(event: dict[str, Any]) -> dict[str, Any]:
        nonlocal receives
        receives += 1
        (r,) = event["Records"]
        sqs.change_message_visibility(
            QueueUrl=stack.events_queue_url, ReceiptHandle=r["receiptHandle"], VisibilityTimeout=0
        )
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]}]}

    loop = WorkerLoop(sqs, stack.events_queue_url, always_fail, batching_window=0, wait_seconds=0)
    for _ in range(15):
        batch = loop.receive_batch()
        if batch:
            loop.process(batch)
    assert receives == 10  # template.yaml's maxReceiveCount
    dlq = sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in dlq] == [{"n": 0}]
    assert _depth(sqs, stack.events_queue_url) == 0


# -- scheduler -------------------------------------------------------------------------


def test_rate_minutes() -> None:
    assert rate_minutes("rate(1 minute)") == 1
    assert rate_minutes("rate(15 minutes)") == 15
    assert rate_minutes("rate(2 hours)") == 120
    assert rate_minutes("cron(0 * * * ? *)") is None


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _schedule(client: Any, stack: StackResources, name: str, expr: str, **kw: Any) -> None:
    client.create_schedule(
        GroupName=stack.schedule_group_name,
        Name=name,
        ScheduleExpression=expr,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": kw.pop("arn", stack.poll_function_arn),
            "RoleArn": stack.scheduler_role_arn,
            "Input": json.dumps({"instanceId": name}),
        },
        **kw,
    )


def test_scheduler_fires_enabled_rate_schedules_at_their_scaled_rate(stack: StackResources) -> None:
    client = boto3.client("scheduler", endpoint_url=stack.endpoint_url, region_name=stack.region)
    _schedule(client, stack, "every-1", "rate(1 minute)")
    _schedule(client, stack, "every-3", "rate(3 minutes)")
    _schedule(client, stack, "off", "rate(1 minute)", State="DISABLED")
    other = "arn:aws:lambda:us-east-1:123456789012:function:x"
    _schedule(client, stack, "elsewhere", "rate(1 minute)", arn=other)
    fired: list[tuple[str, dict[str, Any]]] = []
    clock = Clock()
    loop = SchedulerLoop(
        client,
        stack.schedule_group_name,
        lambda n, p: fired.append((n, p)),
        seconds_per_minute=10,
        target_arn=stack.poll_function_arn,
        clock=clock,
    )
    assert loop.tick() == []  # nothing is due at creation
    for _ in range(6):  # 60 s of schedule time in 10 s steps (one minute each)
        clock.now += 10.01
        loop.tick()
    names = [n for n, _ in fired]
    assert names.count("every-1") == 6 and names.count("every-3") == 2
    assert "off" not in names and "elsewhere" not in names
    assert ("every-1", {"instanceId": "every-1"}) in fired
    # A quiet minute missed in full (a busy machine) fires once, not twice.
    clock.now += 25
    assert loop.tick().count("every-1") == 1
    client.delete_schedule(GroupName=stack.schedule_group_name, Name="every-1")
    clock.now += 10
    assert "every-1" not in loop.tick()


def test_poll_now_server_fires_and_validates() -> None:
    fired: list[dict[str, Any]] = []
    done = threading.Event()

    def fire(source: str, event: dict[str, Any]) -> None:
        fired.append(event)
        done.set()

    server = PollNowServer(fire, port=0).start()
    try:
        assert httpx.post(server.url, json={"instanceId": "i-1"}).status_code == 202
        bad = httpx.post(server.url, json={"instance": "i-1"})
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "instanceId"
    finally:
        server.stop()
    assert done.wait(1) and fired == [{"instanceId": "i-1"}]
