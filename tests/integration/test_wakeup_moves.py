"""Wake-up hooks when the instance's store changes under it (issue 18): a PATCH moving the
instance to another store, and the app's uninstall. Both stores are simulated stores
over HTTP; the table is on moto's server."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest
from bcpoller.wakeup.hooks import SECRET_HEADER

from local.store import SimulatedStore
from local.template_resources import StackResources
from tests.integration.test_api_instances import api, call, new_org, public_dns, store  # noqa: F401
from tests.integration.test_wakeup import _body, _hooks, _wake

WAKE_BASE = "https://localhost"


@pytest.fixture
def other_store() -> Iterator[SimulatedStore]:
    s = SimulatedStore(seed=11, records_per_resource=3, store_hash="def456", token="other-token").start()
    yield s
    s.stop()


def _move_to(target: SimulatedStore) -> dict[str, object]:
    return {
        "configuration": {
            "store.url": f"{target.url}/stores/{target.store_hash}",
            "store.hash": target.store_hash,
            "access.token": target.token,
        }
    }


def test_a_patch_moving_the_store_takes_the_hooks_off_the_old_one_first(
    api: ModuleType,  # noqa: F811
    store: SimulatedStore,  # noqa: F811
    other_store: SimulatedStore,
    stack: StackResources,
) -> None:
    org = new_org("wake-move")["authorization"]
    status, inst = call(api, "POST", "/instances", org, body=_body(store, wakeup=True))
    assert status == 201, inst
    iid = inst["id"]
    old_secret = _hooks(store)[0]["headers"][SECRET_HEADER]
    assert len(_hooks(store)) == 2 and _hooks(other_store) == []

    status, answer = call(api, "PATCH", f"/instances/{iid}", org, body=_move_to(other_store))
    assert status == 200, answer
    assert _hooks(store) == []  # removed from the old store, with its credentials
    moved = _hooks(other_store)
    assert {(h["scope"], h["destination"], h["is_active"]) for h in moved} == {
        ("store/order/*", f"{WAKE_BASE}/wake/{iid}", True),
        ("store/product/*", f"{WAKE_BASE}/wake/{iid}", True),
    }
    new_secret = moved[0]["headers"][SECRET_HEADER]
    assert new_secret != old_secret  # renewed with the move
    assert _wake(api, iid, old_secret)[0] == 401
    assert _wake(api, iid, new_secret)[0] == 200
    status_body = call(api, "GET", f"/instances/{iid}/status", org)[1]
    assert status_body["wakeup"]["enabled"] is True and status_body["wakeup"]["error"] is None


def test_hooks_the_old_store_would_not_delete_are_refused_after_the_move(
    api: ModuleType,  # noqa: F811
    store: SimulatedStore,  # noqa: F811
    other_store: SimulatedStore,
) -> None:
    """The old store refuses the old credentials (the merchant revoked the token with the
    move): its hooks stay there, but their secret no longer opens the route."""
    org = new_org("wake-move-revoked")["authorization"]
    status, inst = call(api, "POST", "/instances", org, body=_body(store, wakeup=True))
    assert status == 201, inst
    iid = inst["id"]
    left = _hooks(store)
    store.token = "revoked-" + store.token  # the old token stops working
    status, answer = call(api, "PATCH", f"/instances/{iid}", org, body=_move_to(other_store))
    assert status == 200, answer  # the move does not fail for the old store's refusal
    assert [h["id"] for h in _hooks(store)] == [h["id"] for h in left]
    assert _wake(api, iid, left[0]["headers"][SECRET_HEADER])[0] == 401
    assert len(_hooks(other_store)) == 2


def test_a_patch_within_the_same_store_keeps_its_hooks(
    api: ModuleType,  # noqa: F811
    store: SimulatedStore,  # noqa: F811
) -> None:
    org = new_org("wake-rename")["authorization"]
    status, inst = call(api, "POST", "/instances", org, body=_body(store, wakeup=True))
    assert status == 201, inst
    before = _hooks(store)
    status, _ = call(api, "PATCH", f"/instances/{inst['id']}", org, body={"name": "renamed"})
    assert status == 200
    assert _hooks(store) == before  # same ids, same secret: nothing re-created
