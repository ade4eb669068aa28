"""The per-event delivery log: what happened to each event, and its body for replay.

Status flow: queued (replay) -> delivering -> delivered | retrying -> ... | failed.
Each attempt is {at, statusCode, latencyMs, error}; error is short and never holds a
secret (no URL, no headers, no response body). The latest refusal's answer (first 2 KB
of the receiver's body) is the event's ``lastResponse``, one per event, removed by a
delivery.

The event item is also the delivery's idempotency record: the claim before the POST is
one conditional write on it (refused while another attempt holds a live claim, or once
the event is delivered). The first claim's outcome is written in the log entry, with
the body, in one PutItem: the event item stays ``delivering`` with ``claims`` 1 and the
entry's outcome stands for it (see ``_merge``); later claims record theirs on the event
item. This replaces Powertools' Idempotency
utility, which kept a separate record under one partition key for the whole stack and
cost two more writes per event; its ``@idempotent_function`` cannot wrap a coroutine
either. The body is written once, in the log entry that orders the listing, and never
rewritten by an attempt. Delivered/failed counts go to one counter item per instance
and day (an attribute per hour), so the status reads two small items whatever the
traffic.
"""

from __future__ import annotations

import base64
import contextlib
import json
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bcpoller import keys
from bcpoller.delivery.ports import Claim, EventLogStore
from bcpoller.dynamo_values import plain
from bcpoller.messages import QueueMessage, iso_utc

Status = Literal["queued", "delivering", "delivered", "retrying", "failed"]
STATUSES: tuple[str, ...] = ("queued", "delivering", "delivered", "retrying", "failed")
MAX_LIMIT = 200
_HIDDEN = {keys.PK, keys.SK, keys.GSI1_PK, keys.GSI1_SK, keys.TTL, "claimUntil", "claims", "bodyZ", "_stored"}
# What the first claim's outcome sets, in the log entry.
_OUTCOME = ("status", "updatedAt", "lastError", "nextAttemptAt", "deliveredAt")
_MAX_PAGES = 10
# An object search reads event items in Queries of this many, at most _OBJECT_PAGES per
# call (about 1.5 MB, ~190 RRU eventually consistent), then hands back a token.
_OBJECT_READ = 1000
_OBJECT_PAGES = 5
# A log entry holding more than this is stored compressed: a write costs 1 WRU per KB.
_COMPRESS_OVER = 900
COUNTED = ("delivered", "failed")
_Items = list[dict[str, Any]]  # EventLog.list shadows the builtin in the class body


class EventLogError(ValueError):
    """A bad argument of a read: names the field and the problem."""


def log_time(moment: datetime) -> str:
    """Fixed-width UTC time (milliseconds), so that times sort as strings in sort keys."""
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


def hour_of(moment: datetime) -> str:
    """The counter bucket of an instant: ``yyyy-mm-ddThh`` (UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def _hour_start(hour: str) -> datetime:
    return datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def _hour_rows(first: str, last: str, found: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """One row per hour from ``first`` to ``last`` (hours without outcomes count 0; a
    replay's -1 never shows below 0)."""
    rows = []
    moment, end = _hour_start(first), _hour_start(last)
    while moment <= end:
        counted = found.get(hour_of(moment), {})
        rows.append({"hour": moment, **{s: max(0, counted.get(s, 0)) for s in COUNTED}})
        moment += timedelta(hours=1)
    return rows


def _days_between(first: str, last: str) -> set[str]:
    start = datetime.strptime(first, "%Y-%m-%d")
    days = (datetime.strptime(last, "%Y-%m-%d") - start).days
    return {(start + timedelta(days=n)).strftime("%Y-%m-%d") for n in range(days + 1)}


def _encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(plain(key), sort_keys=True).encode()).decode()


