"""The instance item's exact shape in the table: keys, compact configuration, no empty
fields, the secrets blob as bytes, numbers back as ints (what moto/DynamoDB hand back)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from bcpoller.instances import StoredInstance
from boto3.dynamodb.types import Binary

WHEN = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _instance(**changes: object) -> StoredInstance:
    data: dict[str, object] = {
        "instanceId": "i-1",
        "orgId": "o-1",
        "configuration": {"store.hash": "abc", "n": 1.5, "x": ""},
        "secrets": b"\x00cipher",
        "createdDate": WHEN,
        "storeCreatedAt": WHEN,
        "refreshMinutes": 7,
        "version": 3,
    }
    data.update(changes)
    return StoredInstance.model_validate(data)


def test_to_item_keys_and_values() -> None:
    item = _instance().to_item()
    assert (item["pk"], item["sk"]) == ("INST#i-1", "META")
    assert item["gsi1pk"] == "ORG#o-1"
    assert item["gsi1sk"] == "INST#2026-11-28T12:00:00Z#i-1"
    # Compact JSON: the item is paid by the byte.
    assert item["configuration"] == '{"store.hash":"abc","n":1.5,"x":""}'
    assert item["secrets"] == b"\x00cipher" and isinstance(item["secrets"], bytes)
    # JSON mode (dates as text, DynamoDB has no datetime) and no None attributes.
    assert item["createdDate"] == "2026-11-28T12:00:00Z"
    assert "callbackUrl" not in item and "authError" not in item
    assert json.loads(item["configuration"]) == {"store.hash": "abc", "n": 1.5, "x": ""}


@pytest.mark.parametrize("blob", [Binary(b"\x00cipher"), bytearray(b"\x00cipher"), b"\x00cipher"])
def test_from_item_reads_what_dynamodb_hands_back(blob: object) -> None:
    item = _instance().to_item()
    item.update(
        secrets=blob,
        refreshMinutes=Decimal(7),
        version=Decimal(3),
        leaseOwner="old",
        leaseUntil=Decimal(5),
        lastPoll="{}",
    )
    back = StoredInstance.from_item(item)
    assert back.secrets == b"\x00cipher" and isinstance(back.secrets, bytes)
    assert back.refresh_minutes == 7 and type(back.refresh_minutes) is int
    assert back.version == 3 and type(back.version) is int
    assert back.configuration == {"store.hash": "abc", "n": 1.5, "x": ""}
    assert back == _instance()
