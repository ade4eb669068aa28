"""In-memory stand-ins for the poll engine's ports: a store that pages like BigCommerce
(ascending by updated time, ties by id, offset pages), a table with versioned cursors
and an expiring lease, and a queue that records what it was sent."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from bcpoller.connector.errors import AuthenticationError, StoreError
from bcpoller.instances import StoredInstance
from bcpoller.poll.cursor import CursorState
from bcpoller.poll.plan import Planning, ResourcePlan
from bcpoller.poll.ports import CursorConflict, LastPoll, PollDeps, PollView, QueueSendError

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class Page:
    records: list[dict[str, Any]]
    page_number: int
    is_last: bool
    resume: str | None = None


class FakeStore:
    """Records with second-granular times; ``hook(page_number)`` runs before each page is
    served, so tests can land writes between the reads of one poll."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now
        self.records: dict[int, dict[str, Any]] = {}
        self.history: list[tuple[str, datetime, str]] = []  # (id, updated, CREATED|UPDATED)
        self.hook: Callable[[int], None] | None = None
        self.auth_fails = False
        self.fail_on_request: int | None = None  # the n-th page request answers 500
        self.requests = 0
        # Like the connector's MAX_PAGES: a dated read stops after this many pages without
        # a last page (the end not claimed).
        self.page_cap: int | None = None

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)

    def create(self, oid: int, **extra: Any) -> None:
        at = self.now.replace(microsecond=0)
        self.records[oid] = {"id": oid, "date_created": at, "date_modified": at, **extra}
        self.history.append((str(oid), at, "CREATED"))

    def update(self, oid: int, **extra: Any) -> None:
        at = self.now.replace(microsecond=0)
        self.records[oid] = {**self.records[oid], "date_modified": at, **extra}
        self.history.append((str(oid), at, "UPDATED"))

    def delete(self, oid: int) -> None:
        del self.records[oid]

    def latest(self) -> dict[str, datetime]:
        return {str(r["id"]): r["date_modified"] for r in self.records.values()}

    def pages(self, lower: datetime | None, page_size: int) -> Iterator[Page]:
        number = 1
        while True:
            if self.hook:
                self.hook(number)
            self.requests += 1
            if self.fail_on_request == self.requests:
                raise StoreError("Internal Server Error after 6 attempts", status=500, path="/v2/orders")
            if self.auth_fails:
                raise AuthenticationError("invalid credentials", status=401, path="/v2/orders")
            rows = sorted(
                (r for r in self.records.values() if lower is None or r["date_modified"] >= lower),
                key=lambda r: (r["date_modified"], r["id"]),
            )
            chunk = rows[(number - 1) * page_size : number * page_size]
            last = len(chunk) < page_size or number * page_size >= len(rows)
            yield Page([dict(r) for r in chunk], number, last)
            if last or number == self.page_cap:
                return
            number += 1

    def keyset_pages(self, lower: datetime | None, page_size: int, after: str | None) -> Iterator[Page]:
        """Id order from ``after`` on, each page a fresh query (like ``min_id`` / ``id:greater``)."""
        number, token = 1, after
        while True:
            if self.hook:
                self.hook(number)
            self.requests += 1
            if self.fail_on_request == self.requests:
                raise StoreError("Internal Server Error after 6 attempts", status=500, path="/v2/orders")
            if self.auth_fails:
                raise AuthenticationError("invalid credentials", status=401, path="/v2/orders")
            rows = sorted(
                (
                    r
                    for r in self.records.values()
                    if (lower is None or r["date_modified"] >= lower)
                    and (token is None or r["id"] > int(token))
                ),
                key=lambda r: r["id"],
            )
            chunk = rows[:page_size]
            last = len(rows) <= page_size
            token = str(chunk[-1]["id"]) if chunk else token
            yield Page([dict(r) for r in chunk], number, last, token)
            if last:
                return
            number += 1


