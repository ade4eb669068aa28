"""The poll function's input: ``{"instanceId": "..."}`` from the schedule or "poll now"."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class PollEvent(BaseModel):
    # Schedules may add fields of their own later; only instanceId matters here.
    model_config = ConfigDict(extra="ignore")

    instance_id: str = Field(alias="instanceId", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    # Sent by the wake-up route (issue 18): poll until no wake-up came in during a pass.
    wake: bool = False


class EventError(ValueError):
    """The event is not a poll request; ``errors`` names each field and its problem."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("invalid poll event: " + "; ".join(f"{e['field']}: {e['problem']}" for e in errors))


def parse_poll_event(event: Any) -> str:
    """The instance id of a poll event, or EventError naming what is wrong."""
    if not isinstance(event, dict):
        problem = f"must be a JSON object, got {type(event).__name__}"
        raise EventError([{"field": "(event)", "problem": problem}])
    try:
        return PollEvent.model_validate(event).instance_id
    except ValidationError as exc:
        raise EventError(
            [
                {"field": ".".join(str(p) for p in e["loc"]) or "(event)", "problem": e["msg"]}
                for e in exc.errors(include_url=False)
            ]
        ) from None


def is_wake_event(event: Any) -> bool:
    """Whether a (valid) poll event came from the wake-up route."""
    return isinstance(event, dict) and event.get("wake") is True
