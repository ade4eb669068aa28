"""The shared instance item round-trips through DynamoDB and KMS on moto's server."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from bcpoller.adapters.instance_table import InstanceNotFound, InstanceTable
from bcpoller.adapters.kms_crypto import KmsCrypto
from bcpoller.instances import MASK, StoredInstance, masked_configuration, split_secrets

from local.template_resources import StackResources


def _instance(crypto: KmsCrypto, config: dict) -> StoredInstance:
    public, secret = split_secrets(config)
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    return StoredInstance(
        instanceId="i-1",
        orgId="o-1",
        name="shop",
        configuration=public,
        secrets=crypto.encrypt(secret, "i-1"),
        createdDate=now,
        storeCreatedAt=now,
        resources=["orders"],
    )


def test_round_trip_keeps_secrets_encrypted(stack: StackResources) -> None:
    crypto = KmsCrypto(boto3.client("kms"), stack.kms_key_id)
    table = InstanceTable(boto3.resource("dynamodb").Table(stack.table_name))
    config = {
        "store.url": "http://127.0.0.1:8081/stores/abc",
        "access.token": "tok-SECRET",
        "pageSize": 1.5,
        "x": "",
    }
    table.put_new(_instance(crypto, config))

    raw = boto3.client("dynamodb").get_item(
        TableName=stack.table_name, Key={"pk": {"S": "INST#i-1"}, "sk": {"S": "META"}}
    )
    assert "tok-SECRET" not in str(raw["Item"])

    got = table.get("i-1")
    assert got.configuration == {"store.url": "http://127.0.0.1:8081/stores/abc", "pageSize": 1.5, "x": ""}
    crypto._cache.clear()
    assert crypto.cached(got.secrets, "i-1") is None  # not decrypted by this process yet
    assert crypto.decrypt(got.secrets, "i-1") == {"access.token": "tok-SECRET"}
    assert crypto.cached(got.secrets, "i-1") == {"access.token": "tok-SECRET"}
    assert crypto.cached(got.secrets, "i-2") is None  # the cache is keyed by the context too
    assert got.full_configuration(crypto.decrypt(got.secrets, "i-1"))["access.token"] == "tok-SECRET"
    assert masked_configuration(got.configuration, {"access.token"})["access.token"] == MASK
    with pytest.raises(Exception, match=r"InvalidCiphertext|AccessDenied|Invalid"):
        crypto._cache.clear()
        crypto.decrypt(got.secrets, "i-2")

    table.update_fields("i-1", {"eventsEnabled": True}, remove=("authError",))
    assert table.get("i-1", consistent=True).events_enabled is True
    assert [i.instance_id for i in table.list_for_org("o-1")] == ["i-1"]
    # The event log has a partition of its own: deleting the instance empties it too.
    boto3.resource("dynamodb").Table(stack.table_name).put_item(Item={"pk": "EVT#i-1", "sk": "EVENT#e-1"})
    assert table.delete_all("i-1") == 2
    with pytest.raises(InstanceNotFound):
        table.get("i-1")
