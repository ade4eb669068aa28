"""Authenticator: who the caller is, and what each refusal says (a refused secret always
gets the same words, so an answer never tells which part was wrong)."""

from __future__ import annotations

import pytest
from bcpoller.api.auth import (
    EXPECTED,
    REFUSED,
    Authenticator,
    Principal,
    hash_secret,
    new_element_token,
    new_secret,
)
from bcpoller.api.errors import Forbidden, Unauthorized

from tests.unit.api.helpers import FakeSecrets

NOW = 1_800_000_000.0


class Instances:
    def get(self, instance_id: str, *, consistent: bool = False) -> object:
        raise LookupError(instance_id)


def auth(**items: dict[str, object]) -> Authenticator:
    secrets = FakeSecrets()
    secrets.add_org("o-1", "org-secret", "user-secret")
    secrets.add_org("o-2", "org2-secret", "user2-secret")
    for token, item in items.items():
        secrets.items[hash_secret(token)] = item
    return Authenticator(secrets, Instances(), clock=lambda: NOW)  # type: ignore[arg-type]


def refusal(header: str | None, authenticator: Authenticator | None = None) -> str:
    with pytest.raises(Unauthorized) as info:
        (authenticator or auth()).authenticate(header)
    return str(info.value)


def test_a_user_of_the_organization_is_that_organization() -> None:
    who = auth().authenticate("User user-secret, Organization org-secret")
    assert who == Principal(org_id="o-1", user_id="u-o-1")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, f"missing Authorization header; {EXPECTED}"),
        ("Bearer x", f"malformed Authorization header; {EXPECTED}"),
        ("User a, User b", "Authorization header names User twice"),
        ("Session s, User a", "a Session token stands alone in the Authorization header"),
        ("User user-secret", f"both User and Organization secrets are required; {EXPECTED}"),
        # Every wrong secret reads the same: nothing tells which part was wrong.
        ("User nope, Organization org-secret", REFUSED),
        ("User user-secret, Organization nope", REFUSED),
        ("User user2-secret, Organization org-secret", REFUSED),  # another organization's user
        ("User org-secret, Organization org-secret", REFUSED),  # an org secret is not a user
        ("User user-secret, Organization org-secret, Element nodot", REFUSED),
        ("Element i-1.x", REFUSED),
    ],
)
def test_each_refusal_says_what_is_wrong_or_only_that_it_is(header: str | None, message: str) -> None:
    assert refusal(header) == message


def test_sessions_stand_alone_and_expire() -> None:
    live = {"kind": "session", "orgId": "o-1", "instanceId": "i-1", "expiresAt": NOW + 60}
    dead = {**live, "expiresAt": NOW}
    not_one = {"kind": "user", "orgId": "o-1", "instanceId": "i-1", "expiresAt": NOW + 60}
    authenticator = auth(live=live, dead=dead, notone=not_one, bare={"kind": "session", "orgId": "o-1"})
    assert authenticator.authenticate("Session live") == Principal(org_id="o-1", instance_id="i-1")
    again = "open the app from the BigCommerce control panel again"
    assert refusal("Session dead", authenticator) == f"the session has expired; {again}"
    for token in ("notone", "bare", "unknown"):
        assert refusal(f"Session {token}", authenticator) == f"the session is not valid; {again}"
    # No expiry recorded is an expired session, not an endless one.
    authenticator = auth(forever={k: v for k, v in live.items() if k != "expiresAt"})
    assert refusal("Session forever", authenticator) == f"the session has expired; {again}"


def test_an_element_token_alone_reaches_only_its_instance() -> None:
    with pytest.raises(Forbidden) as info:
        Principal(org_id="o-1", instance_id="i-1").require_org()
    assert str(info.value) == (
        "this route needs User and Organization credentials; "
        "an Element token alone reaches only its own instance"
    )
    Principal(org_id="o-1").require_org()  # a user may


def test_new_secrets_are_long_and_unguessable() -> None:
    # 32 random bytes: 43 URL-safe characters.
    assert len(new_secret()) == 43 and new_secret() != new_secret()
    token = new_element_token("i-1")
    assert token.startswith("i-1.") and len(token) == len("i-1.") + 43
