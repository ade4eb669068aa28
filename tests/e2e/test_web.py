"""The web page in Debian's Chromium against the local stack (issue 8).

One user's path through the page, end to end: sign in by keyboard, create an instance by
ticking a resource (after the API's validation error shows beside its field), watch an
event arrive after a store change, make the sink refuse an event and retry it from the
page, replay failed events, turn events off and on, edit, delete with confirmation. The
instance page is photographed at desktop width (into the test's tmp dir; with
UPDATE_SCREENSHOTS=1 into docs/img/instance-page.png, which the README shows) and checked
for horizontal overflow at 360 px.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, ViewportSize, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.e2e.conftest import LocalStack

# The same lookup as .ci/run's `command -v chromium` (Debian's package, wherever PATH finds it).
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or ""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "instance-page.png"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 360, "height": 780}
# Events need a poll (the schedule ticks every scaled minute) and a delivery; generous
# because two cores are shared with the rest of the test run.
EVENT_TIMEOUT_MS = 45_000

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM, reason="no chromium on PATH (CI installs Debian's with apt; or set CHROMIUM)"
    ),
]


def secrets_from(authorization: str) -> tuple[str, str]:
    """(user secret, organization secret) from the stack's `User u, Organization o` header."""
    parts = dict(re.findall(r"(User|Organization)\s+([^,\s]+)", authorization))
    assert {"User", "Organization"} <= parts.keys(), "the stack's authorization header lacks the secrets"
    return parts["User"], parts["Organization"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def web_stack(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The shared local stack's state: api/store/sink URLs, store credentials, authorization.

    WEB_STACK_STATE=path/to/stack.json points the tests at a stack already running
    (`make run ARGS="--no-demo --minute 0.2"`), to watch or debug them against it."""
    running = os.environ.get("WEB_STACK_STATE")
    if running:
        return dict(json.loads(Path(running).read_text()))
    stack: LocalStack = request.getfixturevalue("local_stack")
    return stack.state


@pytest.fixture
def web(chromium: Browser, tmp_path: Path) -> Iterator[Page]:
    """A fresh tab (fresh session storage); any uncaught script error fails the test. The
    last view is kept in tmp_path (printed, so a failure's report says where)."""
    context = chromium.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    page = context.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda exc: script_errors.append(str(exc)))

    def on_console(msg: ConsoleMessage) -> None:
        # Console errors other than the API's expected 4xx answers (a CSP violation, say).
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            script_errors.append(msg.text)

    page.on("console", on_console)
    yield page
    with contextlib.suppress(PlaywrightError):
        page.screenshot(path=str(tmp_path / "last-view.png"), full_page=True)
        (tmp_path / "last-view.html").write_text(page.content())
        print(f"last view: {tmp_path}/last-view.png, .html; url {page.url}")
    context.close()
    assert not script_errors, f"the page reported errors: {script_errors}"


def sign_in_by_keyboard(page: Page, api: str, user: str, org: str) -> None:
    page.goto(f"{api}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # The user secret field has focus on arrival: the whole sign-in works from the keyboard.
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(org)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Instances", exact=True)).to_be_visible()


def unlabelled_controls(page: Page) -> list[str]:
    """Every visible input, select and textarea without a label (or aria-label)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((el) => el.type !== 'hidden' && !el.closest('[hidden]'))
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map((el) => el.outerHTML.slice(0, 120))"""
    )


def assert_fits(page: Page, width: int) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth")
    assert overflow <= width, f"the page is {overflow}px wide in a {width}px viewport"


def event_row(page: Page, object_id: Any, status: str | None = None) -> Locator:
    """The log row of order `object_id` (in that status, when given)."""
    selector = "table.events tbody tr[data-event-id]" + (f'[data-status="{status}"]' if status else "")
    return page.locator(selector).filter(
        has=page.locator("td.object", has_text=re.compile(rf"^orders {object_id}$"))
    )


def show_when_new(page: Page, row: Locator, timeout_ms: int = EVENT_TIMEOUT_MS) -> None:
    """Wait for an event's row; the auto-refresh announces new events ("N new events:
    show them") rather than pushing them in under the reader, so take up the offer."""
    notice = page.locator("button.new-events")
    deadline = time.monotonic() + timeout_ms / 1000
    while not row.is_visible():
        if time.monotonic() > deadline:
            expect(row).to_be_visible(timeout=1)  # fails with the locator's report
        if notice.is_visible():
            notice.click()
        page.wait_for_timeout(250)


def new_order(store: str) -> int:
    response = httpx.post(f"{store}/_admin/orders", json={}, timeout=10)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def delivered_object_ids(sink: str, hook: str) -> list[str]:
    """The objectIds the sink received on this hook (and answered 2xx)."""
    received = httpx.get(f"{sink}/_deliveries", params={"hook": hook}, timeout=10).json()
    return [
        event["objectId"]
        for delivery in received
        if 200 <= delivery["status"] < 300
        for event in json.loads(delivery["raw_body"])["message"]["events"]
    ]


@pytest.fixture
def created_ids(web_stack: dict[str, Any]) -> Iterator[list[str]]:
    """Instances a test created: deleted afterwards if the test did not get that far, so a
    failed run leaves nothing polling on the shared stack."""
    ids: list[str] = []
    yield ids
    for instance_id in ids:
        httpx.delete(
            f"{web_stack['api']}/instances/{instance_id}",
            headers={"Authorization": web_stack["authorization"]},
            timeout=10,
        )


def test_configure_and_watch_events(
    web: Page, web_stack: dict[str, Any], created_ids: list[str], tmp_path: Path
) -> None:
    api, store, sink = web_stack["api"], web_stack["store"], web_stack["sink"]
    user, org = secrets_from(web_stack["authorization"])
    hook = f"web-{uuid.uuid4().hex[:8]}"
    name = f"Web test {hook}"
    headers = {"Authorization": web_stack["authorization"]}

    sign_in_by_keyboard(web, api, user, org)
    # The secrets live in this tab's session storage only: not in the URL, not in local storage.
    assert user not in web.url and org not in web.url
    assert web.evaluate("() => localStorage.length") == 0
    assert user in web.evaluate("() => JSON.stringify(sessionStorage)")

    # --- create: resources come from /catalog; an API error lands beside its field
    web.get_by_role("link", name="New instance").first.click()
    expect(web.get_by_role("heading", name="New instance")).to_be_visible()
    orders = web.get_by_role("checkbox", name="orders", exact=True)
    expect(orders).to_be_visible()
    web.locator("summary", has_text="Advanced: orders").click()
    editor = web.get_by_label("orders poller configuration (JSON)")
    expect(editor).to_have_value(re.compile(r"/hubs/ecommerce/orders\?where="))
    assert unlabelled_controls(web) == []

    web.get_by_label("Name", exact=True).fill(name)
    web.get_by_label("Tags").fill("web, e2e")
    web.get_by_label("Store hash").fill(web_stack["store_hash"])
    web.get_by_label("Access token").fill(web_stack["store_token"])
    web.get_by_label("Callback URL").fill("ftp://nowhere.example/hook")
    web.get_by_label("Refresh interval (minutes)").fill("1")
    orders.check()
    web.get_by_role("button", name="Create Instance").click()
    callback_error = web.locator('[data-field="configuration.event.notification.callback.url"] .field-error')
    expect(callback_error).not_to_be_empty()
    expect(web.get_by_label("Callback URL")).to_have_attribute("aria-invalid", "")
    expect(web.locator(".error-summary")).to_be_visible()

    web.get_by_label("Callback URL").fill(f"{sink}/hooks/{hook}")
    web.get_by_role("button", name="Create Instance").click()
    expect(web.get_by_role("heading", name="Instance created")).to_be_visible()
    expect(web.locator("code.secret", has_text=re.compile(r"^whsec_"))).to_be_visible()
    expect(web.locator(".secret-row", has_text="Instance token").locator("code")).not_to_be_empty()
    web.get_by_role("link", name="Open the instance").click()
    expect(web.get_by_role("heading", name=name)).to_be_visible()
    instance_id = web.url.rsplit("/", 1)[-1]
    created_ids.append(instance_id)
    assert unlabelled_controls(web) == []

    # --- a store change becomes an event in the log (the page refreshes itself)
    first = new_order(store)
    web.get_by_role("button", name="Poll now").click()
    show_when_new(web, event_row(web, first, "delivered"))
    expect(web.locator('tr[data-resource="orders"]')).to_be_visible()
    assert str(first) in delivered_object_ids(sink, hook)

    # --- the sink refuses one delivery (a 4xx fails at once); retry it from the page
    behavior = httpx.post(f"{sink}/_behavior", json={"hook": hook, "status": 400, "times": 1}, timeout=10)
    assert behavior.status_code == 200, behavior.text
    second = new_order(store)
    web.get_by_role("button", name="Poll now").click()
    failed = event_row(web, second, "failed")
    show_when_new(web, failed)
    # By keyboard: focus Retry, press Enter; focus stays in the row as the log re-renders.
    failed.get_by_role("button", name=re.compile("^Retry event")).focus()
    web.keyboard.press("Enter")
    retried = event_row(web, second, "delivered")
    expect(retried).to_be_visible(timeout=EVENT_TIMEOUT_MS)
    expect(retried.locator("td.attempts")).to_have_text("2")
    focused_row = web.evaluate("() => document.activeElement.closest('tr')?.dataset.eventId")
    assert focused_row == retried.get_attribute("data-event-id")
    retried.get_by_role("button", name=re.compile("^Details of event")).click()
    attempts = web.locator("tr.attempts-row:not([hidden]) table.inner tbody tr")
    expect(attempts).to_have_count(2)
    codes = sorted(attempts.locator('[data-label="HTTP status"]').all_inner_texts())
    assert codes == ["200", "400"], codes

    # --- and once more, fixed by "Replay failed" instead
    httpx.post(f"{sink}/_behavior", json={"hook": hook, "status": 400, "times": 1}, timeout=10)
    third = new_order(store)
    web.get_by_role("button", name="Poll now").click()
    show_when_new(web, event_row(web, third, "failed"))
    # Bulk replay says its range first (none set: everything kept).
    web.get_by_role("button", name="Replay failed…").click()
    expect(web.locator("dialog .replay-range")).to_contain_text("from the oldest event kept to now")
    web.get_by_role("button", name="Replay failed events").click()
    expect(event_row(web, third, "delivered")).to_be_visible(timeout=EVENT_TIMEOUT_MS)
    expect(web.locator(".delivered-24h")).to_have_text(re.compile(r"^[3-9]|\d\d"), timeout=EVENT_TIMEOUT_MS)

    # --- the filter shows only what it names
    web.get_by_role("combobox", name="Event status").select_option("delivered")
    web.get_by_role("button", name="Search", exact=True).click()
    others = web.locator("table.events tbody tr[data-event-id]:not([data-status='delivered'])")
    expect(others).to_have_count(0)
    expect(event_row(web, first)).to_be_visible()
    # A page of one, then the next pages through the API's nextToken.
    web.get_by_label("Auto-refresh").uncheck()
    web.get_by_label("Per page").fill("1")
    web.get_by_role("button", name="Search", exact=True).click()
    rows = web.locator("table.events tbody tr[data-event-id]")
    expect(rows).to_have_count(1)
    web.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(2)
    web.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(3)
    expect(web.locator("table.events tbody tr[data-event-id] td.object")).to_have_text(
        [f"orders {third}", f"orders {second}", f"orders {first}"]  # newest first
    )
    # A time window after everything: nothing matches, and the page says so.
    web.get_by_label("Since").fill("2999-01-01T00:00")
    web.get_by_role("button", name="Search", exact=True).click()
    expect(rows).to_have_count(0)
    expect(web.get_by_text("No events match.")).to_be_visible()

    # --- photograph the instance page for the README, then check it at 360 px
    web.get_by_role("combobox", name="Event status").select_option("")
    web.get_by_label("Since").fill("")
    web.get_by_label("Per page").fill("25")
    web.get_by_label("Auto-refresh").check()
    web.get_by_role("button", name="Search", exact=True).click()
    expect(event_row(web, second)).to_be_visible()
    # The attempts opened above stay open across the log's re-renders.
    toggle = event_row(web, second).get_by_role("button", name=re.compile("^Details of event"))
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(attempts).to_have_count(2)
    web.get_by_label("Auto-refresh").uncheck()
    # No toast in the photograph: wait until the last one has faded out.
    toast_gone = "() => getComputedStyle(document.getElementById('toast')).opacity === '0'"
    web.wait_for_function(toast_gone, timeout=10_000)
    # The committed picture changes only on request, so a test run leaves the tree clean.
    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / "instance-page.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    web.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    web.set_viewport_size(PHONE)
    expect(web.get_by_role("heading", name=name)).to_be_visible()
    assert_fits(web, PHONE["width"])
    web.set_viewport_size(DESKTOP)

    # --- events off and on through the switch
    switch = web.get_by_role("switch", name="Events")
    switch.uncheck()
    expect(switch).not_to_be_checked()
    expect(switch).to_be_enabled()
    got = httpx.get(f"{api}/instances/{instance_id}", headers=headers, timeout=10).json()
    assert got["eventsEnabled"] is False
    switch.check()
    expect(switch).to_be_enabled()
    got = httpx.get(f"{api}/instances/{instance_id}", headers=headers, timeout=10).json()
    assert got["eventsEnabled"] is True

    # --- edit: the form comes back filled in; secrets stay masked and unchanged
    web.get_by_role("link", name="Edit").click()
    expect(web.get_by_role("heading", name="Edit instance")).to_be_visible()
    expect(web.get_by_label("Store hash")).to_have_value(web_stack["store_hash"])
    expect(web.get_by_label("Access token")).to_have_value("")
    expect(web.get_by_role("checkbox", name="orders", exact=True)).to_be_checked()
    web.get_by_label("Name", exact=True).fill(f"{name} renamed")
    web.get_by_role("button", name="Save changes").click()
    expect(web.get_by_role("heading", name=f"{name} renamed")).to_be_visible()
    got = httpx.get(f"{api}/instances/{instance_id}", headers=headers, timeout=10).json()
    assert got["name"] == f"{name} renamed"
    assert got["configuration"]["access.token"] == "********"  # kept, still masked

    # --- the list shows it with its figures
    web.get_by_role("link", name="Instances", exact=True).first.click()
    row = web.locator(f'tr[data-instance-id="{instance_id}"]')
    expect(row).to_contain_text(web_stack["store_hash"])
    expect(row).to_contain_text("orders")
    expect(row.locator('[data-label="Delivered 24 h"]')).to_have_text(re.compile(r"^\d+$"))
    row.get_by_role("link").click()

    # --- delete asks first; Cancel keeps the instance, the second answer removes it
    web.get_by_role("button", name="Delete", exact=True).click()
    dialog = web.get_by_role("dialog")
    expect(dialog).to_be_visible()
    web.keyboard.press("Escape")  # the same as Cancel
    expect(dialog).to_have_count(0)
    expect(web.get_by_role("button", name="Delete", exact=True)).to_be_focused()
    assert httpx.get(f"{api}/instances/{instance_id}", headers=headers, timeout=10).status_code == 200
    web.get_by_role("button", name="Delete", exact=True).click()
    web.get_by_role("dialog").get_by_role("button", name="Delete instance").click()
    expect(web.get_by_role("heading", name="Instances", exact=True)).to_be_visible()
    expect(web.locator(f'tr[data-instance-id="{instance_id}"]')).to_have_count(0)
    assert httpx.get(f"{api}/instances/{instance_id}", headers=headers, timeout=10).status_code == 404


def test_wrong_secrets_are_refused_and_never_stored(web: Page, web_stack: dict[str, Any]) -> None:
    web.goto(f"{web_stack['api']}/")
    web.get_by_label("User secret").fill("not-a-user")
    web.get_by_label("Organization secret").fill("not-an-org")
    web.get_by_role("button", name="Sign in").click()
    expect(web.get_by_role("alert")).to_have_text("These secrets were not accepted.")
    assert web.evaluate("() => sessionStorage.length + localStorage.length") == 0
    assert unlabelled_controls(web) == []

    # Stored secrets the API stops accepting (revoked, say) end the session at the next call.
    web.evaluate('() => sessionStorage.setItem(\'bcpoller.session\', \'{"user": "old", "org": "old"}\')')
    web.goto(f"{web_stack['api']}/#/")
    expect(web.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(web.get_by_role("alert")).to_have_text("Your session was not accepted; please sign in again.")
    assert web.evaluate("() => sessionStorage.length") == 0
    web.set_viewport_size(PHONE)
    assert_fits(web, PHONE["width"])


def test_legacy_credentials_and_advanced_json(
    web: Page, web_stack: dict[str, Any], created_ids: list[str]
) -> None:
    """The legacy (basic auth) credentials and a hand-edited poller configuration reach the
    API as typed; JSON and API errors land beside the resource's editor."""
    api, store = web_stack["api"], web_stack["store"]
    headers = {"Authorization": web_stack["authorization"]}
    sign_in_by_keyboard(web, api, *secrets_from(web_stack["authorization"]))
    web.get_by_role("link", name="New instance").first.click()
    web.get_by_label("Name", exact=True).fill("Legacy web test")
    web.get_by_role("radio", name="Legacy API account (basic auth)").check()
    expect(web.get_by_label("Store hash")).to_be_hidden()
    web.get_by_label("Store URL").fill(f"{store}/api/v2")
    web.get_by_label("Username").fill(web_stack["store_username"])
    web.get_by_label("Password").fill(web_stack["store_password"])
    web.get_by_label("Callback URL").fill(f"{web_stack['sink']}/hooks/legacy-{uuid.uuid4().hex[:8]}")

    # Events on with nothing ticked: said beside the resources, nothing sent.
    web.get_by_role("button", name="Create Instance").click()
    resources_error = web.locator('[data-field="configuration.event.poller.configuration"] > .field-error')
    expect(resources_error).to_have_text("tick at least one resource to poll")

    web.get_by_role("checkbox", name="products", exact=True).check()
    web.locator("summary", has_text="Advanced: products").click()
    editor = web.get_by_label("products poller configuration (JSON)")
    editor_field = "configuration.event.poller.configuration.products"
    editor_error = web.locator(f'[data-field="{editor_field}"] .field-error')
    editor.fill("{ not json")
    web.get_by_role("button", name="Create Instance").click()
    expect(editor_error).to_contain_text("is not valid JSON")
    expect(resources_error).to_be_empty()

    # The API's own verdict on a field inside the configuration lands there too.
    catalog = httpx.get(f"{api}/catalog", headers=headers, timeout=10).json()
    products = next(r for r in catalog["resources"] if r["name"] == "products")["configuration"]
    editor.fill(json.dumps({**products, "pageSize": 5000}))
    web.get_by_role("button", name="Create Instance").click()
    expect(editor_error).to_contain_text("pageSize")
    expect(editor).to_have_attribute("aria-invalid", "")

    editor.fill(json.dumps({**products, "pageSize": 50}, indent=2))
    web.get_by_role("button", name="Create Instance").click()
    expect(web.get_by_role("heading", name="Instance created")).to_be_visible()
    instance_id = web.locator(".secret-row", has_text="Instance id").locator("code").inner_text()
    created_ids.append(instance_id)

    got = httpx.get(f"{api}/instances/{instance_id}", headers=headers, timeout=10).json()
    assert got["configuration"]["store.url"] == f"{store}/api/v2"
    assert got["configuration"]["username"] == web_stack["store_username"]
    assert got["configuration"]["password"] == "********"
    assert "store.hash" not in got["configuration"]
    assert got["configuration"]["event.poller.configuration"] == {"products": {**products, "pageSize": 50}}
    assert got["resources"] == ["products"]
