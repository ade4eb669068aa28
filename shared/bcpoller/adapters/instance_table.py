"""Instance items in the table: get, put, partial update, delete, list by organization."""

from __future__ import annotations

from typing import Any

from bcpoller import keys
from bcpoller.adapters.key_conditions import key_condition
from bcpoller.instances import StoredInstance


class InstanceNotFound(LookupError):
    pass


class InstanceTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, instance_id: str, *, consistent: bool = False) -> StoredInstance:
        item = self._table.get_item(
            Key={keys.PK: keys.instance_pk(instance_id), keys.SK: keys.META}, ConsistentRead=consistent
        ).get("Item")
        if not item:
            raise InstanceNotFound(instance_id)
        return StoredInstance.from_item(item)

    def put_new(self, instance: StoredInstance) -> None:
        self._table.put_item(Item=instance.to_item(), ConditionExpression="attribute_not_exists(pk)")

    def update_fields(
        self, instance_id: str, fields: dict[str, Any], *, remove: tuple[str, ...] = ()
    ) -> None:
        """SET the given item attributes (item names, e.g. "eventsEnabled"), REMOVE others,
        bump the version; the instance must exist."""
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": v for i, v in enumerate(fields.values())}
        sets = [f"#f{i} = :v{i}" for i in range(len(fields))] + [
            "#version = if_not_exists(#version, :zero) + :one"
        ]
        names["#version"] = "version"
        values.update({":zero": 0, ":one": 1})
        expr = "SET " + ", ".join(sets)
        if remove:
            rnames = {f"#r{i}": k for i, k in enumerate(remove)}
            names.update(rnames)
            expr += " REMOVE " + ", ".join(rnames)
        self._table.update_item(
            Key={keys.PK: keys.instance_pk(instance_id), keys.SK: keys.META},
            UpdateExpression=expr,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def list_for_org(self, org_id: str) -> list[StoredInstance]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "IndexName": keys.GSI1,
            **key_condition(keys.GSI1_PK, keys.org_instances_gsi_pk(org_id)),
        }
        while True:
            page = self._table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [StoredInstance.from_item(i) for i in items]

    def delete_all(self, instance_id: str) -> int:
        """Delete the instance and every item of its two partitions (cursors, last poll and
        blobs beside it; the event log in its own)."""
        deleted = 0
        with self._table.batch_writer() as batch:
            for pk in (keys.instance_pk(instance_id), keys.events_pk(instance_id)):
                kwargs: dict[str, Any] = {**key_condition(keys.PK, pk), "ProjectionExpression": "pk, sk"}
                while True:
                    page = self._table.query(**kwargs)
                    for item in page.get("Items", []):
                        batch.delete_item(Key={keys.PK: item[keys.PK], keys.SK: item[keys.SK]})
                        deleted += 1
                    if "LastEvaluatedKey" not in page:
                        break
                    kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return deleted