class FakeSession:
    def __init__(self, store: FakeStore, skew: timedelta = timedelta(0)) -> None:
        self.store = store
        self.requests_made = 0
        self.skew = skew
        self.date: datetime | None = None

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def store_time(self) -> datetime:
        # Like the real client: the Date of the latest page, else one /v2/time request.
        if self.date is not None:
            return self.date
        self.requests_made += 1
        if self.store.auth_fails:
            raise AuthenticationError("invalid credentials", status=401, path="/v2/time")
        return self.store.now.replace(microsecond=0)

    def iter_pages(self, request: Any, *, page_size: int = 250) -> Iterator[Page]:
        for page in self.store.pages(request, page_size):
            self.requests_made += 1
            self.date = self.store.now.replace(microsecond=0)
            yield page

    def iter_keyset_pages(
        self, request: Any, *, page_size: int = 250, after: str | None = None
    ) -> Iterator[Page]:
        for page in self.store.keyset_pages(request, page_size, after):
            self.requests_made += 1
            self.date = self.store.now.replace(microsecond=0)
            yield page


class FakeConnector:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.opened: list[dict[str, Any]] = []

    def open(self, configuration: dict[str, Any], *, deadline: float) -> FakeSession:
        self.opened.append(configuration)
        return FakeSession(self.store)


class FakeTable:
    """Instance item, versioned cursor items, and the last-poll item with its work lease
    and work counter; asserts monotonic cursors."""

    def __init__(self, instance: StoredInstance) -> None:
        self.instance: StoredInstance | None = instance
        self.cursors: dict[str, CursorState] = {}
        self.cursor_stats: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}
        self.last_poll: dict[str, Any] | None = None
        self.lease_owner: str | None = None
        self.lease_until: float | None = None
        self.work_seq = 0
        self.calls: dict[str, int] = {}
        self.before_checkpoint: Callable[[CursorState], None] | None = None
        self.history: dict[str, list[datetime | None]] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def writes(self) -> int:
        return sum(n for name, n in self.calls.items() if name != "load")

    def load(self, instance_id: str) -> PollView:
        self._count("load")
        inst = self.instance if self.instance and self.instance.instance_id == instance_id else None
        last = LastPoll(report=self.last_poll, work_seq=self.work_seq, lease_until=self.lease_until)
        return PollView(instance=inst, cursors=dict(self.cursors), last=last)

    def take_lease(
        self, instance_id: str, *, owner: str, lease_until: float, now: float, work_seq: int
    ) -> str | None:
        self._count("take_lease")
        _own(instance_id)
        if self.lease_until is not None and self.lease_until >= now:
            return "another poll holds the lease"
        if self.work_seq != work_seq:
            return "another poll of this instance worked since this one read its cursors"
        self.lease_owner, self.lease_until = owner, lease_until
        return None

    def release(self, instance_id: str, *, owner: str, report: dict[str, Any]) -> None:
        self._count("release")
        _own(instance_id)
        if self.lease_owner != owner:
            return
        self.lease_owner = self.lease_until = None
        self.work_seq += 1
        self.last_poll = report

    def record(self, instance_id: str, *, report: dict[str, Any], work_seq: int, now: float) -> None:
        self._count("record")
        _own(instance_id)
        if (self.lease_until is None or self.lease_until < now) and self.work_seq == work_seq:
            self.last_poll = report

    def mark_auth_failed(self, instance_id: str, *, error: str, version: int) -> None:
        self._count("mark_auth_failed")
        _own(instance_id)
        assert self.instance is not None
        if self.instance.version == version:
            self.instance = self.instance.model_copy(update={"auth_state": "failed", "auth_error": error})

    def checkpoint(
        self, instance_id: str, state: CursorState, *, expected_version: int, stats: dict[str, Any]
    ) -> CursorState:
        self._count("checkpoint")
        _own(instance_id)
        if self.before_checkpoint:
            self.before_checkpoint(state)
        current = self.cursors.get(state.resource)
        if (current.version if current else 0) != expected_version:
            raise CursorConflict(f"cursor {state.resource} moved")
        if current and current.cursor and state.cursor:
            assert state.cursor >= current.cursor, "a cursor went down"
        written = replace(state, version=expected_version + 1)
        self.cursors[state.resource] = written
        self.cursor_stats[state.resource] = stats
        self.history.setdefault(state.resource, []).append(state.cursor)
        return written

    def put_blob(self, instance_id: str, event_id: str, compressed_body: bytes, *, ttl: int) -> None:
        self._count("put_blob")
        _own(instance_id)
        self.blobs[event_id] = compressed_body


