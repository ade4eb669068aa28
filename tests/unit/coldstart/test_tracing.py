"""Tracing is switched by Powertools' own rule, and never records responses."""

from __future__ import annotations

from typing import Any

import aws_lambda_powertools
import pytest
from bcpoller.settings import tracing_enabled
from bcpoller.tracing import traced


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({}, False),  # not in Lambda
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
    ],
)
def test_tracing_enabled_follows_powertools(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], enabled: bool
) -> None:
    for key in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert tracing_enabled() is enabled


class _FakeTracer:
    calls: list[dict[str, Any]] = []

    def capture_lambda_handler(self, handler: Any, **kwargs: Any) -> Any:
        self.calls.append(kwargs)

        def wrapper(event: Any, context: Any) -> Any:
            return ("traced", handler(event, context))

        return wrapper


def _handler(event: Any, context: Any) -> str:
    return "answer"


def test_off_returns_the_handler_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setattr(aws_lambda_powertools, "Tracer", _FakeTracer)
    _FakeTracer.calls = []
    assert traced(_handler) is _handler
    assert _FakeTracer.calls == []


def test_on_wraps_without_capturing_the_response(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)
    monkeypatch.setattr(aws_lambda_powertools, "Tracer", _FakeTracer)
    _FakeTracer.calls = []
    handler = traced(_handler)
    assert _FakeTracer.calls == []  # the import pays nothing: the first call sets it up
    assert handler({}, None) == ("traced", "answer")
    assert handler({}, None) == ("traced", "answer")
    assert _FakeTracer.calls == [{"capture_response": False}]
