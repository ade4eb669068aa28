"""Known-answer vectors for both signatures: fixed bytes in, fixed signature out.

The other signing tests recompute the HMAC the way the code does; these do not, so a
change of key encoding, body encoding, separator or digest breaks them."""

from __future__ import annotations

from datetime import UTC, datetime

from bcpoller.delivery.signing import callback_headers, elements_signature


def test_standard_webhooks_published_example() -> None:
    # The example of the Standard Webhooks specification (secret, id, timestamp, payload).
    headers = callback_headers(
        event_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        body='{"test": 2432232314}',
        signature_key=None,
        signing_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        now=datetime.fromtimestamp(1614265330, UTC),
    )
    assert headers["webhook-id"] == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    assert headers["webhook-timestamp"] == "1614265330"
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_elements_signature_matches_openssl() -> None:
    # printf '%s' '{"message":{"eventId":"e1"}}' | openssl dgst -sha256 -hmac 'key-for-kat' -binary | base64
    assert (
        elements_signature("key-for-kat", '{"message":{"eventId":"e1"}}')
        == "sha256=qlp6B71UwHbhnJF38ySQzW6waLXhe5bWTmQoWkuoYQk="
    )


def test_elements_signature_signs_utf8_bytes() -> None:
    # printf '%s' '{"name":"Zoë"}' | openssl dgst -sha256 -hmac 'clé' -binary | base64
    signature = elements_signature("clé", '{"name":"Zoë"}')
    assert signature == "sha256=P4WZjvuPS8/6OR8zRNWhLK1hOu/UBo+Pjv6LbD55mmo="
