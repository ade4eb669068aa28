"""boto3 clients and resources, made once per process (Lambda reuses them when warm).

boto3 reads AWS_ENDPOINT_URL itself, which is how the local stack and the integration
tests point every client at moto's server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"max_attempts": 5, "mode": "standard"},
)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


@cache
def table(name: str) -> Any:
    return boto3.resource("dynamodb", config=_CONFIG).Table(name)


def reset_clients() -> None:
    """Forget cached clients (tests and the local stack switch endpoints)."""
    client.cache_clear()
    table.cache_clear()
