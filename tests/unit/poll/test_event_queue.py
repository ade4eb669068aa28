from __future__ import annotations

import threading
from typing import Any

import pytest
from bcpoller.adapters.event_queue import SqsEventQueue, batches
from bcpoller.poll.ports import QueueSendError


class FakeSqs:
    """Fails the listed message bodies a number of times each, then accepts them."""

    def __init__(self, flaky: dict[str, int] | None = None, sender_fault: set[str] | None = None) -> None:
        self.flaky = dict(flaky or {})
        self.sender_fault = sender_fault or set()
        self.calls: list[list[str]] = []
        self.accepted: list[str] = []
        self._lock = threading.Lock()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        assert len(Entries) <= 10
        failed = []
        with self._lock:
            self.calls.append([e["MessageBody"] for e in Entries])
            for e in Entries:
                body = e["MessageBody"]
                if body in self.sender_fault:
                    failed.append({"Id": e["Id"], "SenderFault": True, "Code": "InvalidMessageContents"})
                elif self.flaky.get(body, 0) > 0:
                    self.flaky[body] -= 1
                    failed.append({"Id": e["Id"], "SenderFault": False, "Code": "InternalError"})
                else:
                    self.accepted.append(body)
        return {"Successful": [], "Failed": failed}


def _queue(sqs: FakeSqs, **kw: Any) -> SqsEventQueue:
    return SqsEventQueue(sqs, "https://queue", sleep=lambda s: None, **kw)


def test_batches_hold_at_most_ten_and_256_kib() -> None:
    small = [f"m{i}" for i in range(25)]
    assert [len(b) for b in batches(small)] == [10, 10, 5]
    big = ["x" * 100_000] * 5
    assert [len(b) for b in batches(big)] == [2, 2, 1]


@pytest.mark.parametrize("concurrency", [1, 8])
def test_every_message_is_sent_once_when_all_succeed(concurrency: int) -> None:
    sqs = FakeSqs()
    bodies = [f"m{i}" for i in range(95)]
    _queue(sqs, concurrency=concurrency).send(bodies)
    assert sorted(sqs.accepted) == sorted(bodies)
    assert len(sqs.calls) == 10


def test_only_failed_entries_are_retried() -> None:
    sqs = FakeSqs(flaky={"m3": 2, "m7": 1})
    _queue(sqs, concurrency=1).send([f"m{i}" for i in range(10)])
    assert sorted(sqs.accepted) == sorted(f"m{i}" for i in range(10))
    assert sqs.calls[1] == ["m3", "m7"] and sqs.calls[2] == ["m3"]


def test_persistent_failure_raises_after_the_attempts() -> None:
    sqs = FakeSqs(flaky={"m1": 99})
    with pytest.raises(QueueSendError, match="1 of 2 events could not be queued after 3 attempts"):
        _queue(sqs, max_attempts=3).send(["m0", "m1"])
    assert len(sqs.calls) == 3


def test_sender_fault_is_not_retried() -> None:
    sqs = FakeSqs(sender_fault={"bad"})
    with pytest.raises(QueueSendError, match="InvalidMessageContents"):
        _queue(sqs).send(["ok", "bad"])
    assert len(sqs.calls) == 1


def test_a_failing_batch_among_many_still_raises() -> None:
    sqs = FakeSqs(flaky={"m42": 99})
    with pytest.raises(QueueSendError):
        _queue(sqs, max_attempts=2, concurrency=4).send([f"m{i}" for i in range(100)])
    assert len([b for b in sqs.accepted if b != "m42"]) == 99


def test_an_unreachable_queue_is_a_queue_send_error() -> None:
    from botocore.exceptions import ReadTimeoutError

    class DownSqs:
        def send_message_batch(self, **_: Any) -> dict[str, Any]:
            raise ReadTimeoutError(endpoint_url="https://sqs")

    with pytest.raises(QueueSendError, match="SQS unavailable: ReadTimeoutError"):
        SqsEventQueue(DownSqs(), "https://queue", sleep=lambda s: None).send(["m0"])
