"""Headers of a callback POST: the Elements signature and the Standard Webhooks trio."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

from standardwebhooks import Webhook

USER_AGENT = "bigcommerce-polling-events/1.0 (+callback delivery)"


def elements_signature(key: str, body: str) -> str:
    """Open Connectors' header value: sha256= + base64(HMAC-SHA256(key, body))."""
    digest = hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def callback_headers(
    *,
    event_id: str,
    body: str,
    signature_key: str | None,
    signing_secret: str | None,
    now: datetime | None = None,
    previous_secret: str | None = None,
    previous_until: datetime | None = None,
) -> dict[str, str]:
    """Every header of one attempt. The timestamp is per attempt (receivers reject old
    ones), the id is the eventId (receivers dedupe on it)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Elements-Webhook-Id": event_id,
    }
    if signature_key:
        headers["Elements-Webhook-Signature"] = elements_signature(signature_key, body)
    if signing_secret:
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        headers["webhook-id"] = event_id
        headers["webhook-timestamp"] = str(int(moment.timestamp()))
        headers["webhook-signature"] = Webhook(signing_secret).sign(event_id, moment, body)
        if previous_secret and previous_until is not None and moment < previous_until:
            # A rotation's overlap: Standard Webhooks lists several signatures, space
            # separated; a receiver still holding the old secret verifies one of them.
            headers["webhook-signature"] += " " + Webhook(previous_secret).sign(event_id, moment, body)
    return headers


def previous_signing(secrets: dict[str, object]) -> tuple[str | None, datetime | None]:
    """The replaced secret and the end of its overlap, from the instance's secrets."""
    secret, until = secrets.get("previousSigningSecret"), secrets.get("previousSigningSecretUntil")
    if not isinstance(secret, str) or not secret or not isinstance(until, str):
        return None, None
    try:
        end = datetime.fromisoformat(until)
    except ValueError:
        return None, None
    return secret, end if end.tzinfo else end.replace(tzinfo=UTC)
