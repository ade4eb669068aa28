"""The callback sender against real sockets: the whole attempt is bounded, not each read."""

from __future__ import annotations

import asyncio
import time

from bcpoller.adapters.callback_sender import CallbackSender


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
    assert elapsed < 1.5
    assert result.status_code is None  # type: ignore[attr-defined]
    assert result.error == "timed out after 0.3 s"  # type: ignore[attr-defined]
    assert result.retryable_error is True  # type: ignore[attr-defined]


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
