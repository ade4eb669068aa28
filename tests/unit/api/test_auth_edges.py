"""Authenticator edges found by mutation testing: an Element token that is not an
instance id is refused before any lookup, every refusal reads the same, a user item
without a user id, and a 404 message that quotes at most 64 characters of the id."""

from __future__ import annotations

import pytest
from bcpoller.api.auth import REFUSED, Authenticator, Principal, hash_secret, visible_instance
from bcpoller.api.errors import NotFound, Unauthorized

from tests.unit.api.helpers import FakeSecrets

INSTANCE = "0b8f7a52-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


class Instances:
    """No instance exists; every lookup is recorded."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def get(self, instance_id: str, *, consistent: bool = False) -> object:
        self.asked.append(instance_id)
        raise LookupError(instance_id)


def authenticator(instances: Instances) -> Authenticator:
    secrets = FakeSecrets()
    secrets.add_org("o-1", "org-secret", "user-secret")
    secrets.items[hash_secret("anon-user")] = {"kind": "user", "orgId": "o-1"}
    return Authenticator(secrets, instances)  # type: ignore[arg-type]


@pytest.mark.parametrize("token", ["not-an-id.abc", "x" * 300 + ".abc", f"{INSTANCE}abc"])
def test_a_token_that_names_no_instance_id_is_refused_without_a_lookup(token: str) -> None:
    instances = Instances()
    with pytest.raises(Unauthorized) as info:
        authenticator(instances).authenticate(f"Element {token}")
    assert str(info.value) == REFUSED and instances.asked == []


def test_a_token_of_an_unknown_instance_gets_the_same_refusal() -> None:
    instances = Instances()
    with pytest.raises(Unauthorized) as info:
        authenticator(instances).authenticate(f"Element {INSTANCE}.abc")
    assert str(info.value) == REFUSED and instances.asked == [INSTANCE]


def test_a_user_item_without_a_user_id_has_none() -> None:
    who = authenticator(Instances()).authenticate("User anon-user, Organization org-secret")
    assert who == Principal(org_id="o-1", user_id=None)


def test_a_404_quotes_at_most_64_characters_of_a_bad_id() -> None:
    with pytest.raises(NotFound) as info:
        visible_instance(Principal(org_id="o-1"), Instances(), "y" * 64 + "zzz")  # type: ignore[arg-type]
    assert str(info.value) == f"instance {'y' * 64!r} not found"
