"""EventsQueue and its DLQ through SQS: visibility for retries, DLQ moves, re-enqueue."""

from __future__ import annotations

from typing import Any

# SendMessageBatch takes at most 10 messages and 256 KiB in all.
_BATCH_COUNT = 10
_BATCH_BYTES = 256 * 1024


class QueueError(RuntimeError):
    """SQS refused some messages (names how many and why)."""


class EventQueues:
    def __init__(self, sqs: Any, *, events_queue_url: str, dlq_url: str, dlq_wait_seconds: int = 1) -> None:
        self._sqs = sqs
        self._events = events_queue_url
        self._dlq = dlq_url
        self._dlq_wait_seconds = dlq_wait_seconds

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        self._sqs.change_message_visibility(
            QueueUrl=self._events, ReceiptHandle=receipt_handle, VisibilityTimeout=int(seconds)
        )

    def send_to_dlq(self, message_body: str, reason: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._dlq,
            MessageBody=message_body,
            MessageAttributes={
                "failureReason": {"DataType": "String", "StringValue": reason[:1000] or "failed"}
            },
        )

    def enqueue(self, message_bodies: list[str]) -> int:
        for chunk in _chunks(message_bodies):
            entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)]
            failed = self._sqs.send_message_batch(QueueUrl=self._events, Entries=entries).get("Failed", [])
            if failed:
                why = sorted({f.get("Code", "?") for f in failed})
                raise QueueError(
                    f"EventsQueue refused {len(failed)} of {len(entries)} messages: {', '.join(why)}"
                )
        return len(message_bodies)

    def receive_dlq(self, max_messages: int) -> list[tuple[str, str]]:
        response = self._sqs.receive_message(
            QueueUrl=self._dlq,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            # Long polling asks every SQS server: short polling samples some of them and
            # may answer empty while messages wait, which would end a redrive early.
            WaitTimeSeconds=self._dlq_wait_seconds,
            # Long enough to re-send and delete them; a message left behind (invalid)
            # shows up again afterwards.
            VisibilityTimeout=60,
        )
        return [(m["ReceiptHandle"], m["Body"]) for m in response.get("Messages", [])]

    def delete_dlq(self, receipt_handles: list[str]) -> None:
        for start in range(0, len(receipt_handles), _BATCH_COUNT):
            chunk = receipt_handles[start : start + _BATCH_COUNT]
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
            failed = self._sqs.delete_message_batch(QueueUrl=self._dlq, Entries=entries).get("Failed", [])
            if failed:
                raise QueueError(f"DLQ refused to delete {len(failed)} of {len(entries)} messages")

    def release_dlq(self, receipt_handles: list[str]) -> None:
        """Visible again at once: another instance's messages a redrive looked at and left."""
        for start in range(0, len(receipt_handles), _BATCH_COUNT):
            chunk = receipt_handles[start : start + _BATCH_COUNT]
            entries = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)
            ]
            failed = self._sqs.change_message_visibility_batch(QueueUrl=self._dlq, Entries=entries).get(
                "Failed", []
            )
            if failed:
                # They reappear anyway when the receive's visibility timeout ends.
                raise QueueError(f"DLQ refused to release {len(failed)} of {len(entries)} messages")


def _chunks(bodies: list[str]) -> list[list[str]]:
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if current and (len(current) == _BATCH_COUNT or size + length > _BATCH_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(body)
        size += length
    if current:
        chunks.append(current)
    return chunks