class FakeQueue:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.calls = 0
        self.fail = False
        self.before_send: Callable[[Sequence[str]], None] | None = None

    def send(self, bodies: Sequence[str]) -> None:
        self.calls += 1
        if self.before_send:
            self.before_send(bodies)
        if self.fail:
            raise QueueSendError("3 of 3 events could not be queued after 5 attempts (InternalError)")
        self.messages.extend(json.loads(b) for b in bodies)

    def events(self) -> list[tuple[str, str, str]]:
        """(objectId, changedAt, eventType) of every message sent, in order."""
        return [(m["objectId"], m["changedAt"], m["eventType"]) for m in self.messages]


class FakeCrypto:
    """Decrypts only the instance's own ciphertext under its own id (KMS's encryption
    context): an engine that passed another instance's id or blob would fail here."""

    def __init__(self, ciphertext: bytes = b"ciphertext", instance_id: str = "inst-1") -> None:
        self.calls = 0
        self._ciphertext = ciphertext
        self._instance_id = instance_id

    def decrypt(self, ciphertext: bytes, instance_id: str) -> dict[str, Any]:
        self.calls += 1
        if ciphertext != self._ciphertext or instance_id != self._instance_id:
            raise ValueError(f"InvalidCiphertextException: not {self._instance_id}'s ({instance_id!r})")
        return {"access.token": "tok-secret"}


def _own(instance_id: str) -> None:
    # Every item is keyed by its instance: a write for another (or no) instance would land
    # in someone else's item, or fail as DynamoDB refuses a missing key.
    assert instance_id == "inst-1", f"an item of instance {instance_id!r}"


