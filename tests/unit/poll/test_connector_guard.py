"""The poller checks the store's address at every poll, not only when it was saved."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from bcpoller.adapters.poll_runtime import BigCommerceConnector
from bcpoller.connector.errors import CredentialsError
from bcpoller.security import ssrf

LEGACY = {"store.url": "https://shop.example/api/v2", "username": "u", "password": "p"}


def _dns(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake)


def test_a_store_name_that_now_points_inside_is_refused_at_poll_time(monkeypatch: pytest.MonkeyPatch) -> None:
    connector = BigCommerceConnector("https://api.bigcommerce.com")
    _dns(monkeypatch, "93.184.216.34")
    connector.open(dict(LEGACY), deadline=time.monotonic() + 5).close()  # public: fine
    _dns(monkeypatch, "169.254.169.254")  # rebound since the instance was saved
    with pytest.raises(CredentialsError, match=r"store\.url: .*metadata"):
        connector.open(dict(LEGACY), deadline=time.monotonic() + 5)
