"""Adapter details that the moto tests cannot show: the Lambda invoke of "poll now"."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bcpoller.adapters.poll_trigger import PollTrigger
from bcpoller.adapters.schedules import rate_expression, schedule_name


class RecordingLambda:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"StatusCode": 202}


def test_poll_now_invokes_poll_function_asynchronously() -> None:
    client = RecordingLambda()
    PollTrigger(client, function_arn="arn:aws:lambda:us-east-1:1:function:poll").trigger("i-1")
    (call,) = client.calls
    assert call["InvocationType"] == "Event"
    assert call["FunctionName"] == "arn:aws:lambda:us-east-1:1:function:poll"
    assert json.loads(call["Payload"]) == {"instanceId": "i-1"}


def test_poll_now_without_a_target_is_a_server_fault() -> None:
    with pytest.raises(RuntimeError):
        PollTrigger(None, function_arn="").trigger("i-1")


@pytest.mark.parametrize(
    ("minutes", "expr"), [(1, "rate(1 minute)"), (5, "rate(5 minutes)"), (1440, "rate(1440 minutes)")]
)
def test_rate_expression_is_singular_for_one_minute(minutes: int, expr: str) -> None:
    assert rate_expression(minutes) == expr
    assert schedule_name("abc") == "inst-abc"
