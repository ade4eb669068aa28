"""Event log items (pk INST#{id}, sk EVENT#{eventId}) and event body blobs in the table.

Every write is one UpdateItem, so the first attempt creates the item and later attempts
append to it without a read. ``writes`` counts them (the delivery benchmark reports it).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from bcpoller import keys

_KEY_ATTRS = (keys.PK, keys.SK, keys.GSI1_PK, keys.GSI1_SK)
# Sorts after every "{createdAt}#{eventId}" that starts with the same instant.
_HIGH = "#\uffff"
_MAX_PAGES = 10
_FIRST_WRITE_WINS = frozenset({"createdAt", keys.GSI1_SK})


class EventLogTable:
    def __init__(self, table: Any, *, reset_idempotency: Callable[[str], None] | None = None) -> None:
        self._table = table
        self._reset_idempotency = reset_idempotency
        self.writes = 0

    # -- writes -----------------------------------------------------------------------

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
    ) -> None:
        """Set the status (and ``fields``) and describe the event. Only what differs
        between two messages of one event -- when it was first queued, hence its place in
        gsi1 -- is kept from an earlier write; the rest is the same every time."""
        if likely_new and self._put_new(instance_id, event_id, new_fields, now, status, fields or {}):
            return
        names: dict[str, str] = {"#status": "status", "#updatedAt": "updatedAt", "#attempts": "attempts"}
        values: dict[str, Any] = {":status": status, ":now": now, ":empty": []}
        sets = ["#status = :status", "#updatedAt = :now", "#attempts = if_not_exists(#attempts, :empty)"]
        described = dict(new_fields)
        described[keys.GSI1_PK] = keys.events_gsi_pk(instance_id)
        for i, (name, value) in enumerate(described.items()):
            names[f"#n{i}"] = name
            values[f":n{i}"] = value
            if name in _FIRST_WRITE_WINS:
                sets.append(f"#n{i} = if_not_exists(#n{i}, :n{i})")
            else:
                sets.append(f"#n{i} = :n{i}")
        expr = self._set_fields(fields or {}, names, values, sets)
        self._update(instance_id, event_id, expr, names, values)

    def _put_new(
        self,
        instance_id: str,
        event_id: str,
        described: dict[str, Any],
        now: str,
        status: str,
        fields: dict[str, Any],
    ) -> bool:
        """The first attempt's item in one conditional PutItem (no update expression to
        evaluate); False when the item exists already (a replay, a duplicate message)."""
        item = {
            **described,
            **{k: v for k, v in fields.items() if v is not None},
            keys.PK: keys.instance_pk(instance_id),
            keys.SK: keys.event_sk(event_id),
            keys.GSI1_PK: keys.events_gsi_pk(instance_id),
            "status": status,
            "updatedAt": now,
            "attempts": [],
        }
        self.writes += 1
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def finish_attempt(
        self, instance_id: str, event_id: str, *, status: str, attempt: dict[str, Any], fields: dict[str, Any]
    ) -> None:
        names = {"#status": "status", "#attempts": "attempts"}
        values: dict[str, Any] = {":status": status, ":attempt": [attempt], ":empty": []}
        sets = ["#status = :status", "#attempts = list_append(if_not_exists(#attempts, :empty), :attempt)"]
        expr = self._set_fields(fields, names, values, sets)
        self._update(instance_id, event_id, expr, names, values)

    def set_status(
        self,
        instance_id: str,
        event_id: str,
        *,
        status: str,
        fields: dict[str, Any],
        only_if: str | None = None,
    ) -> bool:
        """Change the status of an existing item (only from ``only_if`` when given)."""
        names = {"#status": "status"}
        values: dict[str, Any] = {":status": status}
        sets = ["#status = :status"]
        expr = self._set_fields(fields, names, values, sets)
        condition = "attribute_exists(pk)"
        if only_if is not None:
            condition += " AND #status = :only_if"
            values[":only_if"] = only_if
        try:
            self._update(instance_id, event_id, expr, names, values, condition=condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def reset_idempotency(self, event_id: str) -> None:
        if self._reset_idempotency is None:
            raise RuntimeError("EventLogTable was made without an idempotency reset")
        self._reset_idempotency(event_id)

    # -- reads ------------------------------------------------------------------------

    def get(self, instance_id: str, event_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(
            Key={keys.PK: keys.instance_pk(instance_id), keys.SK: keys.event_sk(event_id)},
            ConsistentRead=True,
        ).get("Item")
        return dict(item) if item else None

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
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Up to ``limit`` items of the instance by creation time, and the key to go on
        from (None at the end). The status filter is applied after DynamoDB's Limit, so
        this keeps reading pages until it has ``limit`` matches."""
        from boto3.dynamodb.conditions import Attr, Key  # boto3 loads on first use, not at cold start

        cond: Any = Key(keys.GSI1_PK).eq(keys.events_gsi_pk(instance_id))
        if since and until:
            cond = cond & Key(keys.GSI1_SK).between(since, until + _HIGH)
        elif since:
            cond = cond & Key(keys.GSI1_SK).gte(since)
        elif until:
            cond = cond & Key(keys.GSI1_SK).lte(until + _HIGH)
        kwargs: dict[str, Any] = {
            "IndexName": keys.GSI1,
            "KeyConditionExpression": cond,
            "ScanIndexForward": not newest_first,
            "Limit": limit,
        }
        if status:
            kwargs["FilterExpression"] = Attr("status").eq(status)
        if attributes:
            wanted = list(dict.fromkeys([*attributes, *_KEY_ATTRS]))
            kwargs["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(wanted)))
            kwargs["ExpressionAttributeNames"] = {f"#p{i}": a for i, a in enumerate(wanted)}
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        found: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES):
            page = self._table.query(**kwargs)
            items = page.get("Items", [])
            more = "LastEvaluatedKey" in page
            for index, item in enumerate(items):
                found.append(dict(item))
                if len(found) == limit:
                    last_of_all = index == len(items) - 1 and not more
                    return found, None if last_of_all else {k: item[k] for k in _KEY_ATTRS}
            if not more:
                return found, None
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        # A rare status in a busy log: hand back what was found and where to go on,
        # instead of scanning a week of events in one request.
        return found, kwargs["ExclusiveStartKey"]

    def load_body(self, instance_id: str, body_ref: str) -> str:
        """The callback body of an oversize event (zlib-compressed in a BLOB# item)."""
        if not body_ref.startswith(keys.BLOB_PREFIX):
            raise ValueError(f"bodyRef: expected a {keys.BLOB_PREFIX}... sort key, got {body_ref[:40]!r}")
        item = self._table.get_item(Key={keys.PK: keys.instance_pk(instance_id), keys.SK: body_ref}).get(
            "Item"
        )
        if not item or "body" not in item:
            raise LookupError(f"bodyRef: item {body_ref} of instance {instance_id} is missing")
        raw = item["body"]
        data = raw.value if hasattr(raw, "value") else raw
        return zlib.decompress(bytes(data)).decode()

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def _set_fields(
        fields: dict[str, Any], names: dict[str, str], values: dict[str, Any], sets: list[str]
    ) -> str:
        removes: list[str] = []
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"] = name
            if value is None:
                removes.append(f"#f{i}")
            else:
                values[f":f{i}"] = value
                sets.append(f"#f{i} = :f{i}")
        expr = "SET " + ", ".join(sets)
        if removes:
            expr += " REMOVE " + ", ".join(removes)
        return expr

    def _update(
        self,
        instance_id: str,
        event_id: str,
        expr: str,
        names: dict[str, str],
        values: dict[str, Any],
        *,
        condition: str | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {
            "Key": {keys.PK: keys.instance_pk(instance_id), keys.SK: keys.event_sk(event_id)},
            "UpdateExpression": expr,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if condition:
            kwargs["ConditionExpression"] = condition
        self.writes += 1
        self._table.update_item(**kwargs)
