"""The poller's items in the table: the instance, its cursors and last poll, oversize bodies.

Cost of a quiet poll: one Query (``begins_with(sk, "META")``: the instance item, every
cursor and the last-poll item, strongly consistent) and no write; the last-poll item is
rewritten only when the outcome changes or the heartbeat is due. A poll with work adds
the lease (one UpdateItem of the small last-poll item), one conditional PutItem per
checkpointed page, and the release with its report (one UpdateItem). None of these
items is in an index.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from bcpoller import keys
from bcpoller.adapters.key_conditions import key_condition
from bcpoller.dynamo_values import epoch_decimal, plain
from bcpoller.instances import StoredInstance
from bcpoller.messages import iso_utc
from bcpoller.poll.cursor import CursorState
from bcpoller.poll.ports import CursorConflict, LastPoll, PollView
from bcpoller.poll.sweep import SweepState, decode_ids, encode_ids

# Above this many bytes the recent pairs (or a snapshot) are stored zlib-compressed, so a
# burst of thousands of changes in one overlap window stays far below the 400 KB item limit.
INLINE_LIMIT = 64 * 1024
_CONDITION_FAILED = "ConditionalCheckFailedException"
logger = Logger(child=True)


@cache
def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer  # boto3 is loaded on first use

    return TypeDeserializer()


# A lease or report is refused when a poll took the lease after this one read the table.
_SEQ_UNCHANGED = "(attribute_not_exists(workSeq) OR workSeq = :seq)"
_LEASE_FREE = "(attribute_not_exists(leaseUntil) OR leaseUntil < :now)"


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _bytes(value: Any) -> bytes:
    from boto3.dynamodb.types import Binary  # boto3 is loaded on first use, not at cold start

    return bytes(value.value) if isinstance(value, Binary) else bytes(value)  # type: ignore[attr-defined]


def _old_item(exc: ClientError) -> dict[str, Any]:
    raw: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
    return {k: _deserializer().deserialize(v) for k, v in (raw or {}).items()}


def lease_refusal(old: dict[str, Any], now: float, work_seq: int) -> str:
    """Why the work lease was refused, from the last-poll item as it was."""
    until = old.get("leaseUntil")
    if until is not None and float(until) >= now:
        return f"another poll holds the lease until {float(until):.0f}"
    if int(old.get("workSeq", 0)) != work_seq:
        return "another poll of this instance worked since this one read its cursors; the next tick continues"
    return "the lease could not be taken; the next tick retries"


def last_poll_from_item(item: dict[str, Any] | None) -> LastPoll:
    if not item:
        return LastPoll()
    report = item.get("lastPoll")
    until = item.get("leaseUntil")
    return LastPoll(
        report=plain(report) if isinstance(report, dict) else None,
        work_seq=int(item.get("workSeq", 0)),
        lease_until=float(until) if until is not None else None,
        wake=(
            {"url": str(item.get("wakeUrl") or ""), "hooks": plain(item.get("hooks") or {})}
            if item.get("wakeHash")
            else None
        ),
    )


class PollTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    def _key(self, instance_id: str, sk: str) -> dict[str, str]:
        return {keys.PK: keys.instance_pk(instance_id), keys.SK: sk}

    # -- the one read -------------------------------------------------------------------

    def load(self, instance_id: str) -> PollView:
        kwargs: dict[str, Any] = {
            **key_condition(keys.PK, keys.instance_pk(instance_id), keys.SK, "begins_with", keys.META),
            # Strongly consistent: a cursor or lease counter read stale would only cost a
            # refused lease or a conflicting checkpoint, but the poll would do it for nothing.
            "ConsistentRead": True,
        }
        instance: StoredInstance | None = None
        cursors: dict[str, CursorState] = {}
        last: LastPoll | None = None
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                sk = str(item[keys.SK])
                if sk == keys.META:
                    instance = StoredInstance.from_item(item)
                elif sk == keys.POLL_STATUS:
                    last = last_poll_from_item(item)
                elif sk.startswith(keys.CURSOR_PREFIX):
                    state = cursor_from_item(item)
                    cursors[state.resource] = state
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if instance is not None and last is None and not cursors:
            # No last-poll item yet: either a new instance, or one whose cursors were written
            # before the one-read layout. Their watermarks must carry over (otherwise the
            # instance re-announces everything since its origin): moved once, here.
            cursors = self._move_legacy_cursors(instance_id)
        return PollView(instance=instance, cursors=cursors, last=last or LastPoll())

    def _move_legacy_cursors(self, instance_id: str) -> dict[str, CursorState]:
        kwargs: dict[str, Any] = {
            **key_condition(
                keys.PK, keys.instance_pk(instance_id), keys.SK, "begins_with", keys.LEGACY_CURSOR_PREFIX
            ),
            "ConsistentRead": True,
        }
        moved: dict[str, CursorState] = {}
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                resource = str(item[keys.SK])[len(keys.LEGACY_CURSOR_PREFIX) :]
                new_item = {**item, keys.SK: keys.cursor_sk(resource)}
                try:
                    # Another poll may have moved it (or checkpointed past it) meanwhile.
                    self._table.put_item(
                        Item=new_item, ConditionExpression="attribute_not_exists(#sk)",
                        ExpressionAttributeNames={"#sk": keys.SK},
                    )  # fmt: skip
                except ClientError as exc:
                    if not _is_condition_failure(exc):
                        raise
                    continue
                self._table.delete_item(Key={keys.PK: item[keys.PK], keys.SK: item[keys.SK]})
                state = cursor_from_item(new_item)
                moved[state.resource] = state
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if moved:
            logger.info("cursors moved to the one-read layout", extra={"resources": sorted(moved)})
        return moved

    def load_cursors(self, instance_id: str) -> dict[str, CursorState]:
        return self.load(instance_id).cursors

    # -- work lease and report (the small last-poll item, in no index) --------------------

    def take_lease(
        self, instance_id: str, *, owner: str, lease_until: float, now: float, work_seq: int
    ) -> str | None:
        try:
            self._table.update_item(
                Key=self._key(instance_id, keys.POLL_STATUS),
                UpdateExpression="SET leaseOwner = :owner, leaseUntil = :until",
                ConditionExpression=f"{_LEASE_FREE} AND {_SEQ_UNCHANGED}",
                ExpressionAttributeValues={
                    ":owner": owner,
                    ":until": epoch_decimal(lease_until),
                    ":now": epoch_decimal(now),
                    ":seq": work_seq,
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            return lease_refusal(_old_item(exc), now, work_seq)
        return None

    def release(self, instance_id: str, *, owner: str, report: dict[str, Any]) -> None:
        try:
            self._table.update_item(
                Key=self._key(instance_id, keys.POLL_STATUS),
                UpdateExpression=(
                    "SET lastPoll = :lp, workSeq = if_not_exists(workSeq, :zero) + :one"
                    " REMOVE leaseOwner, leaseUntil"
                ),
                ConditionExpression="leaseOwner = :owner",
                ExpressionAttributeValues={":lp": report, ":owner": owner, ":zero": 0, ":one": 1},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            # The lease expired and another poll took it: its release reports instead.

    def record(self, instance_id: str, *, report: dict[str, Any], work_seq: int, now: float) -> None:
        try:
            self._table.update_item(
                Key=self._key(instance_id, keys.POLL_STATUS),
                UpdateExpression="SET lastPoll = :lp",
                ConditionExpression=f"{_LEASE_FREE} AND {_SEQ_UNCHANGED}",
                ExpressionAttributeValues={":lp": report, ":now": epoch_decimal(now), ":seq": work_seq},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            # A poll that worked meanwhile has (or will have) the newer report.

    def mark_auth_failed(self, instance_id: str, *, error: str, version: int) -> None:
        try:
            self._table.update_item(
                Key=self._key(instance_id, keys.META),
                UpdateExpression="SET authState = :failed, authError = :err",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#v) OR #v = :v)",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":failed": "failed", ":err": error, ":v": version},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            # The instance changed (new credentials?) since this poll read it: leave it be.

    # -- cursors ------------------------------------------------------------------------

    def checkpoint(
        self, instance_id: str, state: CursorState, *, expected_version: int, stats: dict[str, Any]
    ) -> CursorState:
        written = replace(state, version=expected_version + 1)
        item = cursor_to_item(instance_id, written)
        item.update({k: v for k, v in stats.items() if v is not None})
        values: dict[str, Any] = {}
        if expected_version == 0:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "version = :v"
            values[":v"] = expected_version
            if state.cursor is not None:
                # Belt and braces: whatever the engine computes, a stored cursor never goes down.
                condition += " AND (attribute_not_exists(cursorEpoch) OR cursorEpoch <= :ce)"
                values[":ce"] = epoch_decimal(state.cursor.timestamp())
        try:
            kwargs: dict[str, Any] = {"Item": item, "ConditionExpression": condition}
            if values:
                kwargs["ExpressionAttributeValues"] = values
            self._table.put_item(**kwargs)
        except ClientError as exc:
            if _is_condition_failure(exc):
                raise CursorConflict(
                    f"cursor {state.resource} changed since version {expected_version}: another poll owns it"
                ) from None
            raise
        return written

    # -- oversize bodies ----------------------------------------------------------------

    def put_blob(self, instance_id: str, event_id: str, compressed_body: bytes, *, ttl: int) -> None:
        self._table.put_item(
            Item={
                keys.PK: keys.instance_pk(instance_id),
                keys.SK: keys.blob_sk(event_id),
                "body": compressed_body,
                keys.TTL: ttl,
            }
        )

    # -- the deletion sweep (poll/sweep.py; never under META) ------------------------------

    def load_sweep(self, instance_id: str, resource: str) -> SweepState:
        item = self._table.get_item(
            Key=self._key(instance_id, keys.sweep_sk(resource)), ConsistentRead=True
        ).get("Item")
        if not item:
            return SweepState(resource=resource)
        last_id = item.get("lastId")
        return SweepState(
            resource=resource,
            version=int(item.get("version", 0)),
            generation=int(item.get("generation", 0)),
            parts=int(item.get("parts", 0)),
            started_at=_parse_time(item.get("startedAt")),
            after=str(item["after"]) if item.get("after") is not None else None,
            last_id=int(last_id) if last_id is not None else None,
            written=int(item.get("written", 0)),
            next_at=_parse_time(item.get("nextAt")),
            through=int(item["through"]) if item.get("through") is not None else None,
        )

    def save_sweep(self, instance_id: str, state: SweepState, *, expected_version: int) -> SweepState:
        written = replace(state, version=expected_version + 1)
        item: dict[str, Any] = {
            **self._key(instance_id, keys.sweep_sk(state.resource)),
            "version": written.version,
            "generation": state.generation,
            "parts": state.parts,
            "written": state.written,
        }
        if state.started_at is not None:
            item["startedAt"] = iso_utc(state.started_at)
        if state.after is not None:
            item["after"] = state.after
        if state.last_id is not None:
            item["lastId"] = state.last_id
        if state.next_at is not None:
            item["nextAt"] = iso_utc(state.next_at)
        if state.through is not None:
            item["through"] = state.through
        kwargs: dict[str, Any] = {"Item": item}
        if expected_version == 0:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            kwargs["ConditionExpression"] = "version = :v"
            kwargs["ExpressionAttributeValues"] = {":v": expected_version}
        try:
            self._table.put_item(**kwargs)
        except ClientError as exc:
            if _is_condition_failure(exc):
                raise CursorConflict(
                    f"deletion sweep of {state.resource} changed since version {expected_version}"
                ) from None
            raise
        return written

    def load_known(self, instance_id: str, resource: str, generation: int) -> list[int]:
        prefix = keys.sweep_ids_prefix(resource, generation)
        kwargs: dict[str, Any] = {
            **key_condition(keys.PK, keys.instance_pk(instance_id), keys.SK, "begins_with", prefix),
            "ConsistentRead": True,
        }
        ids: list[int] = []
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                ids.extend(decode_ids(_bytes(item["ids"])))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(set(ids))

    def put_known(
        self, instance_id: str, resource: str, generation: int, part: int, ids: Sequence[int]
    ) -> int:
        item = {
            **self._key(instance_id, keys.sweep_ids_sk(resource, generation, part)),
            "ids": encode_ids(ids),
            "count": len(ids),
        }
        self._table.put_item(Item=item)
        return item_size(item)

    def drop_known(self, instance_id: str, resource: str, generation: int, parts: int) -> None:
        with self._table.batch_writer() as batch:
            for part in range(parts):
                batch.delete_item(Key=self._key(instance_id, keys.sweep_ids_sk(resource, generation, part)))


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values (strings and
    binary by length, numbers about 1 byte per 2 digits; close enough for a 400 KB check)."""
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        if isinstance(value, bytes | bytearray):
            total += len(value)
        elif isinstance(value, str):
            total += len(value.encode())
        else:
            total += len(str(value)) // 2 + 2
    return total


