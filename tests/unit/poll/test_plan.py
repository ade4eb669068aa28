"""plan_resources: what the real planner hands the engine from a full configuration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bcpoller.poll.plan import plan_resources

BASE: dict[str, Any] = {
    "store.hash": "abc123",
    "access.token": "tok",
    "event.notification.enabled": True,
    "event.notification.callback.url": "https://hooks.example/x",
    "event.poller.configuration": {
        "orders": {"url": "/hubs/ecommerce/orders", "pollDelay": 7, "pageSize": 50},
        "products": {"url": "/hubs/ecommerce/products"},
    },
}


def test_backfill_since_reaches_the_engine() -> None:
    planning = plan_resources({**BASE, "event.poller.backfill_since": "2026-01-31T00:00:00Z"})
    assert planning.backfill_since == datetime(2026, 1, 31, tzinfo=UTC)


def test_without_backfill_the_engine_starts_at_instance_creation() -> None:
    assert plan_resources(BASE).backfill_since is None


def test_each_poller_becomes_one_plan_with_its_own_settings() -> None:
    plans = {p.name: p for p in plan_resources(BASE).resources}
    assert set(plans) == {"orders", "products"}
    assert plans["orders"].overlap_s == 7.0 and plans["orders"].page_size == 50
    assert plans["products"].page_size == 250
    assert not plans["orders"].snapshot and plans["orders"].sorted_by_store
