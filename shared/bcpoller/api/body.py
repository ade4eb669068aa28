"""The configuration model's verdict on an instance body, reduced to what the API needs."""

from __future__ import annotations

from typing import Any

from bcpoller.api.service import ParsedFacts


def parse_facts(raw: dict[str, Any]) -> ParsedFacts:
    """Raises the configuration model's ConfigError (a ValueError with every problem)."""
    from bcpoller.config.body import parse_instance_body

    body = parse_instance_body(raw)
    cfg = body.configuration
    return ParsedFacts(
        events_enabled=bool(cfg.events_enabled),
        callback_url=cfg.callback_url or None,
        refresh_minutes=cfg.refresh_interval,
        resources=list(cfg.pollers),
        wakeup=bool(cfg.wakeup),
    )


def catalog_entries() -> list[dict[str, Any]]:
    from bcpoller.config.catalog import CATALOG

    entries = CATALOG.values() if isinstance(CATALOG, dict) else CATALOG
    return [
        {
            "name": e.name,
            "hub": e.hub,
            "description": e.description,
            "hubPath": e.hub_path,
            "legacyAuth": e.legacy_v2_path is not None,
            "configuration": e.default_poller(),
        }
        for e in entries
    ]
