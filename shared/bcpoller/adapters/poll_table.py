"""The poller's items in the table: lease on META, cursor items, oversize bodies.

Cost per poll of a quiet store: one UpdateItem (take the lease AND read the instance,
ALL_NEW), one Query (every cursor of the instance), one UpdateItem (release + stats).
Busy polls add one conditional PutItem per checkpointed page.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import replace
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import Binary, TypeDeserializer
from botocore.exceptions import ClientError

from bcpoller import keys
from bcpoller.dynamo_values import epoch_decimal
from bcpoller.instances import StoredInstance
from bcpoller.messages import iso_utc
from bcpoller.poll.cursor import CursorState
from bcpoller.poll.ports import CursorConflict, LeaseOutcome

# Above this many bytes the recent pairs (or a snapshot) are stored zlib-compressed, so a
# burst of thousands of changes in one overlap window stays far below the 400 KB item limit.
INLINE_LIMIT = 64 * 1024
_CONDITION_FAILED = "ConditionalCheckFailedException"
_deserializer = TypeDeserializer()


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _bytes(value: Any) -> bytes:
    return bytes(value.value) if isinstance(value, Binary) else bytes(value)  # type: ignore[attr-defined]


def skip_reason(item: dict[str, Any] | None, now: float) -> str:
    """Why a lease was refused, from the instance item as it was."""
    if not item:
        return "instance not found (deleted)"
    if not item.get("eventsEnabled"):
        return "events are disabled for this instance"
    if item.get("authState") == "failed":
        return "the store refused the credentials; polling resumes when they change"
    until = item.get("leaseUntil")
    if until is not None and float(until) >= now:
        return f"another poll holds the lease until {float(until):.0f}"
    return "the instance changed while the lease was taken; the next tick retries"


class PollTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    # -- lease --------------------------------------------------------------------------

    def acquire(self, instance_id: str, *, owner: str, lease_until: float, now: float) -> LeaseOutcome:
        key = {keys.PK: keys.instance_pk(instance_id), keys.SK: keys.META}
        try:
            response = self._table.update_item(
                Key=key,
                UpdateExpression="SET leaseOwner = :owner, leaseUntil = :until",
                ConditionExpression=(
                    "attribute_exists(pk) AND eventsEnabled = :true"
                    " AND (attribute_not_exists(authState) OR authState <> :failed)"
                    " AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)"
                ),
                ExpressionAttributeValues={
                    ":owner": owner,
                    ":until": epoch_decimal(lease_until),
                    ":now": epoch_decimal(now),
                    ":true": True,
                    ":failed": "failed",
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            raw: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            if raw is not None:
                old = {k: _deserializer.deserialize(v) for k, v in raw.items()}
            else:
                old = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
            return LeaseOutcome(instance=None, skip_reason=skip_reason(old, now))
        return LeaseOutcome(instance=StoredInstance.from_item(response["Attributes"]))

    def release(
        self, instance_id: str, *, owner: str, last_poll: dict[str, Any], auth_error: str | None = None
    ) -> None:
        key = {keys.PK: keys.instance_pk(instance_id), keys.SK: keys.META}
        sets = ["lastPoll = :lp"]
        values: dict[str, Any] = {":lp": last_poll, ":owner": owner}
        if auth_error is not None:
            sets += ["authState = :failed", "authError = :err"]
            values.update({":failed": "failed", ":err": auth_error})
        try:
            self._table.update_item(
                Key=key,
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE leaseOwner, leaseUntil",
                ConditionExpression="leaseOwner = :owner",
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            if auth_error is None:
                return  # another poll owns the lease now: its release records its own stats
            # Refused credentials must stop polling even if the lease passed to another poll.
            values.pop(":owner")
            try:
                self._table.update_item(
                    Key=key,
                    UpdateExpression="SET " + ", ".join(sets),
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues=values,
                )
            except ClientError as again:
                if not _is_condition_failure(again):
                    raise

    # -- cursors ------------------------------------------------------------------------

    def load_cursors(self, instance_id: str) -> dict[str, CursorState]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key(keys.PK).eq(keys.instance_pk(instance_id))
            & Key(keys.SK).begins_with(keys.CURSOR_PREFIX),
            "ConsistentRead": True,
        }
        states: dict[str, CursorState] = {}
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                state = cursor_from_item(item)
                states[state.resource] = state
            if "LastEvaluatedKey" not in page:
                return states
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

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
    )
