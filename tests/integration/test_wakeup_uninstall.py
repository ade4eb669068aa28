"""Wake-up at the app's uninstall (issue 18): BigCommerce revokes the token, so we cannot
call the store after uninstall; the route is disarmed instead (401 for the hooks still
arriving) and status shows wake-up off. The simulated store over HTTP, moto's server."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

from bcpoller.wakeup.hooks import SECRET_HEADER

from local.store import SimulatedStore
from local.template_resources import StackResources
from tests.integration.test_api_app import Caller, api, control_panel, installed, signed, store  # noqa: F401
from tests.integration.test_wakeup import _hooks, _poll_item
from tests.unit.api.helpers import Ctx, v2_event


def _wake(api: ModuleType, instance_id: str, secret: str) -> int:  # noqa: F811
    event = v2_event(
        "POST", f"/wake/{instance_id}", body={"scope": "store/order/created"}, headers={SECRET_HEADER: secret}
    )
    return int(api.lambda_handler(event, Ctx())["statusCode"])


def test_uninstall_disarms_the_route_and_status_shows_wakeup_off(
    api: ModuleType,  # noqa: F811
    installed: tuple[Caller, dict[str, str], dict[str, Any], str],  # noqa: F811
    store: SimulatedStore,  # noqa: F811
    stack: StackResources,
) -> None:
    call, org, app, iid = installed
    auth = org["authorization"]
    status, body, _ = call(
        "PATCH", f"/instances/{iid}", auth, body={"configuration": {"event.poller.wakeup": True}}
    )
    assert status == 200, body
    hooks = _hooks(store)
    assert {h["scope"] for h in hooks} == {"store/order/*", "store/product/*"}
    secret = hooks[0]["headers"][SECRET_HEADER]
    assert _wake(api, iid, secret) == 200
    assert call("GET", f"/instances/{iid}/status", auth)[1]["wakeup"]["enabled"] is True

    status, page, _ = call(
        "GET", f"/apps/{app['appId']}/uninstall", query={"signed_payload_jwt": signed(store)}
    )
    assert status == 200, page
    assert _wake(api, iid, secret) == 401  # a hook still arriving wakes nothing
    assert "wakeHash" not in _poll_item(stack, iid)
    wakeup = call("GET", f"/instances/{iid}/status", auth)[1]["wakeup"]
    assert wakeup["enabled"] is False and wakeup["pending"] is False, json.dumps(wakeup)
    # We cannot call the store after uninstall (its token is revoked): nothing was deleted
    # there by us; what BigCommerce does with an uninstalled app's hooks is its own.
    assert [h["id"] for h in _hooks(store)] == [h["id"] for h in hooks]

    # Installed again: wake-up is on in the configuration, so it is armed again, with a
    # new secret (the old one went with the uninstall) carried by the same hooks.
    query = control_panel(store, "install", app["authCallbackUrl"])
    status, page, _ = call("GET", f"/apps/{app['appId']}/auth", query=query)
    assert status == 200, page
    again = _hooks(store)
    assert len(again) == 2 and all(h["is_active"] for h in again)
    renewed = again[0]["headers"][SECRET_HEADER]
    assert renewed != secret
    assert (_wake(api, iid, secret), _wake(api, iid, renewed)) == (401, 200)
    assert call("GET", f"/instances/{iid}/status", auth)[1]["wakeup"]["enabled"] is True
