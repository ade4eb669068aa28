"""``Authorization: User <secret>, Organization <secret>[, Element <token>]``.

Organization and user secrets are looked up by their sha256 (``SECRET#{hash}`` items); an
instance's Element token is ``{instanceId}.{random}`` so the instance is found by its id
and the token's hash compared in constant time -- no token index is needed.
``Session <token>`` is the short-lived session a BigCommerce app's load callback gives a
store user (``SECRET#`` item of kind ``session`` with ``expiresAt``): it reaches that
store's instance only, like an Element token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bcpoller.api.errors import Forbidden, NotFound, Unauthorized
from bcpoller.instances import StoredInstance

_PART = re.compile(r"^\s*(User|Organization|Element|Session)\s+(\S+)\s*$", re.IGNORECASE)
# Instance ids are canonical UUIDs: anything else cannot exist (nor reach DynamoDB's key limits).
INSTANCE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_CANON = {"user": "User", "organization": "Organization", "element": "Element", "session": "Session"}
# Every refused credential gets this one message: saying which secret was wrong, or that a
# valid token belongs to another organization, would let a caller test secrets one by one.
REFUSED = "the credentials are not valid"
EXPECTED = "expected 'Authorization: User <secret>, Organization <secret>[, Element <token>]'"


class SecretStore(Protocol):
    def get_secret(self, secret_hash: str) -> dict[str, Any] | None: ...


class InstanceReader(Protocol):
    def get(self, instance_id: str, *, consistent: bool = False) -> StoredInstance: ...


@dataclass(frozen=True)
class Principal:
    org_id: str
    user_id: str | None = None
    # Set when only an Element token was given: the caller reaches this instance alone.
    instance_id: str | None = None

    def require_org(self) -> None:
        if self.instance_id is not None:
            raise Forbidden(
                "this route needs User and Organization credentials; "
                "an Element token alone reaches only its own instance"
            )

    def can_see(self, instance: StoredInstance) -> bool:
        if not hmac.compare_digest(instance.org_id, self.org_id):
            return False
        return self.instance_id is None or self.instance_id == instance.instance_id


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_element_token(instance_id: str) -> str:
    return f"{instance_id}.{secrets.token_urlsafe(32)}"


def parse_authorization(header: str | None) -> dict[str, str]:
    if not header or not header.strip():
        raise Unauthorized(f"missing Authorization header; {EXPECTED}")
    parts: dict[str, str] = {}
    for chunk in header.split(","):
        match = _PART.match(chunk)
        if not match:
            raise Unauthorized(f"malformed Authorization header; {EXPECTED}")
        kind = _CANON[match.group(1).lower()]
        if kind in parts:
            raise Unauthorized(f"Authorization header names {kind} twice")
        parts[kind] = match.group(2)
    return parts


class Authenticator:
    def __init__(
        self, secrets_store: SecretStore, instances: InstanceReader, clock: Callable[[], float] = time.time
    ) -> None:
        self._secrets = secrets_store
        self._instances = instances
        self._clock = clock

    def authenticate(self, header: str | None) -> Principal:
        parts = parse_authorization(header)
        if "Session" in parts:
            if len(parts) > 1:
                raise Unauthorized("a Session token stands alone in the Authorization header")
            return self._session(parts["Session"])
        user, org, element = parts.get("User"), parts.get("Organization"), parts.get("Element")
        if user is None and org is None:
            if element is None:
                raise Unauthorized(f"no credentials; {EXPECTED}")
            instance = self._element_instance(element)
            return Principal(org_id=instance.org_id, instance_id=instance.instance_id)
        if user is None or org is None:
            raise Unauthorized(f"both User and Organization secrets are required; {EXPECTED}")
        org_item = self._secrets.get_secret(hash_secret(org))
        user_item = self._secrets.get_secret(hash_secret(user))
        if not org_item or org_item.get("kind") != "org":
            raise Unauthorized(REFUSED)
        if not user_item or user_item.get("kind") != "user":
            raise Unauthorized(REFUSED)
        org_id = str(org_item["orgId"])
        if not hmac.compare_digest(str(user_item.get("orgId", "")), org_id):
            raise Unauthorized(REFUSED)
        if element is not None:
            instance = self._element_instance(element)
            if instance.org_id != org_id:
                raise Unauthorized(REFUSED)
        return Principal(org_id=org_id, user_id=str(user_item.get("userId", "")) or None)

    def _session(self, token: str) -> Principal:
        item = self._secrets.get_secret(hash_secret(token))
        if not item or item.get("kind") != "session" or not item.get("instanceId"):
            raise Unauthorized(
                "the session is not valid; open the app from the BigCommerce control panel again"
            )
        # DynamoDB's TTL deletes expired items only eventually: the expiry is checked here.
        if float(item.get("expiresAt", 0)) <= self._clock():
            raise Unauthorized(
                "the session has expired; open the app from the BigCommerce control panel again"
            )
        return Principal(org_id=str(item["orgId"]), instance_id=str(item["instanceId"]))

    def _element_instance(self, token: str) -> StoredInstance:
        instance_id, dot, _ = token.partition(".")
        if not dot or not INSTANCE_ID.match(instance_id):
            raise Unauthorized(REFUSED)
        try:
            instance = self._instances.get(instance_id)
        except LookupError:
            raise Unauthorized(REFUSED) from None
        if not instance.token_hash or not hmac.compare_digest(instance.token_hash, hash_secret(token)):
            raise Unauthorized(REFUSED)
        return instance


def visible_instance(principal: Principal, instances: InstanceReader, instance_id: str) -> StoredInstance:
    """The instance if the caller may see it; otherwise 404 (never 403: another
    organization's ids must not be confirmable)."""
    if not INSTANCE_ID.match(instance_id):
        raise NotFound(f"instance {instance_id[:64]!r} not found")
    try:
        instance = instances.get(instance_id)
    except LookupError:
        raise NotFound(f"instance {instance_id!r} not found") from None
    if not principal.can_see(instance):
        raise NotFound(f"instance {instance_id!r} not found")
    return instance
