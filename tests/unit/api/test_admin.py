"""create-org prints secrets once and stores only their hashes."""

from __future__ import annotations

from typing import Any

from bcpoller.adapters.auth_table import NewOrganization
from bcpoller.api.admin import create_org
from bcpoller.api.auth import Authenticator, hash_secret

from tests.unit.api.helpers import FakeInstances


class RecordingAuthTable:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def create_organization(
        self, name: str, *, org_secret_hash: str, user_secret_hash: str
    ) -> NewOrganization:
        self.items[org_secret_hash] = {"kind": "org", "orgId": "o1", "userId": "u1"}
        self.items[user_secret_hash] = {"kind": "user", "orgId": "o1", "userId": "u1"}
        return NewOrganization("o1", "u1", name, org_secret_hash, user_secret_hash)

    def get_secret(self, secret_hash: str) -> dict[str, Any] | None:
        return self.items.get(secret_hash)


def test_create_org_secrets_authenticate_and_are_stored_hashed() -> None:
    table = RecordingAuthTable()
    created = create_org(table, "Acme")
    assert created["organizationSecret"] != created["userSecret"]
    assert len(created["organizationSecret"]) >= 40
    assert hash_secret(created["organizationSecret"]) in table.items
    stored = repr(table.items)
    assert created["organizationSecret"] not in stored and created["userSecret"] not in stored
    principal = Authenticator(table, FakeInstances()).authenticate(created["authorization"])
    assert principal.org_id == "o1" and principal.instance_id is None