def _pack(name: str, value: Any, item: dict[str, Any]) -> None:
    """``name`` as plain data, or ``{name}Z`` zlib-compressed JSON when it is large."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    if len(text) > INLINE_LIMIT:
        item[f"{name}Z"] = zlib.compress(text.encode(), 6)
    else:
        item[name] = value


def _unpack(name: str, item: dict[str, Any]) -> Any:
    if f"{name}Z" in item:
        return json.loads(zlib.decompress(_bytes(item[f"{name}Z"])))
    return item.get(name)


def cursor_to_item(instance_id: str, state: CursorState) -> dict[str, Any]:
    item: dict[str, Any] = {
        keys.PK: keys.instance_pk(instance_id),
        keys.SK: keys.cursor_sk(state.resource),
        "version": state.version,
    }
    if state.cursor is not None:
        item["cursor"] = iso_utc(state.cursor)
        item["cursorEpoch"] = epoch_decimal(state.cursor.timestamp())
    if state.origin is not None:
        item["origin"] = iso_utc(state.origin)
    recent = sorted(f"{oid}|{iso_utc(u)}" for oid, u in state.recent)
    _pack("recent", recent, item)
    # Where the last complete read went and what the subscriber was told up to; for an
    # id-paged read stopped midway, how to resume it (a few short strings, however many
    # records share one second). readTo is always present ("" until a read completes):
    # its absence marks an item written before reads recorded it, whose cursor played
    # both parts.
    item["readTo"] = iso_utc(state.read_to) if state.read_to is not None else ""
    for name, moment in (
        ("told", state.told),
        ("readFrom", state.read_from),
        ("readUntil", state.read_until),
    ):
        if moment is not None:
            item[name] = iso_utc(moment)
    if state.after is not None:
        item["after"] = state.after
    if state.last_id is not None:
        item["lastId"] = state.last_id
    if state.snapshot is not None:
        _pack("snapshot", state.snapshot, item)
    if state.sweep_at is not None:
        item["sweepAt"] = iso_utc(state.sweep_at)
    if state.sweep_new:
        item["sweepNew"] = encode_ids(state.sweep_new)
    if state.sweep_gone:
        item["sweepGone"] = encode_ids(state.sweep_gone)
    if state.pending:
        _pack("pending", {oid: [tok, iso_utc(at)] for oid, (tok, at) in state.pending.items()}, item)
    return item


def cursor_from_item(item: dict[str, Any]) -> CursorState:
    resource = str(item[keys.SK])[len(keys.CURSOR_PREFIX) :]
    cursor = _parse_time(item.get("cursor"))
    recent: set[tuple[str, datetime]] = set()
    for pair in _unpack("recent", item) or []:
        oid, _, at = str(pair).rpartition("|")
        parsed = _parse_time(at)
        if oid and parsed is not None:
            recent.add((oid, parsed))
    if cursor is not None:
        # Items written before id paging kept the ids at the cursor's time apart.
        recent |= {(str(i), cursor) for i in item.get("idsAtCursor") or []}
    pending_raw = _unpack("pending", item) or {}
    pending: dict[str, tuple[str, datetime]] = {}
    for oid, (tok, at) in pending_raw.items():
        parsed = _parse_time(at)
        if parsed is not None:
            pending[str(oid)] = (str(tok), parsed)
    snapshot = _unpack("snapshot", item)
    return CursorState(
        resource=resource,
        cursor=cursor,
        recent=frozenset(recent),
        version=int(item.get("version", 0)),
        origin=_parse_time(item.get("origin")),
        snapshot={str(k): str(v) for k, v in snapshot.items()} if snapshot is not None else None,
        pending=pending,
        read_to=_parse_time(item["readTo"]) if "readTo" in item else cursor,
        told=_parse_time(item.get("told")) if "readTo" in item else cursor,
        read_from=_parse_time(item.get("readFrom")),
        read_until=_parse_time(item.get("readUntil")),
        after=str(item["after"]) if item.get("after") is not None else None,
        last_id=str(item["lastId"]) if item.get("lastId") is not None else None,
        sweep_at=_parse_time(item.get("sweepAt")),
        sweep_new=_id_set(item, "sweepNew"),
        sweep_gone=_id_set(item, "sweepGone"),
    )


def _id_set(item: dict[str, Any], name: str) -> frozenset[int]:
    return frozenset(decode_ids(_bytes(item[name]))) if name in item else frozenset()
