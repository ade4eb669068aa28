"""A poll always ends with a report and never leaves its lease behind, whatever failed."""

from __future__ import annotations

from collections.abc import Sequence

from bcpoller.config.errors import ConfigError

from tests.unit.poll.fakes import harness


def test_a_configuration_that_cannot_be_planned_is_reported_not_raised() -> None:
    h = harness()
    h.store.create(1)

    def refuse(configuration: object) -> object:
        raise ConfigError("event.poller.configuration.orders.url: unknown resource")

    h.deps_overrides["planner"] = refuse
    result = h.poll()
    assert result.status == "invalid_configuration"
    assert "unknown resource" in (result.reason or "")
    assert h.queue.messages == []
    assert h.table.last_poll is not None and h.table.last_poll["status"] == "invalid_configuration"


def test_an_unexpected_failure_after_the_lease_releases_it_and_reports() -> None:
    h = harness()
    h.store.create(1)

    def boom(bodies: Sequence[str]) -> None:
        raise RuntimeError("something nobody planned for")

    h.queue.before_send = boom
    result = h.poll()
    assert result.status == "error" and "RuntimeError" in (result.reason or "")
    assert h.table.lease_owner is None  # released, not left to expire
    assert h.table.last_poll is not None and h.table.last_poll["status"] == "error"
    assert "orders" not in h.table.cursors  # nothing was checkpointed past the failure
    # The next poll works and sends the change once.
    h.queue.before_send = None
    assert h.poll().status == "ok"
    assert [oid for oid, _, _ in h.queue.events()] == ["1"]
