"""Delivery idempotency on eventId with Powertools' DynamoDBPersistenceLayer.

Why not ``@idempotent_function``: in Powertools 3.37 it cannot wrap a coroutine (it would
record the un-awaited coroutine as the result before any POST happened), and delivery is
async. So this drives the same persistence layer through its public steps, exactly as
Powertools' IdempotencyHandler does: save_inprogress before the POST, save_success after
a 2xx, delete_record after anything else -- a failed attempt is never recorded as done.

The key prefix is fixed (not the Lambda's name) so that the API function can reset the
record of an event it replays.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bcpoller import keys
from bcpoller.delivery.ports import Claim

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

KEY_PREFIX = "delivery"
_ATTEMPTS = 3  # a record can vanish or expire between the put and the get: look again


def persistence_layer(
    table_name: str, *, expires_after_seconds: int, client: Any = None
) -> DynamoDBPersistenceLayer:
    # Powertools' idempotency package imports boto3 (~100 ms): loaded with the first claim.
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    layer = DynamoDBPersistenceLayer(
        table_name=table_name,
        key_attr=keys.PK,
        sort_key_attr=keys.SK,
        static_pk_value=keys.IDEMPOTENCY_PK,
        # The table's TTL attribute: DynamoDB removes expired records by itself.
        expiry_attr=keys.TTL,
        boto3_client=client,
    )
    # No local cache: a warm Lambda would otherwise refuse an event that replay reset.
    config = IdempotencyConfig(
        expires_after_seconds=expires_after_seconds, use_local_cache=False, raise_on_no_idempotency_key=True
    )
    layer.configure(config, key_prefix=KEY_PREFIX)
    return layer


class DeliveryIdempotency:
    """Async facade (boto3 is blocking: each call runs in a worker thread so a batch's
    records claim and complete concurrently). The persistence layer is made by
    ``make_layer`` on first use, so a cold start does not import boto3."""

    def __init__(self, make_layer: Callable[[], DynamoDBPersistenceLayer]) -> None:
        self._make_layer = make_layer
        self._made: DynamoDBPersistenceLayer | None = None
        self._lock = threading.Lock()
        self.writes = 0

    @property
    def _layer(self) -> DynamoDBPersistenceLayer:
        if self._made is None:
            with self._lock:  # a batch's records claim from worker threads at once
                if self._made is None:
                    self._made = self._make_layer()
        return self._made

    def claim_sync(self, event_id: str, *, remaining_ms: int) -> Claim:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyItemAlreadyExistsError,
            IdempotencyItemNotFoundError,
        )
        from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS

        for _ in range(_ATTEMPTS):
            try:
                self.writes += 1
                # The in-progress record expires with the invocation, so a crash mid-POST
                # does not block the event until the record's TTL.
                self._layer.save_inprogress(data=_data(event_id), remaining_time_in_millis=remaining_ms)
                return Claim.NEW
            except IdempotencyItemAlreadyExistsError as exc:
                record = exc.old_data_record
                if record is None:
                    try:
                        record = self._layer.get_record(data=_data(event_id))
                    except IdempotencyItemNotFoundError:
                        continue
                if record is None:
                    continue
                status = record.status
                if status == STATUS_CONSTANTS["COMPLETED"]:
                    return Claim.DONE
                if status == STATUS_CONSTANTS["EXPIRED"]:
                    continue
                return Claim.IN_PROGRESS
        return Claim.IN_PROGRESS

    async def claim(self, event_id: str, *, remaining_ms: int) -> Claim:
        return await asyncio.to_thread(self.claim_sync, event_id, remaining_ms=remaining_ms)

    async def complete(self, event_id: str, result: dict[str, Any]) -> None:
        self.writes += 1
        await asyncio.to_thread(self._layer.save_success, _data(event_id), result)

    async def release(self, event_id: str) -> None:
        await asyncio.to_thread(self.reset, event_id)

    def reset(self, event_id: str) -> None:
        self.writes += 1
        self._layer.delete_record(data=_data(event_id), exception=_Reset())


def _data(event_id: str) -> dict[str, Any]:
    """What Powertools hashes into the record's key (the same in every function)."""
    return {"eventId": event_id}


class _Reset(Exception):
    """delete_record wants the exception that caused it (it only logs its name)."""
