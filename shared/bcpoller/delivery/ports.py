"""What the delivery domain needs from the outside world (adapters implement these;
unit tests pass fakes)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from bcpoller.delivery.policy import AttemptResult
from bcpoller.instances import StoredInstance


class Claim(StrEnum):
    NEW = "new"  # nobody sent it yet: go
    DONE = "done"  # already delivered: do not POST again
    IN_PROGRESS = "in_progress"  # another invocation is sending it right now


class Idempotency(Protocol):
    """Powertools idempotency records keyed on eventId."""

    async def claim(self, event_id: str, *, remaining_ms: int) -> Claim: ...

    async def complete(self, event_id: str, result: dict[str, Any]) -> None: ...

    async def release(self, event_id: str) -> None: ...

    def reset(self, event_id: str) -> None: ...


class Sender(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult: ...


class Instances(Protocol):
    def get(self, instance_id: str) -> StoredInstance | None: ...

    def secrets(self, instance: StoredInstance) -> dict[str, Any]: ...

    def turn_off_notifications(self, instance_id: str, reason: str) -> None: ...


class Queue(Protocol):
    def change_visibility(self, receipt_handle: str, seconds: int) -> None: ...

    def send_to_dlq(self, message_body: str, reason: str) -> None: ...

    def enqueue(self, message_bodies: list[str]) -> int: ...

    def receive_dlq(self, max_messages: int) -> list[tuple[str, str]]: ...

    def delete_dlq(self, receipt_handles: list[str]) -> None: ...


class Blobs(Protocol):
    def load_body(self, instance_id: str, body_ref: str) -> str: ...


class EventLogStore(Protocol):
    """Event log items in the table (adapters.event_log_table.EventLogTable)."""

    def start_attempt(
        self,
        instance_id: str,
        event_id: str,
        *,
        new_fields: dict[str, Any],
        now: str,
        status: str = "delivering",
        fields: dict[str, Any] | None = None,
        likely_new: bool = False,
    ) -> None: ...

    def finish_attempt(
        self, instance_id: str, event_id: str, *, status: str, attempt: dict[str, Any], fields: dict[str, Any]
    ) -> None: ...

    def set_status(
        self,
        instance_id: str,
        event_id: str,
        *,
        status: str,
        fields: dict[str, Any],
        only_if: str | None = None,
    ) -> bool: ...

    def get(self, instance_id: str, event_id: str) -> dict[str, Any] | None: ...

    def query(
        self,
        instance_id: str,
        *,
        since: str | None,
        until: str | None,
        status: str | None,
        limit: int,
        start_key: dict[str, Any] | None,
        newest_first: bool = True,
        attributes: list[str] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]: ...

    def reset_idempotency(self, event_id: str) -> None: ...


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...
