"""The batch wiring (Powertools parser + processor), queue chunking and replay, with fakes."""

from __future__ import annotations

import copy
import json
from contextlib import asynccontextmanager
from typing import Any

import pytest
from bcpoller.adapters.event_queues import EventQueues, QueueError
from bcpoller.delivery.batch import process_batch, run
from bcpoller.delivery.deliverer import Disposition
from bcpoller.delivery.replay import Replayer, ReplayError
from bcpoller.messages import QueueMessage

from tests.conftest import load_event


class FakeDeliverer:
    def __init__(self, retry_ids: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.seen: list[tuple[str, int, str]] = []
        self.retry_ids = retry_ids
        self.flushed = 0

    async def deliver(self, message: QueueMessage, *, receive_count: int, receipt_handle: str) -> Disposition:
        self.seen.append((message.event_id, receive_count, receipt_handle))
        return Disposition.RETRY if message.event_id in self.retry_ids else Disposition.DONE

    def expect(self, records: int) -> None:
        self.expected = records

    async def flush_counts(self) -> None:
        self.flushed = len(self.seen)


def opener(deliverer: FakeDeliverer) -> Any:
    @asynccontextmanager
    async def open_deliverer() -> Any:
        yield deliverer

    return open_deliverer


def test_sample_event_parses_and_reports_retries() -> None:
    event = load_event("delivery_sqs_batch.json")
    bodies = [json.loads(r["body"]) for r in event["Records"]]
    deliverer = FakeDeliverer({bodies[1]["eventId"]})
    result = run(process_batch(event, None, opener(deliverer)))
    assert [s[0] for s in deliverer.seen] == [b["eventId"] for b in bodies]
    assert [s[1] for s in deliverer.seen] == [1, 2]  # ApproximateReceiveCount
    assert deliverer.flushed == 2  # the counters once, after every record
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}


def test_every_record_retried_is_not_an_exception() -> None:
    event = load_event("delivery_sqs_batch.json")
    ids = {json.loads(r["body"])["eventId"] for r in event["Records"]}
    result = run(process_batch(event, None, opener(FakeDeliverer(ids))))
    assert len(result["batchItemFailures"]) == 2


def test_invalid_body_is_a_batch_item_failure_not_a_crash() -> None:
    event = copy.deepcopy(load_event("delivery_sqs_batch.json"))
    event["Records"][0]["body"] = json.dumps({"v": 1, "instanceId": "x"})
    deliverer = FakeDeliverer()
    result = run(process_batch(event, None, opener(deliverer)))
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert len(deliverer.seen) == 1


class FakeSqs:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.fail = fail

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.batches.append(Entries)
        return {"Failed": [{"Id": "0", "Code": "InternalError"}]} if self.fail else {}


def test_enqueue_chunks_by_count_and_bytes() -> None:
    sqs = FakeSqs()
    queues = EventQueues(sqs, events_queue_url="q", dlq_url="d")
    assert queues.enqueue(["x"] * 23) == 23
    assert [len(b) for b in sqs.batches] == [10, 10, 3]
    sqs.batches.clear()
    big = "y" * (100 * 1024)
    queues.enqueue([big] * 5)
    assert [len(b) for b in sqs.batches] == [2, 2, 1]


def test_enqueue_failure_names_the_count_and_code() -> None:
    queues = EventQueues(FakeSqs(fail=True), events_queue_url="q", dlq_url="d")
    with pytest.raises(QueueError, match="refused 1 of 2 messages: InternalError"):
        queues.enqueue(["a", "b"])


class FakeEventLog:
    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = items
        self.queued: list[str] = []

    def raw(self, instance_id: str, event_id: str) -> dict[str, Any] | None:
        return self.items.get(event_id)

    def items_with_status(self, instance_id: str, **kw: Any) -> list[dict[str, Any]]:
        return [i for i in self.items.values() if i["status"] == kw["status"]]

    def mark_queued(self, instance_id: str, event_id: str, **kw: Any) -> bool:
        self.queued.append(event_id)
        return True

    dead: dict[str, int] = {}

    def add_dead_letters(self, instance_id: str, n: int) -> int:
        self.dead[instance_id] = self.dead.get(instance_id, 0) + n
        return self.dead[instance_id]

    def set_dead_letters(self, instance_id: str, count: int) -> None:
        self.dead[instance_id] = count


