"""The Deliverer on inputs the poller never writes but a queue can still carry (a
hand-made or replayed message): what it stores as the outcome then."""

from __future__ import annotations

import random
from typing import Any

from bcpoller.adapters.event_log_table import EventLogTable
from bcpoller.delivery.deliverer import Deliverer, Disposition

from tests.unit.delivery.test_deliverer import message
from tests.unit.delivery.test_deliverer_contract import NOW, Rig


class _UntouchedTable:
    """A DynamoDB table that must not be read: a malformed reference costs no request."""

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError(f"read {kwargs} for a reference that names no item")


def test_an_empty_body_reference_fails_for_good_naming_the_reference_it_carried() -> None:
    """An empty ``bodyRef`` is looked up as it is: the stored reason quotes what the
    message held, so whoever reads the event log can tell the message was malformed."""
    rig = Rig()
    rig.deliverer = Deliverer(
        instances=rig.instances,
        event_log=rig.log,  # type: ignore[arg-type]
        blobs=EventLogTable(_UntouchedTable()),
        sender=rig.sender,
        queue=rig.queue,  # type: ignore[arg-type]
        url_guard=lambda url: None,
        metrics=rig.metrics,
        clock=lambda: NOW,
        rng=random.Random(7),
    )
    assert rig.run(message(body=None, bodyRef="")) is Disposition.DONE
    outcome = rig.outcome()
    assert outcome["status"] == "failed"
    assert outcome["reason"] == "event body unavailable: bodyRef: expected a BLOB#... sort key, got ''"
    assert rig.sender.posts == []
