"""The API's URL guard: both URLs of an instance body are checked on create and on PATCH.

Each URL is checked by the service itself (not only by the configuration model), so these
tests run with the fake parser, which checks nothing."""

from __future__ import annotations

import pytest

from tests.unit.api.helpers import World, call
from tests.unit.api.test_routes import ORG_A, body, create, world  # noqa: F401 - fixture

URL_KEYS = ("store.url", "event.notification.callback.url")
UNSAFE = ("http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data/", "http://[::ffff:10.0.0.1]/x")


@pytest.mark.parametrize("key", URL_KEYS)
@pytest.mark.parametrize("url", UNSAFE)
def test_create_refuses_an_unsafe_url_in_either_key(world: World, key: str, url: str) -> None:  # noqa: F811
    status, data, _ = call(world.app, "POST", "/instances", body=body(**{key: url}), headers=ORG_A)
    assert status == 400, data
    assert {e["field"] for e in data["errors"]} == {f"configuration.{key}"}
    assert world.instances.items == {}
    # Nothing was sent to that address (the store may be asked about its own credentials
    # in the same round, never with the refused URL).
    assert all(url not in c.values() for c in world.store.checked)


@pytest.mark.parametrize("key", URL_KEYS)
def test_patch_refuses_an_unsafe_url_in_either_key(world: World, key: str) -> None:  # noqa: F811
    iid = create(world)["id"]
    checked = len(world.store.checked)
    change = {key: "http://10.0.0.1/x", "access.token": "good-token"}
    patch = {"configuration": change}
    status, data, _ = call(world.app, "PATCH", f"/instances/{iid}", body=patch, headers=ORG_A)
    assert status == 400, data
    assert f"configuration.{key}" in {e["field"] for e in data["errors"]}
    assert len(world.store.checked) == checked
