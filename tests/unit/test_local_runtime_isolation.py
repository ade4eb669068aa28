"""The local runtime's environments are threads of one process; on Lambda each is a process.
What Powertools keeps per process must not leak between them."""

from __future__ import annotations

import pytest

from local.runtime import function_spec, load_handler_module


def test_each_environment_keeps_its_own_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the stack gives the runtime process (the handlers read their settings at import).
    monkeypatch.setenv("TABLE_NAME", "isolation")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    api, other_api = (load_handler_module(function_spec("api"), copy) for copy in (901, 902))
    delivery = load_handler_module(function_spec("delivery"), 903)
    try:
        api.metrics.add_metric(name="OnlyHere", unit="Count", value=1)
        assert "OnlyHere" in api.metrics.metric_set
        assert "OnlyHere" not in other_api.metrics.metric_set
        assert "OnlyHere" not in delivery.metrics.metric_set
        # What a flush publishes is the provider's set: the same one the copy adds to.
        assert api.metrics.provider.metric_set is api.metrics.metric_set
    finally:
        api.metrics.clear_metrics()
