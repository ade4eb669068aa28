"""The BigCommerce app through the web page in Debian's Chromium against the local stack
(issue 16): register the app, install it from the simulated store's control-panel
stand-in (which calls our auth callback as BigCommerce does), see events arrive, open
the load URL (a store session, not the organization's secrets), uninstall, see polling
stop. No secret shows in any page."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import wait_until
from tests.e2e.test_web import (  # noqa: F401 - fixtures: the same browser, tab and stack
    CHROMIUM,
    EVENT_TIMEOUT_MS,
    chromium,
    delivered_object_ids,
    new_order,
    secrets_from,
    sign_in_by_keyboard,
    unlabelled_controls,
    web,
    web_stack,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM, reason="no chromium on PATH (CI installs Debian's with apt; or set CHROMIUM)"
    ),
]


def last_poll(api: str, headers: dict[str, str], instance_id: str) -> str | None:
    status = httpx.get(f"{api}/instances/{instance_id}/status", headers=headers, timeout=10).json()
    ends = [r.get("lastPollEnd") or r.get("lastPollStart") for r in status.get("resources", [])]
    return max((e for e in ends if e), default=None)


def test_install_from_bigcommerce_events_load_and_uninstall(
    web: Page,  # noqa: F811 - the fixture imported above
    web_stack: dict[str, Any],  # noqa: F811
) -> None:
    if not web_stack.get("store_client_secret"):
        pytest.skip("this stack's state file has no simulated OAuth app (started before issue 16)")
    api, store, sink = web_stack["api"], web_stack["store"], web_stack["sink"]
    headers = {"Authorization": web_stack["authorization"]}
    client_secret = web_stack["store_client_secret"]
    hook = f"app-{uuid.uuid4().hex[:8]}"
    instance_id = ""
    try:
        sign_in_by_keyboard(web, api, *secrets_from(web_stack["authorization"]))

        # --- the create form points an OAuth app at the App page
        web.get_by_role("link", name="New instance").first.click()
        web.get_by_role("radio", name="OAuth app").check()
        expect(web.get_by_label("Store hash")).to_be_hidden()
        web.get_by_role("link", name="Set up the BigCommerce app").click()

        # --- register the app once: the secret is sent, never shown back
        expect(web.get_by_role("heading", name="BigCommerce app")).to_be_visible()
        web.get_by_label("Client ID").fill(web_stack["store_client_id"])
        web.get_by_label("Client secret").fill(client_secret)
        web.get_by_label("Callback URL for events").fill(f"{sink}/hooks/{hook}")
        web.get_by_label("Refresh interval (minutes)").fill("1")
        expect(web.get_by_role("checkbox", name="orders", exact=True)).to_be_checked()
        assert unlabelled_controls(web) == []
        web.get_by_role("button", name=re.compile(r"^(Register|Save) app$")).click()
        expect(web.get_by_role("heading", name="Callback URLs")).to_be_visible()
        expect(web.get_by_label("Client secret")).to_have_value("")
        urls = {
            name: web.locator(f'.url-row[data-url="{name} callback URL"] code').inner_text()
            for name in ("Auth", "Load", "Uninstall", "Remove user")
        }
        assert urls["Auth"].startswith(f"{api}/apps/") and urls["Auth"].endswith("/auth"), urls
        expect(web.locator(".events-on-install")).to_contain_text(f"sent to {sink}/hooks/{hook}")
        assert client_secret not in web.content()

        # --- the merchant clicks Install in the control panel: our auth callback's page
        web.goto(f"{store}/_admin/install?callback={quote(urls['Auth'], safe='')}")
        expect(web.get_by_role("heading", name=re.compile(r"^App installed"))).to_be_visible()
        expect(web.locator("main")).to_contain_text(f"every change is sent to {sink}/hooks/{hook}")
        page_text = web.content()
        for secret in (client_secret, web_stack["store_token"]):
            assert secret not in page_text
        instance_id = re.search(r"Instance</dt><dd>([0-9a-f-]{36})<", page_text).group(1)  # type: ignore[union-attr]

        # --- events flow on the app's schedule (no "poll now")
        first = new_order(store)
        wait_until(
            lambda: str(first) in delivered_object_ids(sink, hook), EVENT_TIMEOUT_MS / 1000, "an event"
        )

        # --- the merchant opens the app: the load URL signs the tab in for that store only
        web.goto(f"{store}/_admin/load?callback={quote(urls['Load'], safe='')}")
        expect(
            web.get_by_role("heading", name=f"BigCommerce store {web_stack['store_hash']}")
        ).to_be_visible()
        assert web.url.endswith(f"#/instances/{instance_id}"), web.url  # the session left the address bar
        stored = web.evaluate("() => sessionStorage.getItem('bcpoller.session')")
        assert '"store"' in stored and secrets_from(web_stack["authorization"])[1] not in stored
        expect(web.get_by_role("button", name="Poll now")).to_have_count(0)
        expect(web.get_by_role("button", name="Replay failed")).to_be_hidden()
        expect(web.get_by_role("link", name="Instances", exact=True)).to_be_hidden()
        expect(web.locator("table.events tbody tr[data-status='delivered']").first).to_be_visible(
            timeout=EVENT_TIMEOUT_MS
        )
        install_state = web.locator(
            "dl.facts > div", has=web.locator("dt", has_text="BigCommerce app")
        ).locator("dd")
        expect(install_state).to_have_text("installed")

        # --- BigCommerce calls the uninstall callback: polling stops, the log stays
        answer = httpx.post(f"{store}/_admin/uninstall", json={"callback": urls["Uninstall"]}, timeout=30)
        assert answer.status_code == 200 and answer.json()["status"] == 200, answer.text
        got = httpx.get(f"{api}/instances/{instance_id}", headers=headers, timeout=10).json()
        assert got["installState"] == "uninstalled" and got["eventsEnabled"] is False
        web.reload()
        expect(install_state).to_have_text("uninstalled")
        expect(web.locator("table.events tbody tr[data-status='delivered']").first).to_be_visible()
        time.sleep(3)  # a poll already running when the schedule went may still finish
        settled = last_poll(api, headers, instance_id)
        second = new_order(store)
        time.sleep(5)  # 25 scheduled minutes of this stack: polling would have run many times
        assert last_poll(api, headers, instance_id) == settled
        assert str(second) not in delivered_object_ids(sink, hook)

        # --- the organization sees the store as uninstalled on the App page
        web.get_by_role("button", name="Sign out").click()
        sign_in_by_keyboard(web, api, *secrets_from(web_stack["authorization"]))
        web.get_by_role("link", name="App", exact=True).click()
        row = web.locator(f'table.stores tr[data-store-hash="{web_stack["store_hash"]}"]')
        expect(row.locator("td.status")).to_have_text("uninstalled")
    finally:
        if instance_id:
            httpx.delete(f"{api}/instances/{instance_id}", headers=headers, timeout=10)