def _when(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def orders_plan(
    *,
    page_size: int = 250,
    overlap_s: float = 5,
    tolerance_s: float = 0,
    name: str = "orders",
    keyset: bool = True,
) -> ResourcePlan:
    return ResourcePlan(
        name=name,
        build_request=lambda lower: lower,
        read_id=lambda r: str(r["id"]) if r.get("id") is not None else None,
        read_updated=lambda r: _when(r.get("date_modified")),
        read_created=lambda r: _when(r.get("date_created")),
        overlap_s=overlap_s,
        created_tolerance_s=tolerance_s,
        page_size=page_size,
        keyset=keyset,
    )


def snapshot_plan(name: str = "categories") -> ResourcePlan:
    return ResourcePlan(
        name=name,
        build_request=lambda lower: None,
        read_id=lambda r: str(r["id"]),
        read_updated=lambda r: None,
        read_created=lambda r: None,
        snapshot=True,
    )


def make_instance(created: datetime = T0, **update: Any) -> StoredInstance:
    base = StoredInstance.model_validate(
        {
            "instanceId": "inst-1",
            "orgId": "org-1",
            "name": "Store A",
            "configuration": {"store.hash": "abc", "event.notification.enabled": True},
            "secrets": b"ciphertext",
            "eventsEnabled": True,
            "createdDate": created,
            "storeCreatedAt": created,
        }
    )
    return base.model_copy(update=update)


@dataclass
class Harness:
    store: FakeStore
    table: FakeTable
    queue: FakeQueue
    crypto: FakeCrypto
    connector: FakeConnector
    plans: list[ResourcePlan]
    backfill_since: datetime | None = None
    lambda_now: datetime = T0
    remaining: int = 100_000
    deps_overrides: dict[str, Any] = field(default_factory=dict)

    def deps(self) -> PollDeps:
        values: dict[str, Any] = {
            "planner": lambda cfg: Planning(resources=self.plans, backfill_since=self.backfill_since),
            **self.deps_overrides,
        }
        return PollDeps(
            state=self.table, queue=self.queue, crypto=self.crypto, connector=self.connector, **values
        )

    def poll(self, **kwargs: Any) -> Any:
        from bcpoller.poll.engine import poll_instance

        return poll_instance(
            "inst-1",
            self.deps(),
            remaining_ms=lambda: self.remaining,
            now=lambda: self.lambda_now,
            **kwargs,
        )


def harness(
    plans: list[ResourcePlan] | None = None, *, created: datetime = T0, store: FakeStore | None = None
) -> Harness:
    store = store or FakeStore(created)
    return Harness(
        store=store,
        table=FakeTable(make_instance(created)),
        queue=FakeQueue(),
        crypto=FakeCrypto(),
        connector=FakeConnector(store),
        plans=plans or [orders_plan()],
        lambda_now=created,
    )


class FakeSweeps:
    """The deletion sweep's items in memory (state versioned like the cursor items);
    ``before_put`` / ``before_save`` let a test crash a sweep between its steps."""

    def __init__(self) -> None:
        from bcpoller.poll.sweep import SweepState

        self.states: dict[str, SweepState] = {}
        self.parts: dict[tuple[str, int, int], bytes] = {}
        self.calls: dict[str, int] = {}
        self.before_put: Callable[[int], None] | None = None
        self.before_save: Callable[[Any], None] | None = None

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def load_sweep(self, instance_id: str, resource: str) -> Any:
        from bcpoller.poll.sweep import SweepState

        self._count("load_sweep")
        _own(instance_id)
        return self.states.get(resource) or SweepState(resource=resource)

    def save_sweep(self, instance_id: str, state: Any, *, expected_version: int) -> Any:
        self._count("save_sweep")
        _own(instance_id)
        if self.before_save:
            self.before_save(state)
        current = self.states.get(state.resource)
        if (current.version if current else 0) != expected_version:
            raise CursorConflict(f"sweep {state.resource} moved")
        written = replace(state, version=expected_version + 1)
        self.states[state.resource] = written
        return written

    def load_known(self, instance_id: str, resource: str, generation: int) -> list[int]:
        from bcpoller.poll.sweep import decode_ids

        self._count("load_known")
        _own(instance_id)
        ids: set[int] = set()
        for (name, gen, _), blob in self.parts.items():
            if name == resource and gen == generation:
                ids.update(decode_ids(blob))
        return sorted(ids)

    def put_known(
        self, instance_id: str, resource: str, generation: int, part: int, ids: Sequence[int]
    ) -> int:
        from bcpoller.poll.sweep import encode_ids

        self._count("put_known")
        _own(instance_id)
        if self.before_put:
            self.before_put(part)
        blob = encode_ids(ids)
        self.parts[(resource, generation, part)] = blob
        return len(blob)

    def drop_known(self, instance_id: str, resource: str, generation: int, parts: int) -> None:
        self._count("drop_known")
        _own(instance_id)
        for part in range(parts):
            self.parts.pop((resource, generation, part), None)


def sweep_plan(every_minutes: int = 60, *, name: str = "products", **kwargs: Any) -> ResourcePlan:
    """A keyset plan with the deletion sweep on (``is_deleted`` marks an archived record)."""
    return replace(
        orders_plan(name=name, **kwargs),
        sweep_every_minutes=every_minutes,
        build_sweep_request=lambda: None,
        read_deleted=lambda r: r.get("is_deleted") is True,
    )
