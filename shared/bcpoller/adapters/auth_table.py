"""Organizations, users and their hashed secrets in the table (``ORG#``, ``SECRET#`` items)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bcpoller import keys

_SECRET_SK = "SECRET"  # noqa: S105 - a sort key, not a password
_ORG_SK = "ORG"


@dataclass(frozen=True)
class NewOrganization:
    org_id: str
    user_id: str
    name: str
    org_secret_hash: str
    user_secret_hash: str


class AuthTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    def get_secret(self, secret_hash: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={keys.PK: keys.secret_pk(secret_hash), keys.SK: _SECRET_SK}).get(
            "Item"
        )
        return dict(item) if item else None

    def create_organization(
        self, name: str, *, org_secret_hash: str, user_secret_hash: str
    ) -> NewOrganization:
        """One transaction: the organization and both secret items appear together or not
        at all (a half-made organization would have a secret that opens nothing)."""
        org_id = uuid.uuid4().hex
        user_id = uuid.uuid4().hex
        now = datetime.now(UTC).isoformat()
        # The resource's own client: it serializes plain Python values like the Table does.
        client = self._table.meta.client
        name_ = self._table.name
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": name_,
                        "Item": {
                            keys.PK: keys.org_pk(org_id),
                            keys.SK: _ORG_SK,
                            "name": name,
                            "createdDate": now,
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                *[
                    {
                        "Put": {
                            "TableName": name_,
                            "Item": {
                                keys.PK: keys.secret_pk(digest),
                                keys.SK: _SECRET_SK,
                                "kind": kind,
                                "orgId": org_id,
                                "userId": user_id,
                                "createdDate": now,
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                    for kind, digest in (("org", org_secret_hash), ("user", user_secret_hash))
                ],
            ]
        )
        return NewOrganization(org_id, user_id, name, org_secret_hash, user_secret_hash)
