"""The instance as delivery sees it: callback URL, on/off, decrypted signing secrets."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from bcpoller.adapters.instance_table import InstanceNotFound, InstanceTable
from bcpoller.adapters.kms_crypto import KmsCrypto
from bcpoller.instances import StoredInstance


class DeliveryInstances:
    def __init__(self, table: InstanceTable, crypto: KmsCrypto) -> None:
        self._table = table
        self._crypto = crypto

    def get(self, instance_id: str) -> StoredInstance | None:
        try:
            return self._table.get(instance_id)
        except InstanceNotFound:
            return None

    def secrets(self, instance: StoredInstance) -> dict[str, Any]:
        return self._crypto.decrypt(instance.secrets, instance.instance_id)

    def cached_secrets(self, instance: StoredInstance) -> dict[str, Any] | None:
        return self._crypto.cached(instance.secrets, instance.instance_id)

    def turn_off_notifications(self, instance_id: str, reason: str) -> None:
        try:
            self._table.update_fields(
                instance_id, {"eventsEnabled": False, "notificationsDisabledReason": reason}
            )
        except ClientError as exc:
            # Deleted meanwhile: nothing left to turn off.
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
