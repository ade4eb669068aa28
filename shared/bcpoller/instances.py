"""The connector instance as stored in the table (shared by API, poll and delivery).

The configuration is stored without its secrets; the secrets (store password or token,
OAuth secret and token, signature key, the Standard Webhooks signing secret) are one
KMS-encrypted JSON blob whose encryption context is the instance id.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from bcpoller import keys

# Configuration keys whose values are secrets: never stored in clear, never returned.
SECRET_CONFIG_KEYS: frozenset[str] = frozenset(
    {
        "password",
        "access.token",
        "oauth.api.secret",
        "oauth.access.token",
        "oauth.code",
        "event.notification.signature.key",
    }
)
SIGNING_SECRET = "signingSecret"  # noqa: S105 - a key name, not a secret; Standard Webhooks secret (whsec_...), kept with the secrets
# The wake-up route's per-instance secret (issue 18), kept with the secrets; never returned.
WAKE_SECRET = "wakeSecret"  # noqa: S105 - a key name, not a secret
MASK = "********"

AuthState = Literal["ok", "failed"]


class StoredInstance(BaseModel):
    instance_id: str = Field(alias="instanceId")
    org_id: str = Field(alias="orgId")
    name: str = ""
    tags: list[str] = Field(default_factory=list)
    element_key: str = Field("bigcommerce", alias="elementKey")
    configuration: dict[str, Any] = Field(default_factory=dict)  # secrets removed
    secrets: bytes = b""  # KMS ciphertext of a JSON object
    token_hash: str = Field("", alias="tokenHash")
    events_enabled: bool = Field(False, alias="eventsEnabled")
    auth_state: AuthState = Field("ok", alias="authState")
    auth_error: str | None = Field(None, alias="authError")
    refresh_minutes: int = Field(5, alias="refreshMinutes")
    created_date: datetime = Field(alias="createdDate")
    store_created_at: datetime = Field(alias="storeCreatedAt")  # store clock: first cursor
    callback_url: str | None = Field(None, alias="callbackUrl")
    resources: list[str] = Field(default_factory=list)
    notifications_disabled_reason: str | None = Field(None, alias="notificationsDisabledReason")
    # Instances made by a BigCommerce app install (api/apps.py): "uninstalled" once the
    # merchant removed the app (credentials erased, schedule gone, event log kept).
    install_state: Literal["installed", "uninstalled"] | None = Field(None, alias="installState")
    version: int = 0
    # The poller's lease and last poll live in their own small item (keys.POLL_STATUS),
    # so a poll never rewrites this one (nor its copy in gsi1).

    model_config = {"populate_by_name": True}

    def to_item(self) -> dict[str, Any]:
        """DynamoDB item (resource-style types). The configuration is a JSON string so
        that floats, empty strings and nesting survive unchanged."""
        data = self.model_dump(by_alias=True, exclude_none=True, mode="json", exclude={"secrets"})
        data["configuration"] = json.dumps(self.configuration, separators=(",", ":"))
        data["secrets"] = self.secrets
        data[keys.PK] = keys.instance_pk(self.instance_id)
        data[keys.SK] = keys.META
        data[keys.GSI1_PK] = keys.org_instances_gsi_pk(self.org_id)
        data[keys.GSI1_SK] = f"INST#{data['createdDate']}#{self.instance_id}"
        return data

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StoredInstance:
        data = {k: v for k, v in item.items() if k not in (keys.PK, keys.SK, keys.GSI1_PK, keys.GSI1_SK)}
        config = data.get("configuration")
        if isinstance(config, str):
            data["configuration"] = json.loads(config)
        secrets = data.get("secrets")
        if secrets is not None and not isinstance(secrets, bytes | bytearray):
            data["secrets"] = bytes(secrets.value if hasattr(secrets, "value") else secrets)
        # Numbers come back as Decimal (pydantic makes ints of them), and attributes this
        # model does not name (items written before the poller's state moved out of this
        # item still carry leaseOwner, leaseUntil, lastPoll) are ignored.
        return cls.model_validate(data)

    def full_configuration(self, secrets: dict[str, Any]) -> dict[str, Any]:
        """The configuration with its secrets put back (for the poller and the connector)."""
        merged = dict(self.configuration)
        merged.update({k: v for k, v in secrets.items() if k in SECRET_CONFIG_KEYS})
        return merged


def split_secrets(configuration: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(configuration without secrets, the secrets) of a request body's configuration."""
    public = {k: v for k, v in configuration.items() if k not in SECRET_CONFIG_KEYS}
    secret = {k: v for k, v in configuration.items() if k in SECRET_CONFIG_KEYS and v not in (None, "")}
    return public, secret


def masked_configuration(configuration: dict[str, Any], secret_keys_present: set[str]) -> dict[str, Any]:
    """The configuration as a response shows it: every secret that is set reads MASK."""
    shown = {k: v for k, v in configuration.items() if k not in SECRET_CONFIG_KEYS}
    shown.update({k: MASK for k in sorted(secret_keys_present & SECRET_CONFIG_KEYS)})
    return shown


# Signing-secret rotation (issue 20): the secret a rotation replaced keeps signing until
# ``previousSigningSecretUntil`` (ISO UTC, 24 h on), kept beside it in the encrypted
# secrets. Delivery decides from that time alone, with the secrets it already decrypted:
# no extra read, and nothing to clean up when the overlap ends.
PREVIOUS_SIGNING_SECRET = "previousSigningSecret"  # noqa: S105 - a key name
PREVIOUS_SIGNING_UNTIL = "previousSigningSecretUntil"
SIGNING_KEYS = (SIGNING_SECRET, PREVIOUS_SIGNING_SECRET, PREVIOUS_SIGNING_UNTIL)
