"""Fixtures shared by every test layer.

- ``moto_server``: one moto server process per test session, over HTTP.
- ``stack``: a fresh set of stack resources (table, queues, key, schedule group) made
  from template.yaml on that server, and the functions' environment pointing at them.
- ``shared_dir``: ``../shared`` beside the project (specs, seed bodies), or a skip.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.moto_server import MotoServer
from local.template_resources import StackResources, create_stack_resources

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events"
SHARED_DIR = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED_DIR / "DESIGN.md").exists():
        pytest.skip(f"{SHARED_DIR} is absent: the BigCommerce specs and seed bodies live outside the product")
    return SHARED_DIR


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (the same files `sam local invoke -e` takes)."""
    return json.loads((EVENTS_DIR / name).read_text())


def load_handler(function: str) -> ModuleType:
    """functions/<function>/app.py as a module (every function's module is named app)."""
    path = ROOT / "functions" / function / "app.py"
    name = f"functions_{function}_app"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "BigCommercePollingEvents",
        "POWERTOOLS_SERVICE_NAME": "tests",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def stack(
    moto_server: MotoServer, aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StackResources]:
    """Fresh resources on the session's moto server; the environment points at them."""
    from bcpoller.adapters import aws
    from bcpoller.settings import reset_settings

    resources = create_stack_resources(moto_server.url)
    for key, value in resources.function_environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LOCAL_MODE", "true")
    # Clients cached by an earlier session in this process (mutmut runs pytest more than
    # once in one process) would still point at that session's moto server.
    aws.reset_clients()
    reset_settings()
    yield resources
    reset_settings()