def _decode_token(token: str, instance_id: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise EventLogError("next_token: not a token this API returned") from None
    if not isinstance(key, dict) or key.get(keys.PK) != keys.events_pk(instance_id) or not _token_shape(key):
        raise EventLogError("next_token: not a token of this instance's event log")
    return key


def _token_shape(key: dict[str, Any]) -> bool:
    """A listing's token is a ``LOG#`` key; the failed listing's also holds its index
    key; an object search's is an ``EVENT#`` key. A token is accepted only by its kind."""
    sk = str(key.get(keys.SK, ""))
    if set(key) == {keys.PK, keys.SK}:
        return sk.startswith((keys.LOG_PREFIX, keys.EVENT_PREFIX))
    return set(key) == {keys.PK, keys.SK, keys.GSI1_PK, keys.GSI1_SK} and sk.startswith(keys.EVENT_PREFIX)


@dataclass
class Claimed:
    """A claim's answer. ``first``: the event's first claim, whose outcome is written in
    ``entry`` (the log entry, body included); otherwise ``entry``, when not None, is a
    missing log entry to write while the POST is on its way."""

    claim: Claim
    instance_id: str
    event_id: str
    created_at: str = ""
    entry: dict[str, Any] | None = None
    first: bool = False


def _merge(item: dict[str, Any], entry: dict[str, Any] | None) -> dict[str, Any]:
    """The event as it stands: the event item, or -- while it still shows its first claim
    (``delivering``, ``claims`` 1) and the entry holds that claim's outcome -- the entry's
    outcome. The first claim's attempt is in the entry, later ones in the event item."""
    merged = dict(item)
    entry = entry or {}
    if entry.get("status") and item.get("status") == "delivering" and int(item.get("claims") or 0) == 1:
        for name in _OUTCOME:
            if entry.get(name) is not None:
                merged[name] = entry[name]
            else:
                merged.pop(name, None)
    merged["attempts"] = [*(entry.get("attempts") or []), *(item.get("attempts") or [])]
    return merged


@dataclass
class Tally:
    """Outcomes of one batch per (instance, hour): one counter write each at the end."""

    counts: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)

    def add(self, instance_id: str, moment: datetime, status: str, n: int = 1) -> None:
        row = self.counts.setdefault((instance_id, hour_of(moment)), dict.fromkeys(COUNTED, 0))
        row[status] += n

    def take(self) -> dict[tuple[str, str], dict[str, int]]:
        counts, self.counts = self.counts, {}
        return counts


# -- exact searches (issue 20) ---------------------------------------------------------


def _failed_index_keys(instance_id: str, created_at: str, event_id: str) -> dict[str, str]:
    return {
        keys.GSI1_PK: keys.failed_events_gsi_pk(instance_id),
        keys.GSI1_SK: keys.failed_events_gsi_sk(created_at, event_id),
    }


