"""boto3 clients and resources, one per process, created on first use.

Lambda reuses them while warm. They are created when an adapter first calls them, not at
import: boto3 itself (~100 ms of imports) and each client (~20 ms) then cost nothing to a
cold start whose first call does not need them (the API's GET /catalog, the web page).

boto3 reads AWS_ENDPOINT_URL itself, which is how the local stack and the integration
tests point every client at moto's server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from typing import Any

# boto3's default session is not thread-safe, and the delivery makes its AWS calls from
# worker threads: the first uses of two clients may race.
_create_lock = threading.RLock()


class Lazy:
    """Stands for a boto3 client or resource: the real one is made on the first attribute
    read (a method call, ``.meta``), once, then every read goes to it."""

    __slots__ = ("_create", "_target", "_what")

    def __init__(self, what: str, create: Callable[[], Any]) -> None:
        self._what = what
        self._create = create
        self._target: Any = None

    @property
    def created(self) -> bool:
        return self._target is not None

    def resolve(self) -> Any:
        target = self._target
        if target is None:
            with _create_lock:
                if self._target is None:
                    self._target = self._create()
                target = self._target
        return target

    def __getattr__(self, name: str) -> Any:
        return getattr(self.resolve(), name)

    def __repr__(self) -> str:
        return f"<{self._what}, {'created' if self.created else 'not created yet'}>"


def _config() -> Any:
    from botocore.config import Config

    return Config(
        connect_timeout=3,
        read_timeout=10,
        retries={"max_attempts": 5, "mode": "standard"},
    )


@cache
def client(service: str) -> Any:
    def create() -> Any:
        import boto3

        return boto3.client(service, config=_config())  # type: ignore[call-overload]

    return Lazy(f"boto3 client {service!r}", create)


@cache
def table(name: str) -> Any:
    def create() -> Any:
        import boto3

        return boto3.resource("dynamodb", config=_config()).Table(name)

    return Lazy(f"DynamoDB Table {name!r}", create)


def reset_clients() -> None:
    """Forget cached clients (tests and the local stack switch endpoints)."""
    client.cache_clear()
    table.cache_clear()
