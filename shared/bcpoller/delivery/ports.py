"""What the delivery domain needs from the outside world (adapters implement these;
unit tests pass fakes)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from bcpoller.delivery.policy import AttemptResult
from bcpoller.instances import StoredInstance


class Claim(StrEnum):
    """What the claim on an event's log item answered."""

    NEW = "new"  # nobody sent it yet: go
    DONE = "done"  # already delivered: do not POST again
    IN_PROGRESS = "in_progress"  # another invocation is sending it right now


class Sender(Protocol):
    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout: float | None = None
    ) -> AttemptResult:
        """One POST; ``timeout`` (seconds) bounds the whole attempt, None: the sender's default."""
        ...


class Instances(Protocol):
    def get(self, instance_id: str) -> StoredInstance | None: ...

    def secrets(self, instance: StoredInstance) -> dict[str, Any]: ...

    def cached_secrets(self, instance: StoredInstance) -> dict[str, Any] | None:
        """The secrets when this container already decrypted them, without I/O; else None."""
        ...

    def turn_off_notifications(self, instance_id: str, reason: str) -> None: ...


class Queue(Protocol):
    def change_visibility(self, receipt_handle: str, seconds: int) -> None: ...

    def send_to_dlq(self, message_body: str, reason: str) -> None: ...

    def enqueue(self, message_bodies: list[str]) -> int: ...

    def receive_dlq(self, max_messages: int) -> list[tuple[str, str]]: ...

    def delete_dlq(self, receipt_handles: list[str]) -> None: ...

    def release_dlq(self, receipt_handles: list[str]) -> None:
        """Make these received DLQ messages visible again at once."""
        ...


class Blobs(Protocol):
    def load_body(self, instance_id: str, body_ref: str) -> str: ...


class EventLogStore(Protocol):
    """Event items, log entries and hourly counters (adapters.event_log_table.EventLogTable)."""

    def put_claim(
        self, instance_id: str, event_id: str, *, item: dict[str, Any], lease_until: int
    ) -> bool: ...

    def reclaim(
        self, instance_id: str, event_id: str, *, claims: int, lease_until: int, fields: dict[str, Any]
    ) -> bool: ...

    def finish(
        self,
        instance_id: str,
        event_id: str,
        *,
        status: str,
        attempt: dict[str, Any] | None,
        fields: dict[str, Any],
        item: dict[str, Any] | None = None,
    ) -> None: ...

    def put_entry(
        self,
        instance_id: str,
        created_at: str,
        event_id: str,
        entry: dict[str, Any],
        *,
        only_new: bool = False,
    ) -> None: ...

    def requeue(
        self, instance_id: str, event_id: str, *, fields: dict[str, Any], unless_delivered: bool = False
    ) -> dict[str, Any] | None: ...

    def keep_entry(self, instance_id: str, created_at: str, event_id: str, ttl: int) -> None: ...

    def add_counts(self, instance_id: str, day: str, *, counts: dict[str, int], ttl: int) -> None: ...

    def get(self, instance_id: str, event_id: str) -> dict[str, Any] | None: ...

    def get_entry(
        self, instance_id: str, created_at: str, event_id: str, *, consistent: bool = False
    ) -> dict[str, Any] | None: ...

    def entries(
        self,
        instance_id: str,
        *,
        since: str | None,
        until: str | None,
        limit: int,
        start_key: dict[str, Any] | None,
        newest_first: bool = True,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]: ...

    def get_many(self, instance_id: str, event_ids: list[str]) -> dict[str, dict[str, Any]]: ...

    def counts(self, instance_id: str, days: list[str]) -> list[dict[str, Any]]: ...

    def failed_items(
        self,
        instance_id: str,
        *,
        since: str | None,
        until: str | None,
        limit: int,
        start_key: dict[str, Any] | None,
        newest_first: bool = True,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]: ...

    def object_items(
        self,
        instance_id: str,
        *,
        object_id: str,
        object_type: str | None,
        start_key: dict[str, Any] | None,
        read_limit: int,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]: ...

    def get_entries(self, instance_id: str, refs: list[tuple[str, str]]) -> dict[str, dict[str, Any]]: ...

    def add_dead_letters(self, instance_id: str, n: int) -> int: ...

    def set_dead_letters(self, instance_id: str, count: int) -> None: ...


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...
