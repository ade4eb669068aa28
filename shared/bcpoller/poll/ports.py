"""What the poll engine needs from the outside world, as Protocols.

The engine never imports boto3 or httpx: the handler passes the real adapters
(``adapters.poll_table``, ``adapters.event_queue``, ``adapters.kms_crypto`` and the
BigCommerce connector), unit tests pass fakes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from bcpoller.instances import StoredInstance
from bcpoller.poll.cursor import CursorState
from bcpoller.poll.sweep import SweepStore


class PageLike(Protocol):
    @property
    def records(self) -> list[dict[str, Any]]: ...

    @property
    def is_last(self) -> bool: ...

    @property
    def resume(self) -> str | None: ...


class StoreSession(Protocol):
    """An open connection to one store for one poll (``BigCommerceClient``)."""

    requests_made: int

    def store_time(self) -> datetime:
        """The store's clock: the ``Date`` of the latest response when there is one (no
        extra request), otherwise the store's ``/v2/time``."""
        ...

    def iter_pages(self, request: Any, *, page_size: int = 250) -> Iterator[PageLike]: ...

    def iter_keyset_pages(
        self, request: Any, *, page_size: int = 250, after: str | None = None
    ) -> Iterator[PageLike]:
        """Pages in id order after the token ``after``; each page's ``resume`` continues it."""
        ...

    def __enter__(self) -> StoreSession: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class StoreConnector(Protocol):
    def open(self, configuration: dict[str, Any], *, deadline: float) -> StoreSession:
        """A session for the store the (full, secret-bearing) configuration names;
        ``deadline`` is a ``time.monotonic()`` instant no request may wait past."""
        ...


@dataclass(frozen=True)
class LastPoll:
    """The instance's last-poll item as read: what status shows, and the work lease.

    ``report`` is the last poll written (``{start, end, status, reason, resources}``);
    ``work_seq`` counts the polls that did work (took the lease) and is what a lease or
    a report is conditioned on, so a poll whose view is older than another poll's work
    neither works nor reports."""

    report: dict[str, Any] | None = None
    work_seq: int = 0
    lease_until: float | None = None
    # Wake-up (issue 18), only while it is on: {"url", "hooks"} for the periodic hook check.
    wake: dict[str, Any] | None = None


@dataclass(frozen=True)
class PollView:
    """Everything a poll reads from the table, in one request: the instance (None when
    it is gone), its cursors and its last poll."""

    instance: StoredInstance | None
    cursors: dict[str, CursorState] = field(default_factory=dict)
    last: LastPoll = field(default_factory=LastPoll)


class CursorConflict(RuntimeError):
    """A checkpoint's version no longer matches: another poll owns this cursor now."""


class PollStateStore(Protocol):
    """The poller's items in the table: the instance, its cursors and last poll (read
    together), the work lease, oversize bodies."""

    def load(self, instance_id: str) -> PollView: ...

    def take_lease(
        self, instance_id: str, *, owner: str, lease_until: float, now: float, work_seq: int
    ) -> str | None:
        """Take the work lease if nobody holds it and no poll took it since ``work_seq``
        was read; None when taken, otherwise why not."""
        ...

    def checkpoint(
        self, instance_id: str, state: CursorState, *, expected_version: int, stats: dict[str, Any]
    ) -> CursorState:
        """Write ``state`` if the item is still at ``expected_version`` (0 = absent) and its
        cursor is not higher; return it with the new version. Raises CursorConflict."""
        ...

    def put_blob(self, instance_id: str, event_id: str, compressed_body: bytes, *, ttl: int) -> None: ...

    def release(self, instance_id: str, *, owner: str, report: dict[str, Any]) -> None:
        """Write the poll's report and give the lease back (if this poll still holds it)."""
        ...

    def record(self, instance_id: str, *, report: dict[str, Any], work_seq: int, now: float) -> None:
        """Write a lease-less poll's report, unless a poll took the lease since ``work_seq``
        was read or holds it now (its own report is the newer one)."""
        ...

    def mark_auth_failed(self, instance_id: str, *, error: str, version: int) -> None:
        """Stop polling until the credentials change, unless the instance changed since
        ``version`` was read (new credentials must not be marked with the old ones' error)."""
        ...


class QueueSendError(RuntimeError):
    """Some messages could not be queued even after retries; none of their cursors moved."""


class EventQueue(Protocol):
    def send(self, bodies: Sequence[str]) -> None:
        """Queue every body (JSON strings) or raise QueueSendError."""
        ...


class SecretsDecrypter(Protocol):
    def decrypt(self, ciphertext: bytes, instance_id: str) -> dict[str, Any]: ...


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


class _NoMetrics:
    def add_metric(self, name: str, unit: Any, value: float) -> None:
        return None


@dataclass
class PollDeps:
    state: PollStateStore
    queue: EventQueue
    crypto: SecretsDecrypter
    connector: StoreConnector
    # (full configuration) -> the resources to poll; None = bcpoller.poll.plan.plan_resources.
    planner: Callable[[dict[str, Any]], Any] | None = None
    metrics: MetricsSink = field(default_factory=_NoMetrics)
    monotonic: Callable[[], float] = time.monotonic
    new_owner: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    # A quiet poll whose outcome matches the stored one writes nothing; it still rewrites
    # the report once it is this old, so status shows polling is alive.
    heartbeat_s: float = 900.0
    blob_ttl_days: int = 7
    # SQS's limit (256 KiB) minus room for the batch framing; bigger messages go to a BLOB item.
    max_message_bytes: int = 250_000
    # Stop after a checkpoint once less than this is left: one more page (read, send,
    # checkpoint) must fit in what remains.
    reserve_ms: int = 15_000
    # The deletion sweep's items (None: sweeps are skipped), how many id pages one poll
    # may list (the rest waits for the next poll, after its normal reads), and how long a
    # configured minute is (the local stack's --minute scales sweeps like schedules).
    sweeps: SweepStore | None = None
    sweep_pages: int = 40
    seconds_per_minute: float = 60.0
    # (instance, LastPoll.wake) -> None: checks the store's wake-up hooks when due
    # (bcpoller.wakeup.manager.HookKeeper); called only for instances with wake-up on.
    hook_keeper: Callable[[Any, dict[str, Any]], None] | None = None
