"""docs/openapi.json is the document the code generates (run `make openapi` after a change)."""

from __future__ import annotations

import json
from pathlib import Path

from bcpoller.api.openapi_export import generate

DOC = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def test_committed_document_matches_the_code() -> None:
    assert json.loads(DOC.read_text()) == json.loads(generate()), (
        "docs/openapi.json is stale: run `make openapi`"
    )


def test_document_describes_every_route_errors_and_auth() -> None:
    doc = json.loads(generate())
    assert doc["openapi"].startswith("3.")
    expected = {
        ("/instances", "post"),
        ("/instances", "get"),
        ("/instances/{instance_id}", "get"),
        ("/instances/{instance_id}", "patch"),
        ("/instances/{instance_id}", "delete"),
        ("/instances/{instance_id}/events/enabled", "put"),
        ("/instances/{instance_id}/events/enabled", "delete"),
        ("/instances/{instance_id}/poll", "post"),
        ("/instances/{instance_id}/status", "get"),
        ("/instances/{instance_id}/events", "get"),
        ("/instances/{instance_id}/events/{event_id}", "get"),
        ("/instances/{instance_id}/events/{event_id}/retry", "post"),
        ("/instances/{instance_id}/events/replay", "post"),
        ("/catalog", "get"),
    }
    present = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert expected <= present
    assert doc["paths"]["/instances"]["post"]["responses"]["201"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/InstanceCreated"}
    assert "401" in doc["paths"]["/instances/{instance_id}"]["get"]["responses"]
    assert doc["components"]["securitySchemes"]["ElementsAuth"]["in"] == "header"
    assert set(doc["components"]["schemas"]["ErrorBody"]["properties"]) == {"message", "errors"}
