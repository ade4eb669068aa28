"""The event log in the table: event items (status, attempts, the delivery claim), log
entries (time order and body) and daily counter items; event body blobs.

    INST#{id} / EVENT#{eventId}              small: every claim, later claims' outcomes
    INST#{id} / LOG#{createdAt}#{eventId}    once: the listing's order, the body, the
                                             first claim's outcome
    INST#{id} / STATS#{yyyy-mm-dd}           delivered/failed of one day by hour, atomic ADDs

None of them is in an index: the log entry's sort key gives the listing its order, so no
write pays a second time for a projection. ``writes`` counts the write requests.
"""

from __future__ import annotations

import zlib
from typing import Any

from botocore.exceptions import ClientError

from bcpoller import keys
from bcpoller.adapters.key_conditions import equals_filter, key_condition, merged

# Sorts after every "{createdAt}#{eventId}" that starts with the same instant.
_HIGH = "#\uffff"
_BATCH_GET = 100
# What a listing reads of a log entry: its key and the first claim's outcome, not the body.
_ENTRY_FIELDS = (keys.SK, "status", "attempts", "updatedAt", "lastError", "nextAttemptAt", "deliveredAt")
_DESCRIBE_ONCE = ("eventId", "eventType", "objectType", "objectId", "changedAt", "createdAt", "bodyRef")


def _conditional_failed(exc: ClientError) -> bool:
    return bool(exc.response["Error"]["Code"] == "ConditionalCheckFailedException")


