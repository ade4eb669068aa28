"""The event inspector (issue 20) in Debian's Chromium against the local stack.

Each test creates an instance with events off (nothing polls it) and writes its event
log straight into the stack's table with the delivery's own EventLog code (a 1,000-event
log through the store and the sink would take minutes); the page then reads it through
the API like any reader: search by object id past the newest 250, the failed filter
over a 1,000-event log, "Load more" pages that survive the auto-refresh, times with
their zone, and the inspector's screenshot for the README (UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from bcpoller.adapters.event_log_table import EventLogTable
from bcpoller.delivery.event_log import EventLog
from bcpoller.messages import QueueMessage, build_callback_body, dump_body, event_id
from playwright.sync_api import Page, expect

from local.demo import SEED_POLLER_CONFIGURATION
from tests.e2e.test_web import (  # noqa: F401 - fixtures: the same browser, tab and stack
    CHROMIUM,
    chromium,
    created_ids,
    secrets_from,
    sign_in_by_keyboard,
    web,
    web_stack,
)

INSPECTOR_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "event-inspector.png"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM, reason="no chromium on PATH (or set CHROMIUM)"),
]


def quiet_instance(stack: dict[str, Any], ids: list[str]) -> str:
    """An instance with events off: its log holds only what a test writes."""
    body = {
        "element": {"key": "bigcommerce"},
        "name": f"inspector {uuid.uuid4().hex[:6]}",
        "configuration": {
            "store.url": f"{stack['store']}/stores/{stack['store_hash']}",
            "store.hash": stack["store_hash"],
            "access.token": stack["store_token"],
            "event.notification.enabled": False,
            "event.notification.callback.url": f"{stack['sink']}/hooks/quiet-{uuid.uuid4().hex[:6]}",
            "event.poller.configuration": {"orders": SEED_POLLER_CONFIGURATION["orders"]},
        },
    }
    r = httpx.post(
        f"{stack['api']}/instances", json=body, headers={"Authorization": stack["authorization"]}, timeout=30
    )
    assert r.status_code == 201, r.text
    ids.append(r.json()["id"])
    return str(r.json()["id"])


def stack_event_log(stack: dict[str, Any]) -> EventLog:
    options = {
        "endpoint_url": stack["moto"],
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    client = boto3.client("dynamodb", **options)
    names = [n for n in client.list_tables()["TableNames"] if n.endswith("Table")] or client.list_tables()[
        "TableNames"
    ]
    assert len(names) == 1, names
    return EventLog(EventLogTable(boto3.resource("dynamodb", **options).Table(names[0])))


def write_events(
    log: EventLog,
    instance_id: str,
    count: int,
    *,
    start: datetime,
    failed: set[int] = frozenset(),
    retrying: set[int] = frozenset(),
    first: int = 0,
) -> list[str]:
    """Orders ``first``..``first+count-1`` changed a second apart, each delivered on its
    first attempt except those in ``failed`` (the receiver answered 500 and gave up) and
    ``retrying`` (503, next attempt in 10 minutes)."""
    ids = []
    for i in range(first, first + count):
        changed = start + timedelta(seconds=i)
        body = build_callback_body(
            instance_id=instance_id,
            instance_name="inspector",
            event_type="UPDATED",
            object_type="orders",
            object_id=str(1000 + i),
            changed_at=changed,
            record={"id": 1000 + i},
        )
        message = QueueMessage(
            instanceId=instance_id,
            eventId=event_id(instance_id, "orders", str(1000 + i), changed),
            eventType="UPDATED",
            objectType="orders",
            objectId=str(1000 + i),
            changedAt=changed,
            emittedAt=changed,
            body=dump_body(body),
        )
        now = datetime.now(UTC)
        claimed = log.claim(message, now=now, lease_until=now, first_attempt=True)
        bad, later = i in failed, i in retrying
        attempt: dict[str, Any] = {
            "at": now.isoformat(),
            "statusCode": 500 if bad else 503 if later else 200,
            "latencyMs": 12,
            "error": "HTTP 500" if bad else "HTTP 503" if later else None,
        }
        log.finish_attempt(
            instance_id,
            message.event_id,
            status="failed" if bad else "retrying" if later else "delivered",
            attempt=attempt,
            now=now,
            next_attempt_at=now + timedelta(minutes=10) if later else None,
            claimed=claimed,
            response='{"error": "order service unavailable", "retryable": true}' if bad or later else None,
        )
        ids.append(message.event_id)
    return ids


def open_instance(page: Page, stack: dict[str, Any], instance_id: str) -> None:
    sign_in_by_keyboard(page, stack["api"], *secrets_from(stack["authorization"]))
    page.goto(f"{stack['api']}/#/instances/{instance_id}")
    expect(page.get_by_role("heading", name="Event log")).to_be_visible()
    # No stray text beside the page's sections (a null child once showed as "null").
    stray = page.evaluate(
        "() => [...document.getElementById('main').childNodes]"
        ".filter((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim()).map((n) => n.textContent)"
    )
    assert stray == [], stray


def rows(page: Page) -> Any:
    return page.locator("table.events tbody tr[data-event-id]")


def test_search_by_object_id_finds_an_event_older_than_the_newest_250(
    web: Page,  # noqa: F811
    web_stack: dict[str, Any],  # noqa: F811
    created_ids: list[str],  # noqa: F811
) -> None:
    instance_id = quiet_instance(web_stack, created_ids)
    log = stack_event_log(web_stack)
    start = datetime.now(UTC) - timedelta(hours=2)
    ids = write_events(log, instance_id, 300, start=start)
    open_instance(web, web_stack, instance_id)
    expect(rows(web)).to_have_count(25)

    # Order 1007 is the 8th oldest: 292 events are newer.
    web.get_by_label("Object or event id").fill("1007")
    web.get_by_role("button", name="Search", exact=True).click()
    expect(rows(web)).to_have_count(1)
    row = rows(web).first
    expect(row.locator("td.object")).to_have_text("orders 1007")
    expect(row).to_have_attribute("data-event-id", ids[7])

    # Its link opens the page searched for that event, details open.
    row.get_by_role("link", name=f"Link to event {ids[7]}").click()
    assert web.url.endswith(f"#/instances/{instance_id}/events/{ids[7]}")
    expect(rows(web)).to_have_count(1)
    expect(web.locator(".attempts-row:not([hidden])")).to_contain_text(ids[7])

    # An event id typed in the box finds the event itself.
    web.get_by_label("Object or event id").fill(ids[3])
    web.get_by_role("button", name="Search", exact=True).click()
    expect(rows(web)).to_have_count(1)
    expect(rows(web).first).to_have_attribute("data-event-id", ids[3])


def test_failed_filter_lists_every_failed_event_of_a_1000_event_log(
    web: Page,  # noqa: F811
    web_stack: dict[str, Any],  # noqa: F811
    created_ids: list[str],  # noqa: F811
) -> None:
    instance_id = quiet_instance(web_stack, created_ids)
    log = stack_event_log(web_stack)
    failed = {2, 140, 333, 520, 777, 901, 999}
    ids = write_events(log, instance_id, 1000, start=datetime.now(UTC) - timedelta(hours=3), failed=failed)
    open_instance(web, web_stack, instance_id)
    web.get_by_label("Event status").select_option("failed")
    web.get_by_role("button", name="Search", exact=True).click()
    expect(rows(web)).to_have_count(len(failed))
    shown = rows(web).evaluate_all("rows => rows.map((r) => r.dataset.eventId)")
    assert shown == [ids[i] for i in sorted(failed, reverse=True)]
    expect(web.locator("table.events tbody tr[data-status]:not([data-status='failed'])")).to_have_count(0)
    expect(web.get_by_role("button", name="Load more")).to_be_hidden()
    expect(web.locator("p.empty", has_text="No events match")).to_be_hidden()


def test_load_more_pages_and_open_rows_survive_auto_refresh_and_new_events_are_announced(
    web: Page,  # noqa: F811
    web_stack: dict[str, Any],  # noqa: F811
    created_ids: list[str],  # noqa: F811
) -> None:
    instance_id = quiet_instance(web_stack, created_ids)
    log = stack_event_log(web_stack)
    start = datetime.now(UTC) - timedelta(hours=1)
    write_events(log, instance_id, 60, start=start)
    open_instance(web, web_stack, instance_id)
    expect(rows(web)).to_have_count(25)
    web.get_by_role("button", name="Load more").click()
    expect(rows(web)).to_have_count(50)
    opened = rows(web).nth(30)
    opened_id = opened.get_attribute("data-event-id")
    opened.get_by_role("button", name="Details").click()
    expect(web.locator(f'tr[id="attempts-{opened_id}"]')).to_be_visible()

    # Three events arrive; the auto-refresh (every 5 s) announces them, moves nothing.
    write_events(log, instance_id, 3, start=start, first=60)
    notice = web.locator("button.new-events")
    expect(notice).to_have_text("3 new events: show them", timeout=15_000)
    web.wait_for_timeout(6_000)  # one more tick at least
    expect(rows(web)).to_have_count(50)
    expect(web.locator(f'tr[id="attempts-{opened_id}"]')).to_be_visible()
    assert rows(web).nth(30).get_attribute("data-event-id") == opened_id

    notice.click()
    expect(rows(web)).to_have_count(25)
    expect(rows(web).first.locator("td.object")).to_have_text("orders 1062")


def test_a_time_shows_its_zone_and_the_inspector_screenshot(
    web: Page,  # noqa: F811
    web_stack: dict[str, Any],  # noqa: F811
    created_ids: list[str],  # noqa: F811
    tmp_path: Path,
) -> None:
    instance_id = quiet_instance(web_stack, created_ids)
    log = stack_event_log(web_stack)
    start = datetime.now(UTC) - timedelta(minutes=20)
    ids = write_events(log, instance_id, 12, start=start, failed={4, 9}, retrying={10})
    open_instance(web, web_stack, instance_id)
    created = rows(web).first.locator("time")
    expect(created).to_have_text("20 minutes ago")
    title = created.get_attribute("title") or ""
    newest = start + timedelta(seconds=11)
    assert title.startswith(newest.strftime("%Y-%m-%d %H:%M:%S UTC")), title
    assert created.get_attribute("datetime", timeout=1000) and " · " in title  # then the reader's own time

    row = web.locator(f'tr[data-event-id="{ids[9]}"]')
    row.get_by_role("button", name="Details").click()
    expect(web.locator(f'tr[id="attempts-{ids[9]}"]')).to_contain_text("Callback body")
    expect(web.locator(f'tr[data-event-id="{ids[10]}"] .next-attempt')).to_contain_text("next in 10 minutes")
    detail = web.locator(f'tr[id="attempts-{ids[9]}"]')
    detail.locator(".last-response > summary").click()
    expect(detail.locator(".last-response pre")).to_contain_text("order service unavailable")
    detail.locator("td[data-label='Request headers'] summary").click()
    expect(detail.locator("td[data-label='Request headers'] pre")).to_contain_text(f"webhook-id: {ids[9]}")
    target = (
        INSPECTOR_SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path / INSPECTOR_SCREENSHOT.name
    )
    web.locator("section[aria-labelledby='events-title']").screenshot(path=str(target))


def test_every_form_error_appears_in_one_submit_beside_its_field(
    web: Page,  # noqa: F811
    web_stack: dict[str, Any],  # noqa: F811
) -> None:
    sign_in_by_keyboard(web, web_stack["api"], *secrets_from(web_stack["authorization"]))
    web.get_by_role("link", name="New instance").first.click()
    expect(web.get_by_role("heading", name="New instance")).to_be_visible()
    # Four problems of three kinds: the page's own (name, resources), the URL guard's
    # (callback) and the store's (a token it refuses).
    web.get_by_label("Store hash").fill(web_stack["store_hash"])
    web.get_by_label("Access token").fill("not-the-token")
    web.get_by_label("Callback URL").fill("ftp://nowhere.example/hook")
    web.get_by_role("button", name="Create Instance").click()

    def error_of(field: str) -> Any:
        return web.locator(f'[data-field="{field}"] > .field-error')

    expect(error_of("name")).to_have_text("is required")
    expect(error_of("configuration.event.poller.configuration")).to_have_text(
        "tick at least one resource to poll"
    )
    expect(error_of("configuration.event.notification.callback.url")).not_to_be_empty()
    expect(error_of("configuration.access.token")).not_to_be_empty()
    summary = web.locator(".error-summary")
    expect(summary).to_contain_text("4 things to correct")
    text = summary.inner_text() + " ".join(web.locator(".field-error").all_inner_texts())
    assert "null" not in text and "configuration." not in text and "problem(s)" not in text, text
    expect(web.get_by_role("heading", name="Instance created")).to_have_count(0)


def test_sign_in_explains_the_secrets_and_takes_a_pasted_authorization_value(
    web: Page,  # noqa: F811
    web_stack: dict[str, Any],  # noqa: F811
) -> None:
    web.goto(f"{web_stack['api']}/")
    expect(web.locator(".signin-where")).to_contain_text("make create-org")
    web.get_by_label("User secret").fill(web_stack["authorization"])
    web.get_by_role("button", name="Sign in").click()
    expect(web.get_by_role("heading", name="Instances", exact=True)).to_be_visible()


def test_a_410_shows_a_banner_with_the_way_out_and_poll_now_waits_for_events_on(
    web: Page,  # noqa: F811
    web_stack: dict[str, Any],  # noqa: F811
    created_ids: list[str],  # noqa: F811
) -> None:
    instance_id = quiet_instance(web_stack, created_ids)
    # What the delivery does on a 410 (adapters.delivery_instances.turn_off_notifications):
    # events off, with the reason.
    table = stack_event_log(web_stack).store._table  # type: ignore[attr-defined]
    table.update_item(
        Key={"pk": f"INST#{instance_id}", "sk": "META"},
        UpdateExpression="SET notificationsDisabledReason = :r, eventsEnabled = :off",
        ExpressionAttributeValues={
            ":r": "callback answered 410 Gone: notifications turned off",
            ":off": False,
        },
    )
    open_instance(web, web_stack, instance_id)
    banner = web.get_by_role("alert").filter(has_text="Deliveries stopped")
    expect(banner).to_contain_text("410 Gone")
    expect(banner.get_by_role("link", name="Edit the callback URL")).to_have_attribute(
        "href", f"#/instances/{instance_id}/edit"
    )
    poll = web.get_by_role("button", name="Poll now")
    expect(poll).to_be_disabled()
    web.get_by_role("switch", name="Events").check()
    expect(poll).to_be_enabled()
