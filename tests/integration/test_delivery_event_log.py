"""The event log's read API (used by the API) and oversize bodies, on moto's server."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from bcpoller import keys
from bcpoller.adapters import aws
from bcpoller.delivery.event_log import EventLog, EventLogError, Tally

from local.template_resources import StackResources
from tests.integration.delivery_support import Pipeline, Receiver, Reply, make_instance, make_message


@pytest.fixture
def pipeline(stack: StackResources) -> Iterator[Pipeline]:
    p = Pipeline(stack)
    yield p
    p.close()


def seed(pipeline: Pipeline, log: EventLog, instance_id: str, count: int, *, base: datetime) -> list[str]:
    """Log entries created one minute apart, alternately delivered and failed."""
    ids = []
    for i in range(count):
        message = make_message(instance_id, str(i)).model_copy(
            update={"emitted_at": base + timedelta(minutes=i)}
        )
        claimed = log.claim(message, now=base, lease_until=base, first_attempt=True)
        attempt = {"at": "x", "statusCode": 200 if i % 2 == 0 else 400, "latencyMs": 5, "error": None}
        status = "delivered" if i % 2 == 0 else "failed"
        log.finish_attempt(
            instance_id, message.event_id, status=status, attempt=attempt, now=base, claimed=claimed
        )
        ids.append(message.event_id)
    return ids


def test_list_newest_first_with_status_range_and_pages(pipeline: Pipeline) -> None:
    log = pipeline.app.runtime.event_log
    base = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    ids = seed(pipeline, log, "inst-a", 7, base=base)
    seed(pipeline, log, "inst-b", 2, base=base)  # another instance's events never show

    everything, token = log.list("inst-a")
    assert [e["eventId"] for e in everything] == ids[::-1]
    assert token is None
    assert all("body" not in e and e["attemptCount"] == 1 for e in everything)

    failed, _ = log.list("inst-a", status="failed")
    assert [e["eventId"] for e in failed] == [ids[5], ids[3], ids[1]]

    window, _ = log.list("inst-a", since=base + timedelta(minutes=2), until=base + timedelta(minutes=4))
    assert [e["eventId"] for e in window] == [ids[4], ids[3], ids[2]]

    pages: list[str] = []
    token = None
    while True:
        page, token = log.list("inst-a", status="delivered", limit=2, next_token=token)
        pages.extend(e["eventId"] for e in page)
        assert len(page) <= 2
        if token is None:
            break
    assert pages == [ids[6], ids[4], ids[2], ids[0]]


def test_counts_come_from_hourly_counters(pipeline: Pipeline) -> None:
    log = pipeline.app.runtime.event_log
    now = datetime(2026, 11, 2, 12, 30, tzinfo=UTC)
    tally = Tally()
    outcomes = [(0, "delivered", 3), (5, "failed", 2), (23, "delivered", 1), (30, "failed", 9)]
    for hours_ago, status, n in outcomes:
        tally.add("inst-a", now - timedelta(hours=hours_ago), status, n)
    tally.add("inst-b", now, "failed", 4)  # another instance's never count
    log.add_counts(tally.take())
    log.add_counts({("inst-a", "2026-11-02T12"): {"delivered": 1, "failed": 0}})  # atomic ADD
    counts = log.counts_since("inst-a", now - timedelta(hours=24), now=now)
    # The window starts at the start of the oldest hour counted (12:00 the day before).
    hours = counts.pop("hours")
    assert counts == {
        "delivered": 5,
        "failed": 2,
        "since": datetime(2026, 11, 1, 12, tzinfo=UTC),
        "deadLettered": 0,
    }
    # The chart's series: every hour of the window, oldest first, the same counts per hour.
    assert [row["hour"] for row in hours] == [
        datetime(2026, 11, 1, 12, tzinfo=UTC) + timedelta(hours=n) for n in range(25)
    ]
    busy = {
        row["hour"].hour: (row["delivered"], row["failed"])
        for row in hours
        if row["delivered"] or row["failed"]
    }
    assert busy == {13: (1, 0), 7: (0, 2), 12: (4, 0)}
    assert sum(row["delivered"] for row in hours) == counts["delivered"]


def test_list_rejects_bad_arguments_naming_the_field(pipeline: Pipeline) -> None:
    log = pipeline.app.runtime.event_log
    with pytest.raises(EventLogError, match=r"^status: must be one of"):
        log.list("inst-a", status="lost")
    with pytest.raises(EventLogError, match=r"^limit: "):
        log.list("inst-a", limit=0)
    with pytest.raises(EventLogError, match=r"^since: not an ISO 8601"):
        log.list("inst-a", since="yesterday")
    with pytest.raises(EventLogError, match=r"^next_token: "):
        log.list("inst-a", next_token="garbage!")
    seed(pipeline, log, "inst-b", 3, base=datetime(2026, 11, 1, tzinfo=UTC))
    _, other_token = log.list("inst-b", limit=1)
    assert other_token
    with pytest.raises(EventLogError, match=r"^next_token: not a token of this instance"):
        log.list("inst-a", next_token=other_token)


def test_get_missing_event_is_none(pipeline: Pipeline) -> None:
    assert pipeline.app.runtime.event_log.get("inst-a", "nope") is None


def test_oversize_body_is_read_from_its_blob(pipeline: Pipeline) -> None:
    with Receiver() as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        message = make_message(instance_id)
        blob = keys.blob_sk(message.event_id)
        aws.table(pipeline.stack.table_name).put_item(
            Item={
                keys.PK: keys.instance_pk(instance_id),
                keys.SK: blob,
                "body": zlib.compress(message.body.encode()),
            }
        )
        by_ref = message.model_copy(update={"body": None, "body_ref": blob})
        pipeline.send(by_ref)
        _, result = pipeline.step()
        assert result == {"batchItemFailures": []}
        assert receiver.bodies() == [message.body.encode()]
    entry = pipeline.app.runtime.event_log.get(instance_id, message.event_id)
    assert entry["status"] == "delivered"
    assert entry["bodyRef"] == blob and "body" not in entry


def test_missing_blob_fails_the_event_with_a_reason(pipeline: Pipeline) -> None:
    with Receiver() as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        message = make_message(instance_id).model_copy(update={"body": None, "body_ref": "BLOB#gone"})
        pipeline.send(message)
        _, result = pipeline.step()
        assert result == {"batchItemFailures": []}
        assert receiver.requests == []
    entry = pipeline.app.runtime.event_log.get(instance_id, message.event_id)
    assert entry["status"] == "failed"
    assert "event body unavailable" in entry["lastError"]


def test_malformed_message_is_reported_and_the_rest_delivered(pipeline: Pipeline) -> None:
    with Receiver([Reply(200)]) as receiver:
        instance_id = make_instance(pipeline.stack, receiver.url)
        good = make_message(instance_id)
        pipeline.send(good)
        bad = json.loads(good.to_json())
        del bad["eventId"]
        pipeline.sqs.send_message(QueueUrl=pipeline.stack.events_queue_url, MessageBody=json.dumps(bad))
        messages = pipeline.receive(2, wait=2)
        assert len(messages) == 2
        result = pipeline.invoke(messages)
        bad_id = next(m["MessageId"] for m in messages if "eventId" not in json.loads(m["Body"]))
        # SQS keeps it (and its redrive policy moves it to the DLQ in the end): never lost.
        assert result == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
        assert receiver.bodies() == [good.body.encode()]
