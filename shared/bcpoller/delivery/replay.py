"""Send events again: one event, the failed events of an instance in a range, or the DLQ.

A replayed event keeps its eventId (receivers dedupe on it); its log status goes back to
queued, which makes it claimable again (delivery does not take it for a duplicate). The
message is rebuilt from the log, whose entry holds the exact body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from bcpoller.delivery.event_log import EventLog
from bcpoller.delivery.ports import Queue
from bcpoller.messages import QueueMessage

logger = Logger(child=True)
_DLQ_BATCH = 10
_ENQUEUE_CHUNK = 10


def _utcnow() -> datetime:
    return datetime.now(UTC)


# Messages one redrive call reads at most: 50 receives and their sends and deletes fit
# well inside the API function's 29 s.
REDRIVE_MAX_SCAN = 500


@dataclass(frozen=True)
class Redriven:
    moved: int  # this instance's messages sent back to the events queue
    left: int  # this instance's messages still in the DLQ (0 when complete)
    scanned: int  # DLQ messages read
    complete: bool  # the whole DLQ was read


def _dead_letter(body: str) -> QueueMessage | None:
    try:
        return QueueMessage.model_validate_json(body)
    except ValidationError as exc:
        logger.warning("DLQ message is not a queue message: left in the DLQ", extra={"error": str(exc)[:300]})
        return None


class ReplayError(ValueError):
    """The log item cannot be turned back into a message (names the field)."""


class Replayer:
    def __init__(self, event_log: EventLog, queue: Queue, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._log = event_log
        self._queue = queue
        self._clock = clock

    def retry(self, instance_id: str, event_id: str) -> bool:
        """Re-enqueue one event; False when the log has no such event."""
        item = self._log.raw(instance_id, event_id)
        if item is None:
            return False
        return self._requeue([item]) == 1

    def replay_failed(
        self, instance_id: str, *, since: datetime | str | None = None, until: datetime | str | None = None
    ) -> int:
        """Re-enqueue every failed event of the instance created in [since, until]."""
        count = 0
        chunk: list[dict[str, Any]] = []
        for item in self._log.items_with_status(instance_id, status="failed", since=since, until=until):
            chunk.append(item)
            if len(chunk) == _ENQUEUE_CHUNK:
                count += self._requeue(chunk)
                chunk = []
        return count + self._requeue(chunk)

    def redrive_dlq(self, max_messages: int = 100) -> int:
        """Move up to ``max_messages`` DLQ messages, of every instance, back to the events
        queue (the operator's command). A message that is not a valid queue message stays
        in the DLQ (reported, never lost)."""
        moved = 0
        per_instance: dict[str, int] = {}
        while moved < max_messages:
            received = self._queue.receive_dlq(min(_DLQ_BATCH, max_messages - moved))
            if not received:
                break
            bodies: list[str] = []
            handles: list[str] = []
            for handle, body in received:
                message = _dead_letter(body)
                if message is None:
                    continue
                self._log.mark_queued(
                    message.instance_id, message.event_id, now=self._clock(), unless_delivered=True
                )
                bodies.append(body)
                handles.append(handle)
                per_instance[message.instance_id] = per_instance.get(message.instance_id, 0) + 1
            if bodies:
                # Send before delete: a crash in between duplicates a message (delivery is
                # idempotent), the reverse order could lose one.
                self._queue.enqueue(bodies)
                self._queue.delete_dlq(handles)
                moved += len(bodies)
        for instance_id, n in per_instance.items():
            self._lower_dead_letters(instance_id, n)
        return moved

    def redrive_instance(self, instance_id: str, *, max_scan: int = REDRIVE_MAX_SCAN) -> Redriven:
        """Move this instance's DLQ messages back to the events queue; every other
        message the scan receives is made visible again at once when it ends (they are
        held invisible meanwhile, so the scan never reads one twice).

        Idempotent: a second call finds nothing of the instance left to move, and a
        message whose event was delivered meanwhile (a retry from the page, say) keeps
        the event ``delivered``, so the delivery claim drops the copy unsent. The scan
        reads at most ``max_scan`` messages (the API's 29 s): ``complete`` is False when it
        stopped there, and then ``left`` is the counter's estimate."""
        moved = 0
        scanned = 0
        complete = False
        held: list[str] = []
        try:
            while scanned < max_scan:
                received = self._queue.receive_dlq(min(_DLQ_BATCH, max_scan - scanned))
                if not received:
                    complete = True
                    break
                scanned += len(received)
                bodies: list[str] = []
                handles: list[str] = []
                for handle, body in received:
                    message = _dead_letter(body)
                    if message is None or message.instance_id != instance_id:
                        held.append(handle)
                        continue
                    self._log.mark_queued(
                        instance_id, message.event_id, now=self._clock(), unless_delivered=True
                    )
                    bodies.append(body)
                    handles.append(handle)
                if bodies:
                    self._queue.enqueue(bodies)  # send before delete, as above
                    self._queue.delete_dlq(handles)
                    moved += len(bodies)
        finally:
            if held:
                self._queue.release_dlq(held)
        if complete:
            # The whole DLQ was read: nothing of this instance is left in it, whatever the
            # counter said (messages the SQS redrive policy moved were never counted,
            # expired ones never uncounted).
            self._log.set_dead_letters(instance_id, 0)
            left = 0
        else:
            left = self._lower_dead_letters(instance_id, moved)
        return Redriven(moved=moved, left=left, scanned=scanned, complete=complete)

    def _lower_dead_letters(self, instance_id: str, n: int) -> int:
        if not n:
            return max(0, self._log.add_dead_letters(instance_id, 0))
        left = self._log.add_dead_letters(instance_id, -n)
        if left < 0:
            # Moved more than were counted (the redrive policy's backstop moves are not).
            self._log.set_dead_letters(instance_id, 0)
        return max(0, left)

    def _requeue(self, items: list[dict[str, Any]]) -> int:
        now = self._clock()
        messages = [_message_of(item, now) for item in items]
        for message in messages:
            self._log.mark_queued(message.instance_id, message.event_id, now=now)
        if messages:
            self._queue.enqueue([m.to_json() for m in messages])
        return len(messages)


def _message_of(item: dict[str, Any], now: datetime) -> QueueMessage:
    data = {
        "instanceId": item.get("instanceId"),
        "eventId": item.get("eventId"),
        "eventType": item.get("eventType"),
        "objectType": item.get("objectType"),
        "objectId": item.get("objectId"),
        "changedAt": item.get("changedAt"),
        "emittedAt": item.get("createdAt") or now,
        "body": item.get("body"),
        "bodyRef": item.get("bodyRef"),
    }
    try:
        return QueueMessage.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'item'}: {e['msg']}" for e in exc.errors())
        raise ReplayError(f"event {item.get('eventId')!r} cannot be replayed: {problems}") from None
