"""Request and response bodies of the API (pydantic: they become the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventStatus = Literal["queued", "delivering", "delivered", "retrying", "failed"]


class Element(BaseModel):
    model_config = ConfigDict(extra="allow")
    key: str = "bigcommerce"


class InstanceCreate(BaseModel):
    """An Open Connectors instance body; the configuration is checked as a whole by the
    configuration model so that every problem is reported at once."""

    model_config = ConfigDict(extra="allow")
    element: Element = Field(default_factory=Element)
    name: str = ""
    tags: list[str] = Field(default_factory=list)
    configuration: dict[str, Any] = Field(
        description="Dotted configuration keys (store.url, access.token, event.notification.enabled, ...)"
    )


class InstancePatch(BaseModel):
    """A partial change: configuration keys given are set (null removes a key; a masked
    secret "********" keeps the stored one)."""

    name: str | None = None
    tags: list[str] | None = None
    configuration: dict[str, Any] | None = None


class InstanceOut(BaseModel):
    id: str
    name: str
    tags: list[str]
    element: Element
    configuration: dict[str, Any] = Field(description="Every secret reads ********")
    createdDate: datetime
    eventsEnabled: bool
    authState: Literal["ok", "failed"]
    authError: str | None = None
    notificationsDisabledReason: str | None = None
    refreshInterval: int = Field(description="Minutes between polls")
    resources: list[str]
    installState: Literal["installed", "uninstalled"] | None = Field(
        None, description="Set for instances a BigCommerce app install created"
    )


class InstanceCreated(InstanceOut):
    token: str = Field(description="Element token: shown only in this response")
    signingSecret: str = Field(
        description="Standard Webhooks secret (whsec_...): shown only in this response"
    )


class ResourceStatus(BaseModel):
    resource: str
    cursor: str | None = None
    status: str | None = Field(None, description="outcome of the latest poll for this resource")
    lastPollStart: str | None = None
    lastPollEnd: str | None = None
    recordsRead: int | None = None
    eventsEmitted: int | None = None
    requests: int | None = None
    lastError: str | None = None
    unreadable: int | None = Field(
        None, description="records the latest poll read but could not turn into events"
    )
    unreadableReason: str | None = Field(None, description="why the first of them could not")


class HourCounts(BaseModel):
    hour: datetime = Field(description="start of the UTC hour")
    delivered: int = 0
    failed: int = 0


class EventCounts(BaseModel):
    since: datetime
    delivered: int = 0
    failed: int = 0
    hours: list[HourCounts] = Field(
        default_factory=list, description="the same counts per hour, oldest first (the page's chart)"
    )


class WakeHook(BaseModel):
    id: int
    scope: str
    active: bool


class WakeupStatus(BaseModel):
    """Wake-up (event.poller.wakeup): the store's hooks as last checked (never their secret)."""

    enabled: bool = Field(description="events and wake-up are on, the route accepts this instance's hooks")
    pending: bool = Field(False, description="a woken poll is running or waiting")
    hooks: list[WakeHook] = Field(default_factory=list)
    checkedAt: str | None = None
    error: str | None = Field(None, description="what the store answered when the hooks could not be kept")


class InstanceStatus(BaseModel):
    instanceId: str
    eventsEnabled: bool
    authState: Literal["ok", "failed"]
    authError: str | None = None
    notificationsDisabledReason: str | None = None
    refreshInterval: int
    resources: list[ResourceStatus]
    last24h: EventCounts
    deadLettered: int = Field(
        0,
        description="events that exhausted their delivery attempts and wait in the DLQ "
        "(POST .../events/redrive sends them again)",
    )
    wakeup: WakeupStatus | None = None


class Attempt(BaseModel):
    model_config = ConfigDict(extra="allow")
    at: str | None = None
    statusCode: int | None = None
    latencyMs: float | None = None
    error: str | None = None


class EventOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    eventId: str
    status: str
    eventType: str | None = None
    objectType: str | None = None
    objectId: str | None = None
    changedAt: str | None = None
    createdAt: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)


class EventDetail(EventOut):
    lastResponse: str | None = Field(None, description="The latest refusal's answer: first 2 KB of its body")
    body: Any = Field(None, description="The callback body as sent (parsed JSON)")


class EventPage(BaseModel):
    events: list[EventOut]
    nextToken: str | None = None


class ReplayRequest(BaseModel):
    since: datetime | None = None
    until: datetime | None = None


class Replayed(BaseModel):
    replayed: int


class Redriven(BaseModel):
    instanceId: str
    moved: int = Field(description="this instance's dead-lettered events sent back for delivery")
    left: int = Field(description="this instance's events still in the DLQ (0 when complete)")
    scanned: int = Field(description="DLQ messages read (other instances' stay in the DLQ)")
    complete: bool = Field(description="the whole DLQ was read; false: call again to go on")


class Accepted(BaseModel):
    instanceId: str
    eventId: str | None = None
    status: Literal["accepted"] = "accepted"


class EventsSwitch(BaseModel):
    instanceId: str
    eventsEnabled: bool


class SigningSecretRotated(BaseModel):
    instanceId: str
    signingSecret: str = Field(description="The new Standard Webhooks secret (whsec_...): shown only here")
    previousValidUntil: datetime | None = Field(
        description="Until then the replaced secret signs too (a second v1 signature in webhook-signature)"
    )


class InstanceCheck(BaseModel):
    valid: bool = Field(description="True: create would accept this body now")
