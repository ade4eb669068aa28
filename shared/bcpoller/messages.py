"""What the poller puts on EventsQueue and what the callback receives.

The callback body is built once, by the poller, and carried as the exact string that
will be signed and POSTed, so a re-delivery or a replay sends the same bytes.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

ELEMENT_KEY = "bigcommerce"
EventType = Literal["CREATED", "UPDATED", "DELETED"]

# Fixed namespace: eventIds must stay stable across deployments and versions.
_EVENT_NAMESPACE = uuid.UUID("6f1c1f5e-9a57-4b8e-a3c1-2b2f7d0b9e11")


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z and no sub-second part when there is none."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every instant in this system carries a zone")
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def event_id(instance_id: str, object_type: str, object_id: str, changed_at: datetime) -> str:
    """The same (instance, objectType, objectId, updated time) always gives the same id."""
    name = f"{instance_id}|{object_type}|{object_id}|{iso_utc(changed_at)}"
    return str(uuid.uuid5(_EVENT_NAMESPACE, name))


def build_callback_body(
    *,
    instance_id: str,
    instance_name: str,
    event_type: EventType,
    object_type: str,
    object_id: str,
    changed_at: datetime,
    record: dict[str, Any],
) -> dict[str, Any]:
    """The Open Connectors-shaped notification for one change (DESIGN.md)."""
    return {
        "message": {
            "eventId": event_id(instance_id, object_type, object_id, changed_at),
            "instanceId": instance_id,
            "instanceName": instance_name,
            "elementKey": ELEMENT_KEY,
            "events": [
                {
                    "eventType": event_type,
                    "objectType": object_type,
                    "objectId": object_id,
                    "elementKey": ELEMENT_KEY,
                    "date": iso_utc(changed_at),
                }
            ],
            "raw": {"objectType": object_type, object_type: [record]},
        }
    }


def dump_body(body: dict[str, Any]) -> str:
    """Compact, key-order-preserving JSON: the exact bytes that are signed and sent."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)


class QueueMessage(BaseModel):
    """Body of one EventsQueue message (JSON)."""

    v: Literal[1] = 1
    instance_id: str = Field(alias="instanceId", min_length=1)
    event_id: str = Field(alias="eventId", min_length=1)
    event_type: EventType = Field(alias="eventType")
    object_type: str = Field(alias="objectType", min_length=1)
    object_id: str = Field(alias="objectId", min_length=1)
    changed_at: datetime = Field(alias="changedAt")
    emitted_at: datetime = Field(alias="emittedAt")
    # Exactly one of these: the callback body as a string, or the table item holding it
    # (keys.blob_sk) when the message would pass SQS's 256 KiB limit.
    body: str | None = None
    body_ref: str | None = Field(None, alias="bodyRef")

    model_config = {"populate_by_name": True}

    @model_validator(mode="after")
    def _one_body(self) -> QueueMessage:
        if (self.body is None) == (self.body_ref is None):
            raise ValueError("exactly one of body and bodyRef must be set")
        return self

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


def now_utc() -> datetime:
    return datetime.now(UTC)
