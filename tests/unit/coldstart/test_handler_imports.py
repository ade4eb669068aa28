"""A cold start imports only what the handler's first call needs (issue 13).

Each handler is imported in a fresh interpreter, as Lambda's init does, and the modules
it loaded are checked: boto3 (~100 ms with its clients), the X-Ray SDK (100-160 ms) and,
for the API, the OpenAPI models and httpx are loaded on first use only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"

_PROBE = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
at_import = sorted(sys.modules)
after_call = None
if len(sys.argv) > 3:
    class Context:
        function_name = "ApiFunction"
        function_version = "$LATEST"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ApiFunction"
        memory_limit_in_mb = 512
        aws_request_id = "test"
        def get_remaining_time_in_millis(self):
            return 29000
    response = app.lambda_handler(json.loads(sys.argv[3]), Context())
    assert response.get("statusCode", 200) == 200, response
    after_call = sorted(sys.modules)
print(json.dumps({"at_import": at_import, "after_call": after_call}))
"""

# Never at import: boto3 and its clients, the X-Ray SDK.
NEVER_AT_IMPORT = ("boto3", "s3transfer", "botocore.session", "aws_xray_sdk")
# The API's first request (GET /catalog) needs neither AWS nor the Swagger page.
API_LAZY = (*NEVER_AT_IMPORT, "aws_lambda_powertools.event_handler.openapi.models", "httpx")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_"))}
    env.update(
        TABLE_NAME="coldstart-test",
        EVENTS_QUEUE_URL="http://127.0.0.1:9/queue/events",
        DLQ_URL="http://127.0.0.1:9/queue/dlq",
        KMS_KEY_ID="alias/test",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        POWERTOOLS_SERVICE_NAME="coldstart-test",
        POWERTOOLS_METRICS_NAMESPACE="ColdstartTest",
        POWERTOOLS_METRICS_DISABLED="true",
    )
    env.update(extra)
    return env


def _modules(function: str, env: dict[str, str], event: dict[str, Any] | None = None) -> dict[str, list[str]]:
    args = [sys.executable, "-c", _PROBE, str(ROOT / "functions" / function), str(ROOT / "shared")]
    if event is not None:
        args.append(json.dumps(event))
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, list[str]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _loaded(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted({p for p in prefixes for m in modules if m == p or m.startswith(p + ".")})


# Tracing explicitly off inside Lambda (where Powertools would otherwise trace), and off
# because the process is not in Lambda at all.
TRACING_OFF = [
    pytest.param(
        {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, id="disabled-in-lambda"
    ),
    pytest.param({}, id="outside-lambda"),
]


@pytest.mark.parametrize("tracing", TRACING_OFF)
@pytest.mark.parametrize("function", ["poll", "delivery", "api"])
def test_import_loads_no_boto3_and_no_xray(function: str, tracing: dict[str, str]) -> None:
    modules = _modules(function, _env(**tracing))
    assert _loaded(modules["at_import"], NEVER_AT_IMPORT) == []


def test_api_first_request_for_the_catalog_loads_no_aws_sdk_nor_openapi_models() -> None:
    event = json.loads((EVENTS / "api_list_instances.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/catalog"
    modules = _modules("api", _env(), event)
    assert _loaded(modules["at_import"], API_LAZY) == []
    assert _loaded(modules["after_call"], API_LAZY) == []


def test_tracing_on_loads_the_xray_sdk_with_the_first_call_not_the_import() -> None:
    """The other side of the switch: when tracing is on the handler really is traced."""
    env = _env(
        LAMBDA_TASK_ROOT="/var/task",
        POWERTOOLS_TRACE_DISABLED="false",
        AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR",
        AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000",
    )
    # An event the poll rejects before any AWS call: {} has no instanceId.
    modules = _modules("poll", env, {})
    assert "aws_xray_sdk" not in modules["at_import"]
    assert "aws_xray_sdk" in modules["after_call"]
