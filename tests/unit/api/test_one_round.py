"""A new instance's body gets every problem in one answer (issue 20): the body's own, the
URL guard's and the store's refusal of its credentials together; /instances/check says
the same without making anything. And the status shows only the resources polled now."""

from __future__ import annotations

from tests.unit.api.helpers import World, call
from tests.unit.api.test_routes import ORG_A, body, world  # noqa: F401 - the fixture


def test_bad_fields_and_refused_credentials_come_in_one_answer(world: World) -> None:  # noqa: F811
    bad = body(
        **{
            "access.token": "wrong-token",
            "event.poller.refresh_interval": "soon",
            "event.notification.callback.url": "ftp://nowhere.example/hook",
        }
    )
    status, data, _ = call(world.app, "POST", "/instances", body=bad, headers=ORG_A)
    assert status == 400, data
    fields = {e["field"] for e in data["errors"]}
    assert fields == {
        "configuration.event.poller.refresh_interval",
        "configuration.event.notification.callback.url",
        "configuration.access.token",
    }
    assert all(e["problem"] for e in data["errors"])
    assert world.instances.items == {}


def test_check_answers_as_create_would_and_makes_nothing(world: World) -> None:  # noqa: F811
    status, data, _ = call(
        world.app,
        "POST",
        "/instances/check",
        body=body(**{"access.token": "wrong-token", "event.poller.refresh_interval": "soon"}),
        headers=ORG_A,
    )
    assert status == 400
    assert {e["field"] for e in data["errors"]} == {
        "configuration.event.poller.refresh_interval",
        "configuration.access.token",
    }
    status, data, _ = call(world.app, "POST", "/instances/check", body=body(), headers=ORG_A)
    assert (status, data) == (200, {"valid": True})
    status, data, _ = call(
        world.app, "POST", "/instances/check", body=body(**{"access.token": "x"}), headers=ORG_A
    )
    assert status == 400 and [e["field"] for e in data["errors"]] == ["configuration.access.token"]
    assert world.instances.items == {} and world.schedules.schedules == {}


def test_a_resource_removed_by_an_edit_leaves_the_status(world: World) -> None:  # noqa: F811
    status, created, _ = call(world.app, "POST", "/instances", body=body(), headers=ORG_A)
    iid = created["id"]
    world.cursors.rows[iid] = [
        {"resource": "orders", "cursor": "2026-01-01T00:00:00+00:00"},
        {"resource": "products", "cursor": "2026-01-01T00:00:00+00:00"},
    ]
    edit = {
        "configuration": {"event.poller.configuration": {"products": {"url": "/hubs/ecommerce/products"}}}
    }
    status, _, _ = call(world.app, "PATCH", f"/instances/{iid}", body=edit, headers=ORG_A)
    assert status == 200
    _, data, _ = call(world.app, "GET", f"/instances/{iid}/status", headers=ORG_A)
    assert [r["resource"] for r in data["resources"]] == ["products"]
