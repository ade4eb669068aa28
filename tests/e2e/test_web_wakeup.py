"""The page's "Wake on change" switch (issue 18) in Chromium against the local stack: on
registers the store's hooks and the status shows them; off removes them."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page, expect

from local.demo import SEED_POLLER_CONFIGURATION
from tests.e2e.test_web import (  # noqa: F401
    chromium,
    pytestmark,
    secrets_from,
    sign_in_by_keyboard,
    web,
    web_stack,
)


def _ours(store: str, instance_id: str) -> list[dict[str, Any]]:
    hooks = httpx.get(f"{store}/_admin/webhooks", timeout=30).json()["hooks"]
    return [h for h in hooks if h["destination"].endswith(f"/wake/{instance_id}")]


def test_wake_on_change_switch_registers_and_removes_hooks(web: Page, web_stack: dict[str, Any]) -> None:  # noqa: F811
    api, store = web_stack["api"], web_stack["store"]
    headers = {"Authorization": web_stack["authorization"]}
    body = {
        "element": {"key": "bigcommerce"},
        "name": "Wake switch",
        "configuration": {
            "store.url": f"{store}/stores/{web_stack['store_hash']}",
            "store.hash": web_stack["store_hash"],
            "access.token": web_stack["store_token"],
            "event.notification.enabled": True,
            "event.notification.callback.url": f"{web_stack['sink']}/hooks/web-wake",
            "event.poller.refresh_interval": 60,
            "event.poller.configuration": {"products": SEED_POLLER_CONFIGURATION["products"]},
        },
    }
    created = httpx.post(f"{api}/instances", json=body, headers=headers, timeout=30).json()
    iid = created["id"]
    try:
        sign_in_by_keyboard(web, api, *secrets_from(web_stack["authorization"]))
        web.goto(f"{api}/#/instances/{iid}")
        switch = web.get_by_role("switch", name="Wake on change")
        expect(switch).not_to_be_checked()
        assert _ours(store, iid) == []

        switch.check()
        expect(web.get_by_text("Wake on change turned on")).to_be_visible()
        hooks = web.locator(".wakeup .hooks li")
        expect(hooks).to_have_count(1)
        expect(hooks.first).to_contain_text("store/product/*")
        expect(hooks.first).to_contain_text("active")
        assert [(h["scope"], h["is_active"]) for h in _ours(store, iid)] == [("store/product/*", True)]
        assert created["signingSecret"] not in web.content()

        switch.uncheck()
        expect(web.get_by_text("Wake on change turned off")).to_be_visible()
        expect(web.locator(".wakeup .hooks li")).to_have_count(0)
        assert _ours(store, iid) == []
    finally:
        httpx.delete(f"{api}/instances/{iid}", headers=headers, timeout=30)
