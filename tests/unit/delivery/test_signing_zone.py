"""The Standard Webhooks signature does not depend on the machine's time zone: the
library signs ``timestamp.replace(tzinfo=UTC)``, so the moment must be in UTC already."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from bcpoller.delivery.signing import callback_headers
from standardwebhooks import Webhook

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_signature_verifies_on_a_machine_far_from_utc(far_from_utc: None) -> None:
    now = datetime.now(timezone(timedelta(hours=-5)))
    headers = callback_headers(
        event_id="evt_1", body='{"a":1}', signature_key=None, signing_secret=SECRET, now=now
    )
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    Webhook(SECRET).verify('{"a":1}', headers)  # raises when the signed timestamp differs
    assert datetime.now(UTC) - now < timedelta(minutes=1)
