"""The poll engine's cursor items and last-poll report of an instance, for
GET /instances/{id}/status."""

from __future__ import annotations

from typing import Any

from bcpoller import keys
from bcpoller.adapters.key_conditions import key_condition, merged
from bcpoller.dynamo_values import plain

STAT_ATTRIBUTES = (
    "cursor",
    "lastPollStart",
    "lastPollEnd",
    "recordsRead",
    "eventsEmitted",
    "requests",
    "lastError",
)


class CursorStats:
    def __init__(self, table: Any) -> None:
        self._table = table

    def cursors(self, instance_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        # Only the figures: the dedup state (recent ids, snapshots) can be hundreds of KiB.
        names = {f"#a{i}": name for i, name in enumerate((keys.SK, *STAT_ATTRIBUTES))}
        kwargs = merged(
            key_condition(keys.PK, keys.instance_pk(instance_id), keys.SK, "begins_with", keys.CURSOR_PREFIX),
            {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names},
        )
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                row = {k: plain(v) for k, v in item.items() if k != keys.SK}
                row["resource"] = str(item[keys.SK])[len(keys.CURSOR_PREFIX) :]
                items.append(row)
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def last_poll(self, instance_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(
            Key={keys.PK: keys.instance_pk(instance_id), keys.SK: keys.POLL_STATUS},
            ProjectionExpression="lastPoll",
        ).get("Item")
        report = (item or {}).get("lastPoll")
        return plain(report) if isinstance(report, dict) else None