def _kind(key: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    """The token's key, if it belongs to this kind of listing (one listing's token fed
    to another would start a Query outside its range)."""
    if key is None:
        return None
    sk = str(key.get(keys.SK, ""))
    found = (
        "failed"
        if keys.GSI1_PK in key
        else "log"
        if sk.startswith(keys.LOG_PREFIX)
        else "object"
        if sk.startswith(keys.EVENT_PREFIX)
        else ""
    )
    if found != kind:
        raise EventLogError("next_token: a token of another filter; start the listing again without it")
    return key


class _Searches:
    """The failed listing (from the sparse index) and the object search, mixed into
    EventLog."""

    store: EventLogStore

    def _failed_page(
        self,
        instance_id: str,
        *,
        since: str | None,
        until: str | None,
        limit: int,
        start_key: dict[str, Any] | None,
        newest_first: bool,
    ) -> tuple[_Items, dict[str, Any] | None]:
        items, last = self.store.failed_items(
            instance_id, since=since, until=until, limit=limit, start_key=start_key, newest_first=newest_first
        )
        return self._merged(instance_id, items, status="failed"), last

    def _merged(self, instance_id: str, items: _Items, *, status: str | None) -> _Items:
        """Event items merged with their entries' outcome (the first attempt is there)."""
        refs = [
            (str(i["createdAt"]), str(i["eventId"])) for i in items if i.get("createdAt") and i.get("eventId")
        ]
        entries = self.store.get_entries(instance_id, refs) if refs else {}
        found: _Items = []
        for item in items:
            merged = _merge(item, entries.get(str(item.get("eventId"))))
            # The index is eventually consistent: a just-replayed event may still be in it.
            if status is not None and merged.get("status") != status:
                continue
            found.append({**merged, "_stored": item})
        return found

    def _object_list(
        self,
        instance_id: str,
        *,
        object_id: str,
        object_type: str | None,
        since: str | None,
        until: str | None,
        status: str | None,
        start_key: dict[str, Any] | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Every event of the object in the part of the log read (newest first), and a
        token while some of the log is unread."""
        matches: _Items = []
        key = start_key
        for _ in range(_OBJECT_PAGES):
            items, key = self.store.object_items(
                instance_id,
                object_id=object_id,
                object_type=object_type,
                start_key=key,
                read_limit=_OBJECT_READ,
            )
            matches.extend(
                i
                for i in items
                if (not since or str(i.get("createdAt")) >= since)
                and (not until or str(i.get("createdAt")) <= until + "\uffff")
            )
            if key is None:
                break
        found = self._merged(instance_id, matches, status=status)
        found.sort(key=lambda i: (str(i.get("createdAt")), str(i.get("eventId"))), reverse=True)
        return [_public(i) for i in found], (_encode_token(key) if key else None)


class EventLog(_Searches):
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
        object_id: str | None = None,
        object_type: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; entries carry attempts but not the body (get() has it). A page
        shorter than ``limit`` with a token means only part of the log was read: the
        token goes on, and no page is ever presented as the whole answer early."""
        if status is not None and status not in STATUSES:
            raise EventLogError(f"status: must be one of {', '.join(STATUSES)}, got {status!r}")
        if not 1 <= limit <= MAX_LIMIT:
            raise EventLogError(f"limit: must be between 1 and {MAX_LIMIT}, got {limit}")
        start = _decode_token(next_token, instance_id) if next_token else None
        if object_id:
            return self._object_list(
                instance_id,
                object_id=object_id,
                object_type=object_type,
                since=_bound(since, "since"),
                until=_bound(until, "until"),
                status=status,
                start_key=_kind(start, "object"),
            )
        if status == "failed":
            items, last = self._failed_page(
                instance_id,
                since=_bound(since, "since"),
                until=_bound(until, "until"),
                limit=limit,
                start_key=_kind(start, "failed"),
                newest_first=True,
            )
            return [self._entry(i, with_body=False) for i in items], (_encode_token(last) if last else None)
        items, last = self._page(
            instance_id,
            since=_bound(since, "since"),
            until=_bound(until, "until"),
            status=status,
            limit=limit,
            start_key=_kind(start, "log"),
            newest_first=True,
        )
        entries = [self._entry(item, with_body=False) for item in items]
        return entries, (_encode_token(last) if last else None)

    def get(self, instance_id: str, event_id: str) -> dict[str, Any] | None:
        item = self.raw(instance_id, event_id)
        return self._entry(item, with_body=True) if item else None

    def counts_since(
        self, instance_id: str, since: datetime | str, *, now: datetime | None = None
    ) -> dict[str, Any]:
        """Delivered and failed events whose outcome fell in the hours since ``since``
        (from the start of since's hour: the answer's ``since`` says so), the same per hour
        (``hours``, oldest first, every hour present: the page's chart) and the instance's
        dead-lettered events (``deadLettered``), all from one read of a few small items."""
        bound = _bound(since, "since") or ""
        end = now or datetime.now(UTC)
        # Older counter items have expired with the events they counted.
        first = max(bound[:13], hour_of(end - timedelta(days=self.retention_days + 1)))
        last = hour_of(end)
        days = sorted({first[:10], last[:10]} | _days_between(first[:10], last[:10]))
        counts: dict[str, Any] = dict.fromkeys(COUNTED, 0)
        hours: dict[str, dict[str, int]] = {}
        dead = 0
        for item in self.store.counts(instance_id, days):
            if item.get(keys.SK) == keys.DEAD_LETTERS_SK:
                dead = max(0, int(item.get("count") or 0))
                continue
            day = str(item.get(keys.SK, ""))[len(keys.STATS_PREFIX) :]
            for name, value in item.items():
                status, hh = name[:-2], name[-2:]
                if status in COUNTED and hh.isdigit() and first <= f"{day}T{hh}" <= last:
                    counts[status] += int(value or 0)
                    row = hours.setdefault(f"{day}T{hh}", dict.fromkeys(COUNTED, 0))
                    row[status] += int(value or 0)
        counts["since"] = _hour_start(first)
        counts["hours"] = _hour_rows(first, last, hours)
        counts["deadLettered"] = dead
        return {k: max(0, v) if k in COUNTED else v for k, v in counts.items()}

    def items_with_status(
        self, instance_id: str, *, status: str, since: datetime | str | None, until: datetime | str | None
    ) -> Iterator[dict[str, Any]]:
        """Every stored item with the status in the range, oldest first, page by page
        (replay of a large backlog does not hold it all in memory)."""
        start: dict[str, Any] | None = None
        low, high = _bound(since, "since"), _bound(until, "until")
        while status == "failed":
            items, start = self._failed_page(
                instance_id, since=low, until=high, limit=100, start_key=start, newest_first=False
            )
            for item in items:
                yield self._with_body(instance_id, item["_stored"])
            if start is None:
                return
        while True:
            items, start = self._page(
                instance_id,
                since=low,
                until=high,
                status=status,
                limit=100,
                start_key=start,
                newest_first=False,
            )
            for item in items:
                yield self._with_body(instance_id, item["_stored"])
            if start is None:
                return

    def raw(self, instance_id: str, event_id: str) -> dict[str, Any] | None:
        """The event item with its body (from the log entry) and instanceId."""
        item = self.store.get(instance_id, event_id)
        return self._with_body(instance_id, item) if item else None

    def _with_body(self, instance_id: str, item: dict[str, Any]) -> dict[str, Any]:
        created = item.get("createdAt")
        entry = self.store.get_entry(instance_id, str(created), str(item.get("eventId"))) if created else None
        merged = {**_merge(item, entry), "instanceId": instance_id}
        if entry:
            if entry.get("bodyZ") is not None:
                raw = entry["bodyZ"]
                merged["body"] = zlib.decompress(bytes(getattr(raw, "value", raw))).decode()
            elif entry.get("body") is not None:
                merged["body"] = entry["body"]
            if entry.get("bodyRef"):
                merged["bodyRef"] = entry["bodyRef"]
        return merged

    def _page(
        self,
        instance_id: str,
        *,
        since: str | None,
        until: str | None,
        status: str | None,
        limit: int,
        start_key: dict[str, Any] | None,
        newest_first: bool,
    ) -> tuple[_Items, dict[str, Any] | None]:
        """Up to ``limit`` event items in log order, and the log key to go on from. The
        status filter applies after the read: a rare status in a busy log reads up to
        _MAX_PAGES pages, then hands back what it found and where to go on."""
        found: _Items = []
        key = start_key
        for _ in range(_MAX_PAGES):
            refs, last = self.store.entries(
                instance_id, since=since, until=until, limit=limit, start_key=key, newest_first=newest_first
            )
            items = self.store.get_many(instance_id, [str(ref["eventId"]) for ref in refs]) if refs else {}
            for index, ref in enumerate(refs):
                created, event_id = str(ref["createdAt"]), str(ref["eventId"])
                stored = items.get(event_id)
                item = _merge(stored, ref) if stored is not None else None
                if item is None or (status is not None and item.get("status") != status):
                    continue
                # The stored item too: a reader that wants the body merges it again.
                found.append({**item, "_stored": stored})
                if len(found) == limit:
                    if index == len(refs) - 1 and last is None:
                        return found, None
                    return found, {
                        keys.PK: keys.events_pk(instance_id),
                        keys.SK: keys.log_sk(created, event_id),
                    }
            if last is None:
                return found, None
            key = last
        return found, key

    # -- writes (delivery and replay) -----------------------------------------------

    def expires_at(self, now: datetime) -> int:
        return int((now + timedelta(days=self.retention_days)).timestamp())

    def _described(self, message: QueueMessage, *, now: datetime, status: str) -> dict[str, Any]:
        return {
            "eventId": message.event_id,
            "eventType": message.event_type,
            "objectType": message.object_type,
            "objectId": message.object_id,
            "changedAt": iso_utc(message.changed_at),
            "createdAt": log_time(message.emitted_at),
            "status": status,
            "attempts": [],
            "updatedAt": log_time(now),
            keys.TTL: self.expires_at(now),
        }

    def _log_entry(self, message: QueueMessage, now: datetime) -> dict[str, Any]:
        entry: dict[str, Any] = {"eventId": message.event_id, keys.TTL: self.expires_at(now)}
        if message.body is None:
            entry["bodyRef"] = message.body_ref
        elif len(message.body) > _COMPRESS_OVER:
            entry["bodyZ"] = zlib.compress(message.body.encode(), 6)
        else:
            entry["body"] = message.body
        return entry

    def claim(
        self, message: QueueMessage, *, now: datetime, lease_until: datetime, first_attempt: bool
    ) -> Claimed:
        """Take the event for one attempt (see the module's docstring). A first receive
        usually finds no item: one conditional PutItem; other cases read first."""
        instance_id, event_id = message.instance_id, message.event_id
        lease = int(lease_until.timestamp() * 1000)
        item = self._described(message, now=now, status="delivering")
        created = str(item["createdAt"])
        entry = self._log_entry(message, now)
        if first_attempt and self.store.put_claim(instance_id, event_id, item=item, lease_until=lease):
            return Claimed(Claim.NEW, instance_id, event_id, created, entry, first=True)
        current = self.store.get(instance_id, event_id)
        if current is None:
            if self.store.put_claim(instance_id, event_id, item=item, lease_until=lease):
                return Claimed(Claim.NEW, instance_id, event_id, created, entry, first=True)
            return Claimed(Claim.IN_PROGRESS, instance_id, event_id)
        status, claims = current.get("status"), int(current.get("claims") or 0)
        if status == "delivered":
            return Claimed(Claim.DONE, instance_id, event_id)
        created = str(current.get("createdAt") or created)
        if status == "delivering":
            if claims == 1:
                # The first claim's outcome, once it has one, is in the entry.
                written = self.store.get_entry(instance_id, created, event_id, consistent=True)
                if written and written.get("status") == "delivered":
                    return Claimed(Claim.DONE, instance_id, event_id)
            if int(current.get("claimUntil") or 0) >= int(now.timestamp() * 1000):
                return Claimed(Claim.IN_PROGRESS, instance_id, event_id)
        fields = {"updatedAt": log_time(now), keys.TTL: self.expires_at(now)}
        if not self.store.reclaim(instance_id, event_id, claims=claims, lease_until=lease, fields=fields):
            return Claimed(Claim.IN_PROGRESS, instance_id, event_id)
        # A claim that crashed may have left no entry: written if missing, never over one.
        return Claimed(Claim.NEW, instance_id, event_id, created, entry if status == "delivering" else None)

    def write_entry(self, claimed: Claimed) -> None:
        """A later claim's missing entry (the first claim's is written with its outcome)."""
        if claimed.entry is not None and not claimed.first:
            self.store.put_entry(
                claimed.instance_id, claimed.created_at, claimed.event_id, claimed.entry, only_new=True
            )

    def finish_attempt(
        self,
        instance_id: str,
        event_id: str,
        *,
        status: Status,
        attempt: dict[str, Any] | None,
        now: datetime,
        next_attempt_at: datetime | None = None,
        reason: str | None = None,
        claimed: Claimed | None = None,
        response: str | None = None,
    ) -> None:
        """The outcome of the attempt of ``claimed``. The first claim's goes in its log
        entry (one PutItem, with the body); one that is not ``delivered`` also releases
        the event item (so a retry can claim it). Later claims update the event item.
        ``response``: a refusal's answer, kept on the event item only (replacing the
        previous one; a delivery removes it)."""
        fields: dict[str, Any] = {
            "updatedAt": log_time(now),
            "nextAttemptAt": log_time(next_attempt_at) if next_attempt_at else None,
            "lastError": reason or (attempt or {}).get("error"),
            "lastResponse": response,
        }
        if status == "delivered":
            fields["deliveredAt"] = log_time(now)
            fields["lastError"] = None
        # Only the event item of a failed event enters the failed index (never the entry,
        # which holds the body): written with the failure, once.
        indexed = (
            {**fields, **_failed_index_keys(instance_id, claimed.created_at, event_id)}
            if status == "failed" and claimed is not None and claimed.created_at
            else fields
        )
        if claimed is not None and claimed.first and claimed.entry is not None:
            # The entry holds the body already: the answer stays on the event item.
            outcome = {k: v for k, v in fields.items() if v is not None and k != "lastResponse"}
            entry = {**claimed.entry, **outcome, "status": status, "attempts": [attempt] if attempt else []}
            self.store.put_entry(instance_id, claimed.created_at, event_id, entry)
            if status != "delivered":
                self.store.finish(instance_id, event_id, status=status, attempt=None, fields=indexed)
            return
        self.store.finish(instance_id, event_id, status=status, attempt=attempt, fields=indexed)

    def fail_without_attempt(self, message: QueueMessage, *, reason: str, now: datetime) -> None:
        """An event that was never claimed and cannot be sent (the item is made if needed
        so the reason is visible in the log), counted at once."""
        self.store.finish(
            message.instance_id,
            message.event_id,
            status="failed",
            attempt=None,
            fields={
                "updatedAt": log_time(now),
                "lastError": reason,
                "nextAttemptAt": None,
                **_failed_index_keys(message.instance_id, log_time(message.emitted_at), message.event_id),
            },
            item=self._described(message, now=now, status="failed"),
        )
        self.store.put_entry(
            message.instance_id, log_time(message.emitted_at), message.event_id, self._log_entry(message, now)
        )
        tally = Tally()
        tally.add(message.instance_id, now, "failed")
        self.add_counts(tally.take())

    def add_counts(self, counts: Mapping[tuple[str, str], Mapping[str, int]]) -> None:
        """One atomic ADD per instance and day: ``delivered07`` and ``failed07`` count the
        outcomes of 07:00-07:59 UTC."""
        by_day: dict[tuple[str, str], dict[str, int]] = {}
        for (instance_id, hour), row in counts.items():
            attributes = by_day.setdefault((instance_id, hour[:10]), {})
            for status in COUNTED:
                if row.get(status):
                    name = f"{status}{hour[11:13]}"
                    attributes[name] = attributes.get(name, 0) + row[status]
        for (instance_id, day), attributes in by_day.items():
            if attributes:
                ttl = self.expires_at(_hour_start(f"{day}T23") + timedelta(hours=1))
                self.store.add_counts(instance_id, day, counts=attributes, ttl=ttl)

    def mark_queued(
        self, instance_id: str, event_id: str, *, now: datetime, unless_delivered: bool = False
    ) -> bool:
        """Back to queued for a replay: claimable again, and no longer counted as the
        delivered or failed event it was. ``unless_delivered``: a delivered event stays
        delivered (False), so that a copy sent again finds it so and is not sent twice."""
        ttl = self.expires_at(now)
        stored = self.store.requeue(
            instance_id,
            event_id,
            # Out of the failed index: a requeued event is no longer failed.
            fields={
                "updatedAt": log_time(now),
                "nextAttemptAt": None,
                keys.TTL: ttl,
                keys.GSI1_PK: None,
                keys.GSI1_SK: None,
            },
            unless_delivered=unless_delivered,
        )
        if stored is None:
            return False
        created = stored.get("createdAt")
        old = _merge(stored, self.store.get_entry(instance_id, str(created), event_id) if created else None)
        if old.get("createdAt"):
            self.store.keep_entry(instance_id, str(old["createdAt"]), event_id, ttl)
        was, when = old.get("status"), old.get("updatedAt")
        if was in COUNTED and isinstance(when, str):
            with contextlib.suppress(ValueError):
                tally = Tally()
                tally.add(instance_id, datetime.fromisoformat(when), str(was), -1)
                self.add_counts(tally.take())
        return True

    def add_dead_letters(self, instance_id: str, n: int) -> int:
        """The instance's dead-letter counter moved by ``n``; its new value."""
        return self.store.add_dead_letters(instance_id, n)

    def set_dead_letters(self, instance_id: str, count: int) -> None:
        self.store.set_dead_letters(instance_id, count)

    @staticmethod
    def _entry(item: dict[str, Any], *, with_body: bool) -> dict[str, Any]:
        return _public(item, with_body=with_body)


def _public(item: dict[str, Any], *, with_body: bool = False) -> dict[str, Any]:
    """An event as the API shows it (no keys, no claim, no compressed body)."""
    entry = {k: plain(v) for k, v in item.items() if k not in _HIDDEN}
    if not with_body:
        entry.pop("body", None)
        entry.pop("lastResponse", None)  # the detail's, like the body: listings stay small
    entry["attempts"] = entry.get("attempts") or []
    entry["attemptCount"] = len(entry["attempts"])
    return entry
