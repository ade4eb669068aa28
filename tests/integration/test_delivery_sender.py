"""The callback sender against real sockets: the whole attempt is bounded, not each read."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from bcpoller.adapters.callback_sender import CallbackSender
from bcpoller.security import ssrf


async def _drip_server() -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n")
        try:
            for _ in range(40):  # one byte every 0.1 s: no single read ever waits 0.3 s
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.1)
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hook"


def test_slow_drip_response_is_cut_at_the_attempt_deadline() -> None:
    async def scenario() -> tuple[float, object]:
        server, url = await _drip_server()
        async with server, CallbackSender.open(timeout=0.3, allow_loopback=True) as sender:
            started = time.monotonic()
            result = await sender.post(url, b"{}", {"Content-Type": "application/json"})
            return time.monotonic() - started, result

    elapsed, result = asyncio.run(scenario())
    # The drip lasts 4 s: a deadline not enforced per attempt would wait it out.
    assert elapsed < 3.5
    assert result.status_code is None  # type: ignore[attr-defined]
    assert result.error == "timed out after 0.3 s"  # type: ignore[attr-defined]
    assert result.retryable_error is True  # type: ignore[attr-defined]


def test_a_per_post_deadline_overrides_the_senders_default() -> None:
    async def scenario() -> tuple[float, object]:
        server, url = await _drip_server()
        async with server, CallbackSender.open(timeout=30, allow_loopback=True) as sender:
            started = time.monotonic()
            result = await sender.post(url, b"{}", {"Content-Type": "application/json"}, timeout=0.4)
            return time.monotonic() - started, result

    elapsed, result = asyncio.run(scenario())
    # The drip lasts 4 s and the sender's own deadline is 30 s.
    assert elapsed < 3.5
    assert result.error == "timed out after 0.4 s"  # type: ignore[attr-defined]


def test_loopback_peer_is_refused_outside_local_mode() -> None:
    async def scenario() -> object:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(65536)
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        async with server, CallbackSender.open(timeout=2, allow_loopback=False) as sender:
            return await sender.post(url, b"{}", {})

    result = asyncio.run(scenario())
    # Even if the name had resolved to a public address when checked, the peer we
    # actually reached is judged again.
    assert result.status_code is None  # type: ignore[attr-defined]
    assert "non-public address" in result.error  # type: ignore[attr-defined]


def test_one_connection_per_endpoint_across_invocations() -> None:
    """The container's sender keeps its connection: ten concurrent POSTs per invocation,
    three invocations, one TCP connection accepted by the endpoint."""
    accepted = 0

    async def scenario() -> list[int | None]:
        nonlocal accepted

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
        sender = CallbackSender.create(timeout=5, allow_loopback=True)
        codes: list[int | None] = []
        async with server:
            for _ in range(3):
                results = await asyncio.gather(*[sender.post(url, b"{}", {}) for _ in range(10)])
                codes.extend(r.status_code for r in results)
            await sender.aclose()
        assert sender.connections_opened == 1
        return codes

    assert asyncio.run(scenario()) == [204] * 30
    assert accepted == 1


def test_a_name_is_judged_by_the_address_it_connects_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """A callback host whose name now resolves to a non-public address: refused when the
    connection is made, before any byte is sent."""
    real = socket.getaddrinfo

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", resolve)
    received: list[bytes] = []

    async def scenario() -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.append(await reader.read(65536))
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, CallbackSender.open(timeout=2, allow_loopback=False) as sender:
            return await sender.post(f"http://hooks.example.com:{port}/", b"{}", {})

    result = asyncio.run(scenario())
    assert result.status_code is None and result.retryable_error is False
    assert "non-public address at connect time" in result.error and "loopback" in result.error
    assert received == []


def test_a_url_httpx_cannot_send_is_a_failed_attempt_not_an_exception() -> None:
    # It once passed the guard and left 31 events "delivering" with no attempt recorded.
    async def scenario() -> object:
        async with CallbackSender.open(timeout=1.0, allow_loopback=True) as sender:
            headers = {"Content-Type": "application/json"}
            return await sender.post("http://127.0.0.1:9/ho\x00ok", b"{}", headers)

    result = asyncio.run(scenario())
    assert result.status_code is None  # type: ignore[attr-defined]
    assert result.error == "callback URL cannot be sent (invalid URL)"  # type: ignore[attr-defined]
    assert not result.retryable_error  # type: ignore[attr-defined]


def test_a_refusal_keeps_the_first_2_kb_of_its_body_and_a_success_keeps_none() -> None:
    """What the event inspector shows of an attempt's response (issue 20)."""

    async def scenario() -> list[Any]:
        answers = [
            (b"500 Internal Server Error", b"database is down: try later " + b"x" * 3000),
            (b"200 OK", b"thanks"),
            (b"400 Bad Request", b"missing field objectId"),
        ]

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(65536)
            status, body = answers.pop(0)
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        async with server, CallbackSender.open(timeout=5, allow_loopback=True) as sender:
            return [await sender.post(url, b"{}", {}) for _ in range(3)]

    refused, delivered, bad = asyncio.run(scenario())
    assert refused.status_code == 500
    assert refused.response_head.startswith("database is down: try later xxx")
    assert len(refused.response_head) == 2048
    assert delivered.status_code == 200 and delivered.response_head is None
    assert bad.response_head == "missing field objectId"


async def _recording_server(requests: list[bytes]) -> tuple[asyncio.Server, str, list[int]]:
    """An HTTP/1.1 server that keeps each request whole, and the peer port of every request
    (one port: one connection)."""
    ports: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = await reader.read(65536)
                if not chunk:
                    writer.close()
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:])
            length = int({k.lower(): v for k, v in fields.items()}[b"content-length"])
            while len(body) < length:
                body += await reader.read(65536)
            requests.append(head + b"\r\n\r\n" + body)
            ports.append(writer.get_extra_info("peername")[1])
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks?a=1", ports


def test_posts_arrive_whole_over_one_connection() -> None:
    """The sender on the pool directly must never cut or reorder a request:
    a small body, one of 200 KB and another small one, over one connection."""
    requests: list[bytes] = []
    big = b'{"x": "' + b"y" * 200_000 + b'"}'

    async def scenario() -> tuple[list[object], list[int], str]:
        server, url, ports = await _recording_server(requests)
        async with server, CallbackSender.open(timeout=5, allow_loopback=True) as sender:
            results = [
                await sender.post(url, body, {"Content-Type": "application/json", "webhook-id": f"e{i}"})
                for i, body in enumerate([b"{}", big, b'{"z": 1}'])
            ]
        return results, ports, url

    results, ports, url = asyncio.run(scenario())
    assert [r.status_code for r in results] == [204, 204, 204]  # type: ignore[attr-defined]
    assert len(set(ports)) == 1
    bodies = [r.partition(b"\r\n\r\n")[2] for r in requests]
    assert bodies == [b"{}", big, b'{"z": 1}']
    head = requests[0].partition(b"\r\n\r\n")[0].decode()
    assert head.startswith("POST /hooks?a=1 HTTP/1.1\r\n")
    lines = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:]}
    assert lines["host"] == url.split("/")[2]
    assert lines["content-length"] == "2"
    assert lines["webhook-id"] == "e0"
    assert lines["user-agent"]
