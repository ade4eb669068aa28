"""What Lambda's SQS event source mapping does for DeliveryFunction, on moto's SQS.

Each worker receives up to a batch (10) from EventsQueue, waiting up to the batching
window (1 s) to fill it, builds the SQS event exactly as Lambda does, calls the handler
and, with ``ReportBatchItemFailures``, deletes every message except the ones the handler
listed. The failures stay in the queue with whatever visibility the handler gave them;
a handler that raises, or answers an identifier that is not in the batch, fails the
whole batch (nothing deleted), as AWS does. Moving a message to the DLQ past the redrive
policy's maxReceiveCount is moto's job on receive, as it is SQS's.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("local.worker_loop")

Invoke = Callable[[dict[str, Any]], Any]


def _lambda_message_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in attrs.items():
        item: dict[str, Any] = {
            "stringListValues": list(value.get("StringListValues", [])),
            "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            item["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            item["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        out[name] = item
    return out


def build_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The Lambda event for a batch of ReceiveMessage results."""
    records = []
    for msg in messages:
        attributes = dict(msg.get("Attributes", {}))
        record: dict[str, Any] = {
            "messageId": msg["MessageId"],
            "receiptHandle": msg["ReceiptHandle"],
            "body": msg["Body"],
            "attributes": attributes,
            "messageAttributes": _lambda_message_attributes(msg.get("MessageAttributes", {})),
            "md5OfBody": msg["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if msg.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = msg["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def failed_ids(result: Any, batch_ids: set[str]) -> set[str]:
    """Message ids to keep, per ReportBatchItemFailures (a bad answer keeps the batch)."""
    if result is None:
        return set()
    if not isinstance(result, dict):
        return set(batch_ids)
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(batch_ids)
    keep: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or ident not in batch_ids:
            return set(batch_ids)
        keep.add(ident)
    return keep


class WorkerLoop:
    """``workers`` threads polling ``queue_url`` and invoking ``invoke`` with SQS events."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        invoke: Invoke,
        *,
        workers: int = 2,
        batch_size: int = 10,
        batching_window: float = 1.0,
        wait_seconds: int = 1,
        report_batch_item_failures: bool = True,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.invoke = invoke
        self.workers = workers
        self.batch_size = batch_size
        self.batching_window = batching_window
        self.wait_seconds = wait_seconds
        self.report_batch_item_failures = report_batch_item_failures
        attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.queue_arn: str = attrs["QueueArn"]
        self.region: str = self.queue_arn.split(":")[3]
        self._stop = threading.Event()
        # Like an event source mapping's Enabled flag: off, nothing new is received.
        self.enabled = threading.Event()
        self.enabled.set()
        self.in_flight = 0  # workers inside a receive or a batch: their messages are not settled
        self._threads: list[threading.Thread] = []
        self.batches = 0
        self.deleted = 0
        self.kept = 0
        self._count_lock = threading.Lock()

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        resp = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(resp.get("Messages", []))

    def receive_batch(self) -> list[dict[str, Any]]:
        batch = self._receive(self.batch_size, self.wait_seconds)
        if not batch:
            return batch
        deadline = time.monotonic() + self.batching_window
        while len(batch) < self.batch_size and time.monotonic() < deadline and not self._stop.is_set():
            more = self._receive(self.batch_size - len(batch), 0)
            if not more:
                time.sleep(0.05)
            batch.extend(more)
        return batch

    def process(self, batch: list[dict[str, Any]]) -> set[str]:
        """Invoke on one batch and settle it; the ids left in the queue."""
        event = build_sqs_event(batch, self.queue_arn, self.region)
        ids = {m["MessageId"] for m in batch}
        try:
            result = self.invoke(event)
        except Exception:
            log.exception("delivery handler raised: the whole batch stays in the queue")
            keep = set(ids)
        else:
            # Without ReportBatchItemFailures a returning handler settles the whole batch.
            keep = failed_ids(result, ids) if self.report_batch_item_failures else set()
        done = [m for m in batch if m["MessageId"] not in keep]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            resp = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in resp.get("Failed", []):
                log.warning("delete failed for a delivered message: %s", failure.get("Message"))
        with self._count_lock:
            self.batches += 1
            self.deleted += len(done)
            self.kept += len(keep)
        return keep

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.enabled.is_set():
                self._stop.wait(0.1)
                continue
            try:
                with self._count_lock:
                    self.in_flight += 1
                try:
                    batch = self.receive_batch()
                    if batch:
                        self.process(batch)
                finally:
                    with self._count_lock:
                        self.in_flight -= 1
            except Exception:
                log.exception("worker loop error; retrying")
                self._stop.wait(1.0)

    def start(self) -> WorkerLoop:
        for i in range(self.workers):
            thread = threading.Thread(target=self._run, name=f"sqs-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 35.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
