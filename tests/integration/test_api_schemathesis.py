"""schemathesis against the generated OpenAPI document, over a real local HTTP server
(local.api_gateway: HTTP in, API v2 events to the handler) backed by moto's server and the
simulated store: no 5xx, no response outside its declared schema."""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import schemathesis
from bcpoller.adapters import aws
from bcpoller.api import admin
from bcpoller.api.openapi_export import generate
from bcpoller.settings import reset_settings
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.api_gateway import ApiGateway
from local.moto_server import MotoServer
from local.store import SimulatedStore
from local.template_resources import create_stack_resources
from tests.conftest import load_handler
from tests.unit.api.helpers import Ctx

# The stand-in gateway is Python's http.server, which answers 501 for methods it has no
# handler for (TRACE, OPTIONS, QUERY); API Gateway itself answers those, not our code.
_CONFIG = schemathesis.Config.from_dict(
    {"phases": {"coverage": {"unexpected-methods": ["get", "put", "post", "delete", "patch"]}}}
)
schema = schemathesis.openapi.from_dict(json.loads(generate()), config=_CONFIG)


@dataclass
class LiveApi:
    url: str
    authorization: str
    instance_id: str
    element_token: str


@pytest.fixture(scope="module")
def live_api(moto_server: MotoServer) -> Iterator[LiveApi]:
    store = SimulatedStore(seed=3, records_per_resource=3).start()
    poll_sink = _accepting_server()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "BigCommercePollingEvents",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        }.items():
            mp.setenv(key, value)
        resources = create_stack_resources(moto_server.url)
        for key, value in resources.function_environment().items():
            mp.setenv(key, value)
        mp.setenv("LOCAL_MODE", "true")
        mp.setenv("BC_API_BASE_URL", store.url)
        mp.setenv("POLL_NOW_URL", f"http://127.0.0.1:{poll_sink.server_address[1]}/poll")
        reset_settings()
        aws.reset_clients()
        handler = load_handler("api")
        gateway = ApiGateway(lambda event: handler.lambda_handler(event, Ctx()), port=0).start()
        try:
            org = admin.create_org(admin_table(resources.table_name), "fuzz")
            import httpx

            body = {
                "element": {"key": "bigcommerce"},
                "name": "fuzzed",
                "configuration": {
                    "store.hash": store.store_hash,
                    "store.url": store.api_url,
                    "access.token": store.token,
                    "event.notification.enabled": True,
                    "event.notification.callback.url": "http://127.0.0.1:9/hook",
                    "event.poller.configuration": {"orders": {"url": "/hubs/ecommerce/orders"}},
                },
            }
            created = httpx.post(
                f"{gateway.url}/instances", json=body, headers={"Authorization": org["authorization"]}
            )
            assert created.status_code == 201, created.text
            data = created.json()
            yield LiveApi(gateway.url, org["authorization"], data["id"], data["token"])
        finally:
            gateway.stop()
            store.stop()
            poll_sink.shutdown()
            poll_sink.server_close()
            reset_settings()
            aws.reset_clients()


def _accepting_server() -> HTTPServer:
    """Stands in for the local runtime's "poll now" endpoint."""

    class Accept(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Accept)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def admin_table(table_name: str) -> Any:
    from bcpoller.adapters.auth_table import AuthTable

    return AuthTable(aws.table(table_name))


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, live_api: LiveApi) -> None:
    # Most cases aim at the real instance so that the code behind the 404 runs too.
    params = case.path_parameters or {}
    # (Deleting it would leave the remaining operations nothing but 404s.)
    deleting = case.method == "DELETE" and case.path == "/instances/{instance_id}"
    if (
        "instance_id" in params
        and not deleting
        and zlib.crc32(repr(case.body).encode() + case.path.encode()) % 4
    ):
        params["instance_id"] = live_api.instance_id
    case.call_and_validate(
        base_url=live_api.url,
        headers={"Authorization": live_api.authorization},
        checks=[
            not_a_server_error,
            response_schema_conformance,
            status_code_conformance,
            content_type_conformance,
        ],
    )
