"""The wake-up attributes of an instance's last-poll item (``META#POLL``, in no index).

``wakeHash`` (SHA-256 of the per-instance secret; present only while wake-up is on),
``wakeUrl`` (the hooks' destination), ``wakeReq`` / ``wakeDone`` / ``wakeAt`` (the
coalescing counters, see bcpoller.wakeup.coalesce), ``wakeGap`` / ``wakeNext`` (the
spacing of a handed-over run, only until its run finishes) and ``hooks`` (the last check of the
store's hooks: ids, scopes, states, ``checkedAt``, ``error``). The secret itself is kept
KMS-encrypted with the instance's other secrets (instances.WAKE_SECRET).

Every write here is one UpdateItem that never touches the poll's own attributes (lease,
report), and the poll's writes never touch these.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from bcpoller import keys
from bcpoller.dynamo_values import epoch_decimal, plain
from bcpoller.wakeup.coalesce import PassMark, WakeTicket

WAKE_ATTRIBUTES = ("wakeHash", "wakeUrl", "wakeReq", "wakeDone", "wakeAt", "wakeGap", "wakeNext", "hooks")


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _number(value: Any, *, default: int) -> int:
    """A number from a ClientError's item: DynamoDB JSON ({"N": "5"}), as the resource layer
    does not deserialize error responses."""
    if isinstance(value, dict):
        value = value.get("N")
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


class WakeTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    def _key(self, instance_id: str) -> dict[str, str]:
        return {keys.PK: keys.instance_pk(instance_id), keys.SK: keys.POLL_STATUS}

    def _update(self, instance_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """The item after the update, or None when its condition failed."""
        try:
            answer = self._table.update_item(Key=self._key(instance_id), **kwargs)
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise
        return dict(answer.get("Attributes") or {})

    # -- the API: switch on and off -----------------------------------------------------

    def arm(self, instance_id: str, *, hashed_secret: str, url: str, hooks: dict[str, Any]) -> None:
        self._update(
            instance_id,
            UpdateExpression=(
                "SET wakeHash = :h, wakeUrl = :u, hooks = :hooks,"
                " wakeReq = if_not_exists(wakeReq, :zero), wakeDone = if_not_exists(wakeDone, :zero)"
            ),
            ExpressionAttributeValues={":h": hashed_secret, ":u": url, ":hooks": hooks, ":zero": 0},
        )

    def disarm(self, instance_id: str) -> None:
        self._update(
            instance_id,
            UpdateExpression="REMOVE " + ", ".join(WAKE_ATTRIBUTES),
            ConditionExpression="attribute_exists(pk)",
        )

    def view(self, instance_id: str) -> dict[str, Any] | None:
        """Wake-up state for status: the hooks and whether a run is pending (never the hash)."""
        names = {f"#a{i}": a for i, a in enumerate(("wakeHash", "wakeUrl", "wakeReq", "wakeDone", "hooks"))}
        item = self._table.get_item(
            Key=self._key(instance_id),
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        ).get("Item")
        if not item or "wakeHash" not in item:
            return None
        return {
            "url": str(item.get("wakeUrl") or ""),
            "pending": int(item.get("wakeReq", 0)) > int(item.get("wakeDone", 0)),
            "hooks": plain(item.get("hooks") or {}),
        }

    # -- the poll: hook checks ----------------------------------------------------------

    def record_hooks(self, instance_id: str, hooks: dict[str, Any]) -> None:
        self._update(
            instance_id,
            UpdateExpression="SET hooks = :hooks",
            ConditionExpression="attribute_exists(wakeHash)",
            ExpressionAttributeValues={":hooks": hooks},
        )

    # -- coalescing (bcpoller.wakeup.coalesce.WakeState) ----------------------------------

    def request(self, instance_id: str, hashed_secret: str, now: float) -> WakeTicket | None:
        item = self._update(
            instance_id,
            UpdateExpression="ADD wakeReq :one SET wakeAt = if_not_exists(wakeAt, :now)",
            # The secret's check and the count are one conditional write: a refused request
            # writes nothing, and an unknown instance (no item) fails the same way.
            ConditionExpression="wakeHash = :h",
            ExpressionAttributeValues={":one": 1, ":now": epoch_decimal(now), ":h": hashed_secret},
            ReturnValues="ALL_NEW",
        )
        if item is None:
            return None
        at = item.get("wakeAt")
        return WakeTicket(
            req=int(item.get("wakeReq", 0)),
            done=int(item.get("wakeDone", 0)),
            at=float(at) if at is not None else None,
        )

    def take_over(self, instance_id: str, seen_at: float | None, now: float) -> bool:
        condition = "attribute_not_exists(wakeAt)" if seen_at is None else "wakeAt = :seen"
        values: dict[str, Any] = {":now": epoch_decimal(now)}
        if seen_at is not None:
            values[":seen"] = epoch_decimal(seen_at)
        return (
            self._update(
                instance_id,
                UpdateExpression="SET wakeAt = :now",
                ConditionExpression=f"attribute_exists(wakeHash) AND {condition}",
                ExpressionAttributeValues=values,
            )
            is not None
        )

    def start_pass(self, instance_id: str, now: float) -> PassMark | None:
        item = self._update(
            instance_id,
            UpdateExpression="SET wakeAt = :now",
            ConditionExpression="attribute_exists(wakeHash)",
            ExpressionAttributeValues={":now": epoch_decimal(now)},
            ReturnValues="ALL_NEW",
        )
        if item is None:
            return None
        next_at = item.get("wakeNext")
        return PassMark(
            req=int(item.get("wakeReq", 0)),
            done=int(item.get("wakeDone", 0)),
            gap=float(item.get("wakeGap", 0)),
            next_at=float(next_at) if next_at is not None else None,
        )

    def finish(self, instance_id: str, seq: int) -> int | None:
        try:
            self._table.update_item(
                Key=self._key(instance_id),
                UpdateExpression="SET wakeDone = :seq REMOVE wakeAt, wakeGap, wakeNext",
                ConditionExpression="wakeReq = :seq",
                ExpressionAttributeValues={":seq": seq},
                # A refused finish says how many requests came in during the pass, in the
                # same write (the spacing of the next pass follows their rate).
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            old: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
            return _number(old.get("wakeReq"), default=seq + 1)
        return None

    def hand_over(self, instance_id: str, gap: float = 0.0, next_at: float | None = None) -> None:
        # One write: stale at once (wakeAt 0) and the spacing for the runner taking over.
        values: dict[str, Any] = {":zero": 0, ":gap": epoch_decimal(gap)}
        expression = "SET wakeAt = :zero, wakeGap = :gap"
        if next_at is None:
            expression += " REMOVE wakeNext"
        else:
            expression += ", wakeNext = :next"
            values[":next"] = epoch_decimal(next_at)
        self._update(
            instance_id,
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(wakeHash)",
            ExpressionAttributeValues=values,
        )