class FakeQueue:
    def __init__(self, dlq: list[str] | None = None) -> None:
        self.sent: list[str] = []
        self.dlq = [(f"rh{i}", body) for i, body in enumerate(dlq or [])]
        self.deleted: list[str] = []

    def enqueue(self, bodies: list[str]) -> int:
        self.sent.extend(bodies)
        return len(bodies)

    def receive_dlq(self, max_messages: int) -> list[tuple[str, str]]:
        batch, self.dlq = self.dlq[:max_messages], self.dlq[max_messages:]
        return batch

    def delete_dlq(self, handles: list[str]) -> None:
        self.deleted.extend(handles)

    released: list[str] = []

    def release_dlq(self, handles: list[str]) -> None:
        self.released = [*self.released, *handles]


def item(event_id: str, status: str, **extra: Any) -> dict[str, Any]:
    base = {
        "eventId": event_id,
        "instanceId": "i-1",
        "eventType": "CREATED",
        "objectType": "orders",
        "objectId": "7",
        "changedAt": "2026-11-28T10:00:00Z",
        "createdAt": "2026-11-28T10:00:05.000Z",
        "status": status,
        "body": '{"message":{}}',
    }
    base.update(extra)
    return base


def test_retry_rebuilds_the_message_and_requeues_it() -> None:
    log = FakeEventLog({"e-1": item("e-1", "failed")})
    queue = FakeQueue()
    replayer = Replayer(log, queue)  # type: ignore[arg-type]
    assert replayer.retry("i-1", "e-1") is True
    assert log.queued == ["e-1"]
    sent = QueueMessage.model_validate_json(queue.sent[0])
    assert sent.event_id == "e-1" and sent.body == '{"message":{}}' and sent.object_id == "7"
    assert replayer.retry("i-1", "missing") is False


def test_replay_failed_only_takes_failed_events() -> None:
    log = FakeEventLog({"a": item("a", "failed"), "b": item("b", "delivered"), "c": item("c", "failed")})
    queue = FakeQueue()
    assert Replayer(log, queue).replay_failed("i-1") == 2  # type: ignore[arg-type]
    assert sorted(QueueMessage.model_validate_json(b).event_id for b in queue.sent) == ["a", "c"]


def test_replay_of_an_item_without_its_body_names_the_problem() -> None:
    broken = item("e-1", "failed")
    del broken["body"]
    with pytest.raises(
        ReplayError, match=r"event 'e-1' cannot be replayed: .*exactly one of body and bodyRef"
    ):
        Replayer(FakeEventLog({"e-1": broken}), FakeQueue()).retry("i-1", "e-1")  # type: ignore[arg-type]


def test_redrive_moves_valid_messages_and_leaves_invalid_ones() -> None:
    good = QueueMessage.model_validate(item("e-1", "failed", emittedAt="2026-11-28T10:00:05Z")).to_json()
    queue = FakeQueue([good, "not json", good])
    log = FakeEventLog({})
    assert Replayer(log, queue).redrive_dlq(max_messages=10) == 2  # type: ignore[arg-type]
    assert queue.sent == [good, good]
    assert queue.deleted == ["rh0", "rh2"]
    assert log.queued == ["e-1", "e-1"]


def test_redrive_stops_at_max_messages() -> None:
    good = QueueMessage.model_validate(item("e-1", "failed", emittedAt="2026-11-28T10:00:05Z")).to_json()
    queue = FakeQueue([good] * 25)
    assert Replayer(FakeEventLog({}), queue).redrive_dlq(max_messages=12) == 12  # type: ignore[arg-type]
    assert len(queue.dlq) == 13


def test_a_redrive_that_stops_at_its_scan_limit_says_so_and_counts_what_is_left() -> None:
    def message(instance_id: str, n: int) -> str:
        return QueueMessage.model_validate(
            item(f"e-{n}", "failed", instanceId=instance_id, emittedAt="2026-11-28T10:00:05Z")
        ).to_json()

    bodies = [message("i-1" if n % 2 else "i-2", n) for n in range(30)]
    queue = FakeQueue(bodies)
    log = FakeEventLog({})
    log.dead = {"i-1": 15, "i-2": 15}
    done = Replayer(log, queue).redrive_instance("i-1", max_scan=20)  # type: ignore[arg-type]
    assert (done.moved, done.scanned, done.complete, done.left) == (10, 20, False, 5)
    assert log.dead["i-1"] == 5 and log.dead["i-2"] == 15
    assert len(queue.released) == 10 and set(queue.released).isdisjoint(queue.deleted)
    assert {QueueMessage.model_validate_json(b).instance_id for b in queue.sent} == {"i-1"}

    rest = Replayer(log, queue).redrive_instance("i-1")  # type: ignore[arg-type]
    assert (rest.moved, rest.complete, rest.left) == (5, True, 0) and log.dead["i-1"] == 0
