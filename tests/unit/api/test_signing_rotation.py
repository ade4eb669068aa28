"""Signing-secret rotation (issue 20): the new secret is returned once; for 24 h every
delivery carries a signature by each secret, so a receiver holding either verifies it;
after that only the new secret signs. The 24 h pass on the service's clock (a fake);
the signatures are checked with the standardwebhooks library a receiver would use."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from bcpoller.delivery.signing import callback_headers, previous_signing
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.unit.api.helpers import World, call
from tests.unit.api.test_routes import ORG_A, ORG_B, create, world  # noqa: F401 - the fixture

BODY = json.dumps({"message": {"events": [{"objectId": "7"}]}})


def delivery_headers(world: World, instance_id: str, now: datetime) -> dict[str, str]:  # noqa: F811
    """The headers DeliveryFunction would send at ``now`` with the secrets it decrypts."""
    secrets = world.crypto.decrypt(world.instances.items[instance_id].secrets, instance_id)
    previous_secret, previous_until = previous_signing(secrets)
    return callback_headers(
        event_id="evt-1",
        body=BODY,
        signature_key=None,
        signing_secret=secrets["signingSecret"],
        now=now,
        previous_secret=previous_secret,
        previous_until=previous_until,
    )


def verifies(secret: str, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(BODY, headers)
    except WebhookVerificationError:
        return False
    return True


def test_both_secrets_verify_for_24_hours_then_only_the_new_one(world: World) -> None:  # noqa: F811
    created = create(world)
    instance_id, old = created["id"], created["signingSecret"]
    now = datetime.now(UTC).replace(microsecond=0)
    rotated_at = now - timedelta(hours=23, minutes=59)
    world.service.clock = lambda: rotated_at

    status, answer, _ = call(
        world.app, "POST", f"/instances/{instance_id}/signing-secret/rotate", headers=ORG_A
    )
    assert status == 200, answer
    new = answer["signingSecret"]
    assert new.startswith("whsec_") and new != old
    assert datetime.fromisoformat(answer["previousValidUntil"]) == rotated_at + timedelta(hours=24)

    # Within the overlap (a minute before it ends): two v1 signatures, either secret verifies.
    during = delivery_headers(world, instance_id, now)
    assert len(during["webhook-signature"].split(" ")) == 2
    assert verifies(old, during) and verifies(new, during)

    # The new secret is shown once: never in the instance's own answers.
    _, got, _ = call(world.app, "GET", f"/instances/{instance_id}", headers=ORG_A)
    assert new not in json.dumps(got) and old not in json.dumps(got)


def test_overlap_ends_24_hours_after_the_rotation(world: World) -> None:  # noqa: F811
    created = create(world)
    instance_id = created["id"]
    now = datetime.now(UTC).replace(microsecond=0)
    world.service.clock = lambda: now - timedelta(hours=24, seconds=1)
    _, answer, _ = call(world.app, "POST", f"/instances/{instance_id}/signing-secret/rotate", headers=ORG_A)
    headers = delivery_headers(world, instance_id, now)
    assert verifies(answer["signingSecret"], headers)
    assert not verifies(created["signingSecret"], headers)


def test_an_edit_keeps_the_overlap(world: World) -> None:  # noqa: F811
    created = create(world)
    instance_id = created["id"]
    now = datetime.now(UTC).replace(microsecond=0)
    world.service.clock = lambda: now
    call(world.app, "POST", f"/instances/{instance_id}/signing-secret/rotate", headers=ORG_A)
    status, _, _ = call(
        world.app, "PATCH", f"/instances/{instance_id}", headers=ORG_A, body={"name": "renamed"}
    )
    assert status == 200
    assert verifies(created["signingSecret"], delivery_headers(world, instance_id, now))


@pytest.mark.parametrize("headers", [ORG_B, {}])
def test_only_the_owner_rotates(world: World, headers: dict[str, str]) -> None:  # noqa: F811
    created = create(world)
    status, _, _ = call(
        world.app, "POST", f"/instances/{created['id']}/signing-secret/rotate", headers=headers
    )
    assert status in (401, 404)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({}, (None, None)),
        (
            {"previousSigningSecret": "", "previousSigningSecretUntil": "2026-11-30T00:00:00+00:00"},
            (None, None),
        ),
        ({"previousSigningSecret": "whsec_x", "previousSigningSecretUntil": None}, (None, None)),
        ({"previousSigningSecret": 5, "previousSigningSecretUntil": "2026-11-30T00:00:00"}, (None, None)),
        ({"previousSigningSecret": "whsec_x", "previousSigningSecretUntil": "tomorrow"}, (None, None)),
        (
            {"previousSigningSecret": "whsec_x", "previousSigningSecretUntil": "2026-11-30T00:00:00"},
            ("whsec_x", datetime(2026, 11, 30, tzinfo=UTC)),  # no zone written: UTC
        ),
        (
            {"previousSigningSecret": "whsec_x", "previousSigningSecretUntil": "2026-11-30T02:00:00+02:00"},
            ("whsec_x", datetime(2026, 11, 30, tzinfo=UTC)),  # its own zone is kept
        ),
    ],
)
def test_the_previous_secret_is_read_strictly(
    stored: dict[str, object], expected: tuple[object, object]
) -> None:
    got = previous_signing(stored)
    assert got == expected
    if got[1] is not None:
        assert got[1].utcoffset() is not None


def test_the_old_secret_stops_signing_at_the_end_of_its_overlap() -> None:
    end = datetime(2026, 11, 30, tzinfo=UTC)
    new, old = "whsec_" + "A" * 32, "whsec_" + "B" * 32

    def signatures(at: datetime) -> list[str]:
        headers = callback_headers(
            event_id="e", body="{}", signature_key=None, signing_secret=new, now=at,
            previous_secret=old, previous_until=end,
        )  # fmt: skip
        return headers["webhook-signature"].split(" ")

    assert len(signatures(end - timedelta(microseconds=1))) == 2
    assert len(signatures(end)) == 1
