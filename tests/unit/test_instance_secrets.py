"""The secrets blob survives the item whatever its bytes are, and only secret keys with
a value are split from the public configuration (found by mutation testing)."""

from __future__ import annotations

from datetime import UTC, datetime

from bcpoller.instances import StoredInstance, split_secrets

WHEN = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
# KMS ciphertext is arbitrary binary: not UTF-8, so a JSON dump of it would fail.
CIPHERTEXT = bytes(range(256))


def _instance(**changes: object) -> StoredInstance:
    data: dict[str, object] = {
        "instanceId": "i-1",
        "orgId": "o-1",
        "createdDate": WHEN,
        "storeCreatedAt": WHEN,
    }
    data.update(changes)
    return StoredInstance.model_validate(data)


def test_any_ciphertext_is_stored_as_bytes() -> None:
    item = _instance(secrets=CIPHERTEXT).to_item()
    assert item["secrets"] == CIPHERTEXT
    assert StoredInstance.from_item(item).secrets == CIPHERTEXT


def test_an_item_without_secrets_reads_as_none() -> None:
    item = _instance().to_item()
    del item["secrets"]
    assert StoredInstance.from_item(item).secrets == b""


def test_a_buffer_of_ciphertext_reads_as_bytes() -> None:
    item = {**_instance().to_item(), "secrets": memoryview(CIPHERTEXT)}
    assert StoredInstance.from_item(item).secrets == CIPHERTEXT


def test_only_secret_keys_with_a_value_are_split_off() -> None:
    public, secret = split_secrets(
        {
            "store.url": "https://shop.example",
            "password": "pw",
            "access.token": "",
            "oauth.api.secret": None,
            "x": "",
        }
    )
    assert secret == {"password": "pw"}
    assert public == {"store.url": "https://shop.example", "x": ""}
