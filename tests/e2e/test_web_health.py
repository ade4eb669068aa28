"""The instance page's health in Debian's Chromium (issue 17): an event that failed every
attempt and went to the DLQ is redriven from the page and delivered once; BigCommerce's
documented customers example (no ``id``, no ``date_modified``) shows as 1 unreadable
record beside its resource, with the reason; the two inline SVG charts draw the hourly
counters status reads. The page is photographed (into the test's tmp dir; with
UPDATE_SCREENSHOTS=1 into docs/img/instance-health.png, which the README shows).

A stack of its own: its retry schedule runs at ``--minute 0.02`` (the 28 hours of retries
before the DLQ in about 35 s), and the store serves the verbatim customers example to
every customers read, which the shared stack's other tests must not see.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_web as web_tests
from tests.e2e.conftest import ROOT, LocalStack, start_stack, wait_until
from tests.e2e.test_stack import create_instance
from tests.e2e.test_web import (
    CHROMIUM,
    DESKTOP,
    PHONE,
    assert_fits,
    new_order,
    secrets_from,
    sign_in_by_keyboard,
)
from tests.integration.test_unreadable_status import official_customers_example

# The browser fixtures of the web page's tests: one Chromium, a fresh tab per test.
chromium, web = web_tests.chromium, web_tests.web
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "instance-health.png"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM, reason="no chromium on PATH (CI installs Debian's with apt; or set CHROMIUM)"
    ),
]


@pytest.fixture(scope="module")
def health_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    args = ("--no-demo", "--minute", "0.02", "--poll-timeout", "20", "--delivery-workers", "2")
    stack = start_stack(tmp_path_factory.mktemp("health-stack"), *args)
    httpx.post(f"{stack.store}/_admin/faults", json={"quota": 1_000_000}).raise_for_status()
    yield stack
    code = stack.stop()
    assert code == 0, stack.text()


def status_of(stack: LocalStack, instance_id: str) -> dict[str, Any]:
    r = httpx.get(f"{stack.api}/instances/{instance_id}/status", headers=stack.headers, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def deliveries_of(stack: LocalStack, hook: str) -> list[str]:
    """objectIds the sink accepted (2xx) on this hook, one per delivery."""
    received = httpx.get(f"{stack.sink}/_deliveries", params={"hook": hook}, timeout=10).json()
    return [
        event["objectId"]
        for delivery in received
        if 200 <= delivery["status"] < 300
        for event in httpx.Response(200, content=delivery["raw_body"]).json()["message"]["events"]
    ]


def test_a_dead_lettered_event_is_redriven_from_the_page_and_the_health_is_drawn(
    web: Page, health_stack: LocalStack, shared_dir: Path, tmp_path: Path
) -> None:
    stack = health_stack
    added = httpx.post(
        f"{stack.store}/_admin/customers/verbatim", json={"record": official_customers_example(shared_dir)}
    )
    assert added.status_code == 201, added.text
    hook = f"health-{uuid.uuid4().hex[:8]}"
    # Polled on request only ("poll now"): a 1440-minute refresh is 29 s at this scale.
    instance = create_instance(stack, hook, ("orders", "customers"), refresh=1440)
    instance_id = instance["id"]
    poll_now = f"{stack.api}/instances/{instance_id}/poll"

    # --- the callback fails every attempt: after the whole schedule, the DLQ
    httpx.post(f"{stack.sink}/_behavior", json={"hook": hook, "status": 503}).raise_for_status()
    order = new_order(stack.store)
    assert httpx.post(poll_now, headers=stack.headers, timeout=10).status_code == 202
    wait_until(lambda: status_of(stack, instance_id)["deadLettered"] == 1, 120, "the event in the DLQ")
    assert deliveries_of(stack, hook) == []
    httpx.post(f"{stack.sink}/_behavior", json={"hook": hook, "status": 200}).raise_for_status()

    # --- the page: dead letters, unreadable records beside their resource
    sign_in_by_keyboard(web, stack.api, *secrets_from(stack.state["authorization"]))
    web.goto(f"{stack.api}/#/instances/{instance_id}")
    expect(web.locator(".dead-lettered")).to_have_text("1")
    customers = web.locator('tr[data-resource="customers"]')
    expect(customers.locator(".unreadable")).to_have_attribute("data-unreadable", "1")
    expect(customers.locator(".unreadable .badge")).to_have_text("1 unreadable")
    expect(customers.locator(".unreadable-reason")).to_have_text(
        "a record has no id in 'id' and no readable updated date in 'date_modified'"
    )
    expect(web.locator('tr[data-resource="orders"] .unreadable')).to_have_count(0)

    # --- Redrive asks first; Cancel moves nothing
    redrive = web.get_by_role("button", name="Redrive", exact=True)
    redrive.click()
    dialog = web.get_by_role("dialog")
    expect(dialog).to_contain_text("1 event(s) of this instance")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert status_of(stack, instance_id)["deadLettered"] == 1
    web.get_by_role("button", name="Redrive", exact=True).click()
    web.get_by_role("dialog").get_by_role("button", name="Redrive").click()
    expect(web.locator("#toast")).to_have_text("1 event(s) sent again, 0 left in the DLQ.")
    expect(web.locator(".dead-lettered")).to_have_text("0")
    row = web.locator("table.events tbody tr[data-event-id][data-status='delivered']").filter(
        has=web.locator("td.object", has_text=re.compile(rf"^orders {order}$"))
    )
    expect(row).to_be_visible(timeout=60_000)
    wait_until(lambda: deliveries_of(stack, hook) == [str(order)], 30, "the one delivery")

    # A second redrive finds nothing of this instance: nothing is sent twice.
    again = httpx.post(
        f"{stack.api}/instances/{instance_id}/events/redrive", headers=stack.headers, timeout=30
    )
    assert again.status_code == 200 and again.json()["moved"] == 0, again.text
    assert deliveries_of(stack, hook) == [str(order)]
    # The operator's command on the running stack (make redrive) reads the same DLQ.
    command = [
        sys.executable,
        "-m",
        "local.redrive",
        "--state-file",
        str(stack.state_file),
        "--instance",
        instance_id,
    ]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.strip().splitlines()[-1]) == {
        "instanceId": instance_id,
        "moved": 0,
        "left": 0,
        "scanned": 0,
        "complete": True,
    }

    # --- the charts draw what status counts: one bar pair per hour, heights in proportion
    web.get_by_label("Auto-refresh").uncheck()
    web.get_by_role("button", name="Refresh", exact=True).click()
    status = status_of(stack, instance_id)
    hours = status["last24h"]["hours"]
    assert len(hours) == 25 and sum(h["delivered"] for h in hours) == status["last24h"]["delivered"] == 1
    bars = web.locator("svg.hourly-chart rect.bar")
    expect(bars).to_have_count(2 * len(hours))
    drawn = bars.evaluate_all(
        "(rects) => rects.map((r) => [r.dataset.hour, r.dataset.kind, Number(r.dataset.count),"
        " Number(r.getAttribute('height'))])"
    )
    expected = [(h["hour"][:13] + ":00Z", kind, h[kind]) for h in hours for kind in ("delivered", "failed")]
    assert [(hour, kind, count) for hour, kind, count, _ in drawn] == expected
    # Heights in proportion: the busiest hour's bars fill the plot, baseline to topline.
    chart = web.locator("svg.hourly-chart")
    plot = float(chart.locator("line.baseline").get_attribute("y1") or 0) - float(
        chart.locator("line.topline").get_attribute("y1") or 0
    )
    busiest = max(h["delivered"] + h["failed"] for h in hours)
    assert chart.locator("line.topline").get_attribute("data-max") == str(busiest)
    for hour, kind, count, height in drawn:
        assert abs(height - count / busiest * plot) < 0.2, (hour, kind, count, height, plot)
    ages = web.locator("svg.cursor-chart rect.bar-age")
    expect(ages).to_have_count(2)
    assert sorted(ages.evaluate_all("(rects) => rects.map((r) => r.dataset.resource)")) == [
        "customers",
        "orders",
    ]
    orders_age = web.locator('svg.cursor-chart rect[data-resource="orders"]').get_attribute(
        "data-age-seconds"
    )
    assert orders_age and 0 <= int(orders_age) < 3600

    # --- photograph the health for the README, then check it at 360 px
    toast_gone = "() => getComputedStyle(document.getElementById('toast')).opacity === '0'"
    web.wait_for_function(toast_gone, timeout=10_000)
    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / "instance-health.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    web.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    web.set_viewport_size(PHONE)
    assert_fits(web, PHONE["width"])
    web.set_viewport_size(DESKTOP)
