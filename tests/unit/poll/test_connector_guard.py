"""The poller checks the store's address at every poll, and each connection goes to the
address the guard judged (a DNS answer that changes between check and connect cannot
send the store's credentials inside the network)."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bcpoller.adapters.poll_runtime import BigCommerceConnector
from bcpoller.adapters.store_transport import guarded_transport
from bcpoller.connector.errors import CredentialsError
from bcpoller.security import ssrf

LEGACY = {"store.url": "https://shop.example/api/v2", "username": "u", "password": "p"}


def _dns(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Each lookup of a name gets the next answer (the last one repeats); the names
    looked up are returned."""
    asked: list[str] = []

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        try:
            ipaddress.ip_address(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, port))]  # a literal is itself
        except ValueError:
            pass
        asked.append(host)
        address = answers[min(len(asked), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake)
    return asked


@pytest.fixture
def store() -> Iterator[tuple[int, list[str]]]:
    """A plain HTTP server on loopback that notes every request path it gets."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_store_name_that_now_points_inside_is_refused_at_poll_time(monkeypatch: pytest.MonkeyPatch) -> None:
    connector = BigCommerceConnector("https://api.bigcommerce.com")
    # Rebound since the instance was saved: the poll's first connection is refused.
    _dns(monkeypatch, "169.254.169.254")
    with (
        connector.open(dict(LEGACY), deadline=time.monotonic() + 5) as session,
        pytest.raises(CredentialsError, match=r"store\.url: at connect time: .*metadata"),
    ):
        session.check_credentials()


def test_a_literal_inside_address_is_refused_before_any_connection() -> None:
    connector = BigCommerceConnector("https://api.bigcommerce.com")
    with pytest.raises(CredentialsError, match=r"store\.url: .*metadata"):
        inside = {**LEGACY, "store.url": "https://169.254.169.254/api/v2"}
        connector.open(inside, deadline=time.monotonic() + 5)


def test_the_connection_goes_to_the_address_that_was_judged(
    monkeypatch: pytest.MonkeyPatch, store: tuple[int, list[str]]
) -> None:
    port, seen = store
    # First answer loopback (allowed locally, and where the test's store listens), then an
    # address nothing listens on: a client that resolved the name again to connect would
    # go there instead of to the address the guard approved.
    asked = _dns(monkeypatch, "127.0.0.1", "10.255.255.1")
    with httpx.Client(transport=guarded_transport(allow_loopback=True), timeout=3) as client:
        assert client.get(f"http://shop.example:{port}/api/v2/time").status_code == 200
    assert seen == ["/api/v2/time"]
    assert asked == ["shop.example"]


def test_a_name_resolving_to_loopback_sends_nothing_outside_local_mode(
    monkeypatch: pytest.MonkeyPatch, store: tuple[int, list[str]]
) -> None:
    port, seen = store
    _dns(monkeypatch, "127.0.0.1")
    with (
        httpx.Client(transport=guarded_transport(allow_loopback=False), timeout=3) as client,
        pytest.raises(CredentialsError, match="loopback"),
    ):
        client.get(f"http://shop.example:{port}/api/v2/time")
    assert seen == []
