"""template.yaml's CloudWatch dashboard draws only metrics the code emits, under the
namespace and dimension the functions publish them with (issue 17)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import bcpoller

from local.template_resources import load_template

ROOT = Path(__file__).resolve().parents[2]


def _dashboard_metrics() -> list[list[Any]]:
    tpl = load_template()
    body = tpl["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # The intrinsics resolve to names at deploy time; any string stands for them here.
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "resolved", body))["widgets"]
    return [metric for widget in widgets for metric in widget["properties"]["metrics"]]


def _emitted() -> dict[str, set[str]]:
    """Metric name -> the services (POWERTOOLS_SERVICE_NAME) whose code adds it."""
    tpl = load_template()
    services = {}
    for res in tpl["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            folder = res["Properties"]["CodeUri"].strip("/").split("/")[-1]
            services[folder] = res["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    # Which package each function's handler drives: poll -> bcpoller/poll and its connector, ...
    packages = {"poll": ("poll", "connector"), "delivery": ("delivery",), "api": ("api",)}
    found: dict[str, set[str]] = {}
    for folder, service in services.items():
        for package in packages[folder]:
            # The package where it is imported from (shared/ here, src/ in the mutation copy).
            for path in (Path(bcpoller.__file__).parent / package).glob("*.py"):
                for metric in re.findall(r'add_metric\(\s*"(\w+)"', path.read_text()):
                    found.setdefault(metric, set()).add(service)
    return found


def test_every_custom_metric_on_the_dashboard_is_emitted_by_the_service_it_names() -> None:
    namespace = load_template()["Globals"]["Function"]["Environment"]["Variables"][
        "POWERTOOLS_METRICS_NAMESPACE"
    ]
    emitted = _emitted()
    custom = [m for m in _dashboard_metrics() if m[0] == namespace]
    assert {m[1] for m in custom} >= {"EventsEmitted", "Delivered", "Failed", "EndToEndAge", "StoreThrottled"}
    for metric in custom:
        _, name, dimension, service = metric[:4]
        assert dimension == "service", metric
        assert service in emitted.get(name, set()), f"{name} is not emitted by service {service!r}"


def test_the_dashboard_shows_polls_and_the_dlq_from_aws_metrics() -> None:
    aws = {(m[0], m[1]) for m in _dashboard_metrics() if m[0].startswith("AWS/")}
    assert ("AWS/Lambda", "Invocations") in aws
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in aws
