from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from bcpoller.delivery.signing import USER_AGENT, callback_headers, elements_signature
from standardwebhooks import Webhook, WebhookVerificationError

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
BODY = '{"message":{"eventId":"e-1","text":"caf\u00e9"}}'


def test_elements_signature_is_base64_hmac_sha256_of_the_body() -> None:
    expected = base64.b64encode(hmac.new(b"key", BODY.encode(), hashlib.sha256).digest()).decode()
    assert elements_signature("key", BODY) == "sha256=" + expected
    assert elements_signature("other", BODY) != elements_signature("key", BODY)


def test_headers_verify_with_standardwebhooks() -> None:
    headers = callback_headers(event_id="e-1", body=BODY, signature_key="key", signing_secret=SECRET)
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Elements-Webhook-Id"] == headers["webhook-id"] == "e-1"
    assert Webhook(SECRET).verify(BODY.encode(), headers) == {"message": {"eventId": "e-1", "text": "café"}}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace("e-1", "e-2"), headers)


def test_timestamp_is_the_attempt_time() -> None:
    moment = datetime(2026, 11, 28, 12, 0, 5, tzinfo=UTC)
    headers = callback_headers(event_id="e", body=BODY, signature_key=None, signing_secret=SECRET, now=moment)
    assert headers["webhook-timestamp"] == str(int(moment.timestamp()))
    assert headers["webhook-signature"] == Webhook(SECRET).sign("e", moment, BODY)


def test_without_secrets_only_the_plain_headers() -> None:
    headers = callback_headers(event_id="e", body=BODY, signature_key=None, signing_secret=None)
    assert set(headers) == {"Content-Type", "User-Agent", "Elements-Webhook-Id"}
