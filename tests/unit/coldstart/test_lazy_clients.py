"""boto3 clients are made on first use, once per process, even when threads race."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from bcpoller.adapters import aws


class _FakeClient:
    def __init__(self, service: str) -> None:
        self.service = service

    def describe(self) -> str:
        return f"client of {self.service}"


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    made: list[str] = []

    def fake_client(service: str, **kwargs: Any) -> _FakeClient:
        time.sleep(0.01)  # widen the race window of concurrent first uses
        made.append(service)
        return _FakeClient(service)

    monkeypatch.setattr(boto3, "client", fake_client)
    aws.reset_clients()
    yield made
    aws.reset_clients()


def test_client_is_created_on_first_use_then_reused(created: list[str]) -> None:
    sqs = aws.client("sqs")
    assert created == [] and not sqs.created
    assert sqs.describe() == "client of sqs"
    assert sqs.describe() == "client of sqs"
    assert aws.client("sqs") is sqs
    assert created == ["sqs"]


def test_concurrent_first_uses_create_one_client(created: list[str]) -> None:
    kms = aws.client("kms")
    barrier = threading.Barrier(8)
    seen: list[Any] = []

    def use() -> None:
        barrier.wait()
        seen.append(kms.resolve())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert created == ["kms"]
    assert len({id(c) for c in seen}) == 1


def test_reset_forgets_the_clients(created: list[str]) -> None:
    aws.client("sqs").describe()
    aws.reset_clients()
    aws.client("sqs").describe()
    assert created == ["sqs", "sqs"]
