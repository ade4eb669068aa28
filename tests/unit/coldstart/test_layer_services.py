"""The layer keeps botocore's models only for the services the code calls (shared/Makefile):
a client for a service left out would fail in Lambda with UnknownServiceError, while every
test here (run against the dev venv's full botocore) passed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLIENT_CALL = re.compile(r"""(?:aws\.client|boto3\.client|\.create_client)\(\s*["']([a-z0-9-]+)["']""")


def makefile_list(name: str) -> set[str]:
    text = (ROOT / "shared" / "Makefile").read_text()
    match = re.search(rf"^{name} \?=(.*)$", text, re.MULTILINE)
    assert match, f"shared/Makefile has no {name}"
    return set(match.group(1).split())


def services_called() -> set[str]:
    sources = [*(ROOT / "shared" / "bcpoller").rglob("*.py"), *(ROOT / "functions").glob("*/app.py")]
    found = {m.group(1) for path in sources for m in CLIENT_CALL.finditer(path.read_text())}
    # aws.table() is a boto3 DynamoDB resource, and Powertools' idempotency makes its own
    # DynamoDB client; the X-Ray SDK (the [tracer] extra) makes an xray client.
    found.add("dynamodb")
    if "[tracer]" in (ROOT / "shared" / "requirements.txt").read_text():
        found.add("xray")
    return found


def test_every_service_the_code_calls_keeps_its_botocore_model() -> None:
    called = services_called()
    assert {"sqs", "kms", "scheduler", "lambda"} <= called, "the scan no longer finds the clients"
    missing = called - makefile_list("BOTOCORE_SERVICES")
    assert not missing, f"add {sorted(missing)} to BOTOCORE_SERVICES in shared/Makefile"


def test_the_dynamodb_resource_model_is_kept() -> None:
    assert "dynamodb" in makefile_list("BOTO3_RESOURCES")
