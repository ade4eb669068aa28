"""The per-event delivery log: what happened to each event, and its body for replay.

Status flow: queued (replay) -> delivering -> delivered | retrying -> ... | failed.
Each attempt is {at, statusCode, latencyMs, error}; error is short and never holds a
secret (no URL, no headers, no response body).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bcpoller import keys
from bcpoller.delivery.ports import EventLogStore
from bcpoller.dynamo_values import plain
from bcpoller.messages import QueueMessage, iso_utc

Status = Literal["queued", "delivering", "delivered", "retrying", "failed"]
STATUSES: tuple[str, ...] = ("queued", "delivering", "delivered", "retrying", "failed")
MAX_LIMIT = 200
_HIDDEN = {keys.PK, keys.SK, keys.GSI1_PK, keys.GSI1_SK}


class EventLogError(ValueError):
    """A bad argument of a read: names the field and the problem."""


def log_time(moment: datetime) -> str:
    """Fixed-width UTC time (milliseconds), so that times sort as strings in gsi1sk."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every instant in this system carries a zone")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _bound(value: datetime | str | None, field: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise EventLogError(f"{field}: not an ISO 8601 date-time: {text[:40]!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return log_time(value)


def _encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(plain(key), sort_keys=True).encode()).decode()


def _decode_token(token: str, instance_id: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise EventLogError("next_token: not a token this API returned") from None
    if not isinstance(key, dict) or key.get(keys.GSI1_PK) != keys.events_gsi_pk(instance_id):
        raise EventLogError("next_token: not a token of this instance's event log")
    return key


class EventLog:
    def __init__(self, store: EventLogStore, *, retention_days: int = 7) -> None:
        self.store = store
        self.retention_days = retention_days

    # -- reads (the API uses these) -------------------------------------------------

    def list(
        self,
        instance_id: str,
        *,
        status: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; entries carry attempts but not the body (get() has it)."""
        if status is not None and status not in STATUSES:
            raise EventLogError(f"status: must be one of {', '.join(STATUSES)}, got {status!r}")
        if not 1 <= limit <= MAX_LIMIT:
            raise EventLogError(f"limit: must be between 1 and {MAX_LIMIT}, got {limit}")
        start = _decode_token(next_token, instance_id) if next_token else None
        items, last = self.store.query(
            instance_id,
            since=_bound(since, "since"),
            until=_bound(until, "until"),
            status=status,
            limit=limit,
            start_key=start,
        )
        entries = [self._entry(item, with_body=False) for item in items]
        return entries, (_encode_token(last) if last else None)

    def get(self, instance_id: str, event_id: str) -> dict[str, Any] | None:
        item = self.store.get(instance_id, event_id)
        return self._entry(item, with_body=True) if item else None

    def counts_since(self, instance_id: str, since: datetime | str) -> dict[str, int]:
        """Delivered and failed events among those created since ``since``."""
        bound = _bound(since, "since")
        counts = {"delivered": 0, "failed": 0}
        start: dict[str, Any] | None = None
        while True:
            items, start = self.store.query(
                instance_id,
                since=bound,
                until=None,
                status=None,
                limit=1000,
                start_key=start,
                attributes=["status"],
            )
            for item in items:
                if item.get("status") in counts:
                    counts[item["status"]] += 1
            if start is None:
                return counts

    def items_with_status(
        self, instance_id: str, *, status: str, since: datetime | str | None, until: datetime | str | None
    ) -> Iterator[dict[str, Any]]:
        """Every stored item with the status in the range, oldest first, page by page
        (replay of a large backlog does not hold it all in memory)."""
        start: dict[str, Any] | None = None
        low, high = _bound(since, "since"), _bound(until, "until")
        while True:
            items, start = self.store.query(
                instance_id,
                since=low,
                until=high,
                status=status,
                limit=100,
                start_key=start,
                newest_first=False,
            )
            yield from items
            if start is None:
                return

    # -- writes (delivery and replay) -----------------------------------------------

    def expires_at(self, now: datetime) -> int:
        return int((now + timedelta(days=self.retention_days)).timestamp())

    def start_attempt(
        self,
        message: QueueMessage,
        *,
        now: datetime,
        status: Status = "delivering",
        fields: dict[str, Any] | None = None,
        first_attempt: bool = False,
    ) -> None:
        created = log_time(message.emitted_at)
        described: dict[str, Any] = {
            "eventId": message.event_id,
            "instanceId": message.instance_id,
            "eventType": message.event_type,
            "objectType": message.object_type,
            "objectId": message.object_id,
            "changedAt": iso_utc(message.changed_at),
            "createdAt": created,
            keys.GSI1_SK: f"{created}#{message.event_id}",
            keys.TTL: self.expires_at(now),
        }
        if message.body is not None:
            described["body"] = message.body
        else:
            described["bodyRef"] = message.body_ref
        self.store.start_attempt(
            message.instance_id,
            message.event_id,
            new_fields=described,
            now=log_time(now),
            status=status,
            fields=fields,
            likely_new=first_attempt,
        )

    def finish_attempt(
        self,
        instance_id: str,
        event_id: str,
        *,
        status: Status,
        attempt: dict[str, Any],
        now: datetime,
        next_attempt_at: datetime | None = None,
        reason: str | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "updatedAt": log_time(now),
            "nextAttemptAt": log_time(next_attempt_at) if next_attempt_at else None,
            "lastError": reason or attempt.get("error"),
        }
        if status == "delivered":
            fields["deliveredAt"] = log_time(now)
            fields["lastError"] = None
        self.store.finish_attempt(instance_id, event_id, status=status, attempt=attempt, fields=fields)

    def fail_without_attempt(self, message: QueueMessage, *, reason: str, now: datetime) -> None:
        """An event that cannot be sent at all (instance gone, notifications off): the
        item is made if needed so the reason is visible in the log."""
        self.start_attempt(
            message, now=now, status="failed", fields={"lastError": reason, "nextAttemptAt": None}
        )

    def confirm_delivered(self, instance_id: str, event_id: str, *, now: datetime) -> None:
        """A duplicate of a delivered event: repair the log if the crash that caused the
        duplicate happened between the idempotency record and the log write."""
        self.store.set_status(
            instance_id,
            event_id,
            status="delivered",
            fields={"updatedAt": log_time(now)},
            only_if="delivering",
        )

    def mark_queued(self, instance_id: str, event_id: str, *, now: datetime) -> bool:
        return self.store.set_status(
            instance_id,
            event_id,
            status="queued",
            fields={"updatedAt": log_time(now), "nextAttemptAt": None, keys.TTL: self.expires_at(now)},
        )

    def reset_idempotency(self, event_id: str) -> None:
        self.store.reset_idempotency(event_id)

    def raw(self, instance_id: str, event_id: str) -> dict[str, Any] | None:
        return self.store.get(instance_id, event_id)

    @staticmethod
    def _entry(item: dict[str, Any], *, with_body: bool) -> dict[str, Any]:
        entry = {k: plain(v) for k, v in item.items() if k not in _HIDDEN}
        if not with_body:
            entry.pop("body", None)
        entry["attempts"] = entry.get("attempts") or []
        entry["attemptCount"] = len(entry["attempts"])
        return entry