class EventLogTable:
    def __init__(self, table: Any) -> None:
        self._table = table
        self.writes = 0

    def _key(self, instance_id: str, sk: str) -> dict[str, str]:
        return {keys.PK: keys.events_pk(instance_id), keys.SK: sk}

    # -- the claim and the outcome ----------------------------------------------------

    def put_claim(self, instance_id: str, event_id: str, *, item: dict[str, Any], lease_until: int) -> bool:
        """The event's first claim: one conditional PutItem; False when the item exists."""
        self.writes += 1
        try:
            self._table.put_item(
                Item={
                    **item,
                    **self._key(instance_id, keys.event_sk(event_id)),
                    "claims": 1,
                    "claimUntil": lease_until,
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def reclaim(
        self, instance_id: str, event_id: str, *, claims: int, lease_until: int, fields: dict[str, Any]
    ) -> bool:
        """A later claim, only if nobody claimed the event since it was read (``claims``)
        and it is not delivered."""
        names = {"#status": "status", "#claim": "claimUntil", "#claims": "claims"}
        values: dict[str, Any] = {
            ":delivering": "delivering",
            ":delivered": "delivered",
            ":lease": lease_until,
            ":seen": claims,
            ":next": claims + 1,
        }
        sets = ["#status = :delivering", "#claim = :lease", "#claims = :next"]
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = value
            sets.append(f"#f{i} = :f{i}")
        condition = "#status <> :delivered AND "
        condition += "#claims = :seen" if claims else "attribute_not_exists(#claims)"
        if not claims:
            del values[":seen"]
        self.writes += 1
        try:
            self._table.update_item(
                Key=self._key(instance_id, keys.event_sk(event_id)),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(pk) AND " + condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def finish(
        self,
        instance_id: str,
        event_id: str,
        *,
        status: str,
        attempt: dict[str, Any] | None,
        fields: dict[str, Any],
        item: dict[str, Any] | None = None,
    ) -> None:
        """The outcome: status, the attempt appended, the claim released. ``item``
        describes the event when the item may not exist yet (failed before any claim)."""
        names = {"#status": "status", "#attempts": "attempts", "#claim": "claimUntil"}
        values: dict[str, Any] = {":status": status, ":empty": []}
        sets = ["#status = :status"]
        if attempt is not None:
            values[":attempt"] = [attempt]
            sets.append("#attempts = list_append(if_not_exists(#attempts, :empty), :attempt)")
        else:
            sets.append("#attempts = if_not_exists(#attempts, :empty)")
        removes = ["#claim"]
        for i, (name, value) in enumerate({**(item or {}), **fields}.items()):
            if name in ("status", "attempts"):
                continue
            names[f"#f{i}"] = name
            if value is None:
                removes.append(f"#f{i}")
            elif item and name in item and name in _DESCRIBE_ONCE:
                values[f":f{i}"] = value
                sets.append(f"#f{i} = if_not_exists(#f{i}, :f{i})")
            else:
                values[f":f{i}"] = value
                sets.append(f"#f{i} = :f{i}")
        self.writes += 1
        self._table.update_item(
            Key=self._key(instance_id, keys.event_sk(event_id)),
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def put_entry(
        self,
        instance_id: str,
        created_at: str,
        event_id: str,
        entry: dict[str, Any],
        *,
        only_new: bool = False,
    ) -> None:
        """The log entry: written once per event (``only_new``: unless it exists)."""
        self.writes += 1
        item = {**entry, **self._key(instance_id, keys.log_sk(created_at, event_id))}
        if not only_new:
            self._table.put_item(Item=item)
            return
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def requeue(
        self, instance_id: str, event_id: str, *, fields: dict[str, Any], unless_delivered: bool = False
    ) -> dict[str, Any] | None:
        """Back to ``queued`` (claimable again); the item as it was, or None when missing
        (or, with ``unless_delivered``, delivered: a redriven copy must find it so)."""
        names = {"#status": "status", "#claim": "claimUntil"}
        values: dict[str, Any] = {":status": "queued"}
        condition = "attribute_exists(pk)"
        if unless_delivered:
            values[":delivered"] = "delivered"
            condition += " AND #status <> :delivered"
        sets = ["#status = :status"]
        removes = ["#claim"]
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"] = name
            if value is None:
                removes.append(f"#f{i}")
            else:
                values[f":f{i}"] = value
                sets.append(f"#f{i} = :f{i}")
        self.writes += 1
        try:
            old = self._table.update_item(
                Key=self._key(instance_id, keys.event_sk(event_id)),
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            ).get("Attributes")
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise
        return dict(old) if old else None

    def keep_entry(self, instance_id: str, created_at: str, event_id: str, ttl: int) -> None:
        """A replayed event's log entry lives as long as its event item again."""
        self.writes += 1
        try:
            self._table.update_item(
                Key=self._key(instance_id, keys.log_sk(created_at, event_id)),
                UpdateExpression="SET #ttl = :ttl",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#ttl": keys.TTL},
                ExpressionAttributeValues={":ttl": ttl},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def add_counts(self, instance_id: str, day: str, *, counts: dict[str, int], ttl: int) -> None:
        """One atomic ADD of every counter given (attributes of the day's item)."""
        names = {"#ttl": keys.TTL}
        values: dict[str, Any] = {":ttl": ttl}
        adds = []
        for i, (name, n) in enumerate(counts.items()):
            names[f"#c{i}"] = name
            values[f":c{i}"] = n
            adds.append(f"#c{i} :c{i}")
        self.writes += 1
        self._table.update_item(
            Key=self._key(instance_id, keys.stats_sk(day)),
            UpdateExpression="ADD " + ", ".join(adds) + " SET #ttl = :ttl",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    # -- the dead-letter counter -------------------------------------------------------

    def add_dead_letters(self, instance_id: str, n: int) -> int:
        """ADD ``n`` (negative to lower it) to the instance's dead-letter counter; the new
        count. One small item: a write costs 1 WRU, and only when an event is given up on
        or redriven."""
        self.writes += 1
        answer = self._table.update_item(
            Key=self._key(instance_id, keys.DEAD_LETTERS_SK),
            UpdateExpression="ADD #count :n",
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues={":n": n},
            ReturnValues="UPDATED_NEW",
        )
        return int((answer.get("Attributes") or {}).get("count", 0))

    def set_dead_letters(self, instance_id: str, count: int) -> None:
        """The counter as a complete scan of the DLQ found it."""
        self.writes += 1
        self._table.put_item(Item={**self._key(instance_id, keys.DEAD_LETTERS_SK), "count": count})

    # -- reads ------------------------------------------------------------------------

    def get(self, instance_id: str, event_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(
            Key=self._key(instance_id, keys.event_sk(event_id)), ConsistentRead=True
        ).get("Item")
        return dict(item) if item else None

    def get_entry(
        self, instance_id: str, created_at: str, event_id: str, *, consistent: bool = False
    ) -> dict[str, Any] | None:
        item = self._table.get_item(
            Key=self._key(instance_id, keys.log_sk(created_at, event_id)), ConsistentRead=consistent
        ).get("Item")
        return dict(item) if item else None

    def entries(
        self,
        instance_id: str,
        *,
        since: str | None,
        until: str | None,
        limit: int,
        start_key: dict[str, Any] | None,
        newest_first: bool = True,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Up to ``limit`` log entries in [since, until] without their body (``createdAt``
        and ``eventId`` added from the key), and the key to go on from (None at the end)."""
        low = keys.LOG_PREFIX + (since or "")
        high = keys.LOG_PREFIX + (until + _HIGH if until else "\uffff")
        kwargs = merged(
            key_condition(keys.PK, keys.events_pk(instance_id), keys.SK, "between", low, high),
            {
                "ScanIndexForward": not newest_first,
                "Limit": limit,
                "ProjectionExpression": ", ".join(f"#p{i}" for i in range(len(_ENTRY_FIELDS))),
                "ExpressionAttributeNames": {f"#p{i}": name for i, name in enumerate(_ENTRY_FIELDS)},
            },
        )
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        page = self._table.query(**kwargs)
        found = []
        for item in page.get("Items", []):
            _, created, event_id = str(item[keys.SK]).split("#", 2)
            found.append({**item, "createdAt": created, "eventId": event_id})
        last = page.get("LastEvaluatedKey")
        return found, (dict(last) if last else None)

    def get_many(self, instance_id: str, event_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Event items by eventId (missing ones are absent)."""
        found = self._get_keys(instance_id, [keys.event_sk(e) for e in event_ids], consistent=True)
        return {sk[len(keys.EVENT_PREFIX) :]: item for sk, item in found.items()}

    def _get_keys(
        self, instance_id: str, sort_keys: list[str], *, consistent: bool, fields: tuple[str, ...] = ()
    ) -> dict[str, dict[str, Any]]:
        """Items of the instance by sort key, in BatchGetItem requests (the resource's
        client converts values both ways, as the Table does)."""
        client = self._table.meta.client
        name = self._table.name
        pk = keys.events_pk(instance_id)
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(sort_keys))
        for start in range(0, len(unique), _BATCH_GET):
            request: dict[str, Any] = {
                name: {
                    "Keys": [{keys.PK: pk, keys.SK: sk} for sk in unique[start : start + _BATCH_GET]],
                    "ConsistentRead": consistent,
                }
            }
            if fields:
                request[name]["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(fields)))
                request[name]["ExpressionAttributeNames"] = {f"#p{i}": n for i, n in enumerate(fields)}
            while request:
                answer = client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(name, []):
                    found[str(item[keys.SK])] = dict(item)
                request = answer.get("UnprocessedKeys") or {}
        return found

    def counts(self, instance_id: str, days: list[str]) -> list[dict[str, Any]]:
        """The counter items of these days and the dead-letter counter, in the same
        BatchGetItem (GetItem-priced reads by key, a few at most)."""
        sort_keys = [keys.stats_sk(day) for day in days] + [keys.DEAD_LETTERS_SK]
        found = self._get_keys(instance_id, sort_keys, consistent=False)
        return list(found.values())

    def load_body(self, instance_id: str, body_ref: str) -> str:
        """The callback body of an oversize event (zlib-compressed in a BLOB# item)."""
        if not body_ref.startswith(keys.BLOB_PREFIX):
            raise ValueError(f"bodyRef: expected a {keys.BLOB_PREFIX}... sort key, got {body_ref[:40]!r}")
        # The poller writes oversize bodies beside the instance (adapters.poll_table).
        blob_key = {keys.PK: keys.instance_pk(instance_id), keys.SK: body_ref}
        item = self._table.get_item(Key=blob_key).get("Item")
        if not item or "body" not in item:
            raise LookupError(f"bodyRef: item {body_ref} of instance {instance_id} is missing")
        raw = item["body"]
        data = raw.value if hasattr(raw, "value") else raw
        return zlib.decompress(bytes(data)).decode()

    # -- exact searches (issue 20) ----------------------------------------------------

    def failed_items(
        self,
        instance_id: str,
        *,
        since: str | None,
        until: str | None,
        limit: int,
        start_key: dict[str, Any] | None,
        newest_first: bool = True,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Up to ``limit`` failed event items in log order from gsi1 (only failed events
        carry its keys), and the key to go on from (None at the end)."""
        pk = keys.failed_events_gsi_pk(instance_id)
        # A key value cannot be empty: an open end is no condition at all.
        if since and until:
            condition = key_condition(keys.GSI1_PK, pk, keys.GSI1_SK, "between", since, until + _HIGH)
        elif since:
            condition = key_condition(keys.GSI1_PK, pk, keys.GSI1_SK, ">=", since)
        elif until:
            condition = key_condition(keys.GSI1_PK, pk, keys.GSI1_SK, "<=", until + _HIGH)
        else:
            condition = key_condition(keys.GSI1_PK, pk)
        kwargs: dict[str, Any] = {
            "IndexName": keys.GSI1,
            **condition,
            "ScanIndexForward": not newest_first,
            "Limit": limit,
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        page = self._table.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        return [dict(i) for i in page.get("Items", [])], (dict(last) if last else None)

    def object_items(
        self,
        instance_id: str,
        *,
        object_id: str,
        object_type: str | None,
        start_key: dict[str, Any] | None,
        read_limit: int,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Event items of one object, from a Query of the small ``EVENT#`` items with a
        filter: a search reads the instance's event items (about 300 bytes each, 0.5 RRU
        per 4 KB) instead of every event paying an index write. ``read_limit`` bounds the
        items read; the key to go on from is returned (None once the log is read whole)."""
        wanted = {"objectId": object_id, **({"objectType": object_type} if object_type else {})}
        kwargs: dict[str, Any] = merged(
            key_condition(keys.PK, keys.events_pk(instance_id), keys.SK, "begins_with", keys.EVENT_PREFIX),
            equals_filter(wanted),
            {"Limit": read_limit},
        )
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        page = self._table.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        return [dict(i) for i in page.get("Items", [])], (dict(last) if last else None)

    def get_entries(self, instance_id: str, refs: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        """Log entries by (createdAt, eventId), keyed by eventId (their outcome and
        attempts: what a listing merges; the body is left out)."""
        sort_keys = [keys.log_sk(created, event_id) for created, event_id in refs]
        found = self._get_keys(instance_id, sort_keys, consistent=False, fields=_ENTRY_FIELDS)
        return {sk.rsplit("#", 1)[1]: item for sk, item in found.items()}
