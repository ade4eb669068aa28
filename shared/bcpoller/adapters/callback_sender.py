"""POST callbacks with httpcore (async): one connection pool per warm container and event loop.

The pool keeps connections alive and pooled per host, so a busy endpoint costs one TCP
and TLS handshake per container instead of one per invocation. Every new connection
passes the SSRF guard in the transport itself (``GuardedBackend``): the host is resolved,
every address judged, and the socket opened to the address that was judged -- a pooled
connection stays bound to it, and DNS rebinding between check and connect cannot move it.

Redirects are never followed (3xx is a failure, and a redirect could point inside our
network). Only the status and Retry-After matter: the response body is streamed and
dropped (up to 64 KiB, so the connection can be reused), never buffered -- except the
first 2 KB of a non-2xx answer, kept with the attempt for the event inspector. Errors are
reduced to a short, secret-free phrase (no URL, which may carry a token in its query).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import ssl
import time
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache

import httpcore
import httpx

from bcpoller.delivery.policy import AttemptResult
from bcpoller.delivery.signing import USER_AGENT
from bcpoller.security.ssrf import UnsafeUrlError, safe_address

# What the event inspector shows of a refusing receiver's answer (issue 20).
RESPONSE_HEAD_BYTES = 2048

_MAX_DRAIN_BYTES = 64 * 1024
# A POST waits this long for its endpoint's connection before it opens another one: a
# quick endpoint is served over one connection, a slow one does not hold the batch.
_SHARE_WAIT_SECONDS = 0.2
# Shorter than the idle timeout of common servers and load balancers (60 s and more), so
# the pool drops a connection before the peer does.
_KEEPALIVE_SECONDS = 30.0


class _AsyncioStream(httpcore.AsyncNetworkStream):
    """A connection on asyncio's own streams. httpcore's AnyIO backend wraps every read
    and write in cancel scopes and TLS in a Python memory-BIO loop: measured, the sender
    spent more time there than in HTTP itself."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    # No timer per read and write: the attempt's own deadline (CallbackSender._post) bounds
    # every one of them, and asyncio.timeout is a timer set and cancelled on the loop each time.
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return await self._reader.read(max_bytes)
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.ReadError(type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # Each write goes out at once. Holding the head until the body came, to send both in
        # one TLS record, was tried twice: the receiver's p99 went from 20-27 ms to 42-63 ms.
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            await self._writer.drain()
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.WriteError(type(exc).__name__) from exc

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.CancelledError):
            await self._writer.wait_closed()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            await self._writer.start_tls(
                ssl_context, server_hostname=server_hostname, ssl_handshake_timeout=timeout
            )
        except TimeoutError:
            await self.aclose()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from None
        except (OSError, ssl.SSLError) as exc:
            await self.aclose()
            raise httpcore.ConnectError(type(exc).__name__) from exc
        return self

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":
            # An idle keep-alive connection with something to read was closed by the peer.
            return self._reader.at_eof() or _readable(self._writer.get_extra_info("socket"))
        return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connections on asyncio streams behind the SSRF guard; counts those it opens."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self._allow_loopback = allow_loopback
        self.connections_opened = 0

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # getaddrinfo blocks: in a worker thread, as the batch's other records go on.
        address = await asyncio.to_thread(safe_address, host, port, allow_loopback=self._allow_loopback)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    address, port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout("connect timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(type(exc).__name__) from exc
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        self.connections_opened += 1
        return _AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not a callback destination")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class CallbackSender:
    def __init__(
        self, pool: httpcore.AsyncConnectionPool, backend: GuardedBackend, *, timeout: float
    ) -> None:
        self._pool = pool
        self._backend = backend
        self._timeout = timeout
        # One request at a time per endpoint (scheme, host, port) over its connection.
        self._gates: dict[tuple[str, str, int | None], asyncio.Lock] = {}

    @property
    def connections_opened(self) -> int:
        return self._backend.connections_opened

    @classmethod
    def create(
        cls, *, timeout: float = 15.0, allow_loopback: bool = False, extra_ca_file: str | None = None
    ) -> CallbackSender:
        """A sender with its own pool, for the current event loop (close it with aclose).

        httpcore's pool directly, not an httpx client over it: a POST needs none of what the
        client adds (cookies, auth, redirects, URL merging), and that was a third of the
        sender's CPU per event (measured with cProfile on ``make bench ARGS=delivery``)."""
        backend = GuardedBackend(allow_loopback=allow_loopback)
        pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(extra_ca_file),
            max_connections=50,
            max_keepalive_connections=20,
            keepalive_expiry=_KEEPALIVE_SECONDS,
            http1=True,
            http2=False,
            retries=0,
            network_backend=backend,
        )
        return cls(pool, backend, timeout=timeout)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, *, timeout: float = 15.0, allow_loopback: bool = False, extra_ca_file: str | None = None
    ) -> AsyncIterator[CallbackSender]:
        sender = cls.create(timeout=timeout, allow_loopback=allow_loopback, extra_ca_file=extra_ca_file)
        try:
            yield sender
        finally:
            await sender.aclose()

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout: float | None = None
    ) -> AttemptResult:
        try:
            # httpx's URL rules (the ones the client applied): a URL they refuse is not sent.
            parts = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            return AttemptResult(None, 0, "callback URL cannot be sent (invalid URL)")
        if parts.scheme not in ("http", "https") or not parts.host:
            return AttemptResult(None, 0, "callback URL cannot be sent (invalid URL)")
        deadline_s = timeout or self._timeout
        try:
            # Built before waiting for the endpoint's connection: while the previous POST is
            # on the wire, not after.
            request = httpcore.Request(
                b"POST",
                httpcore.URL(
                    scheme=parts.raw_scheme, host=parts.raw_host, port=parts.port, target=parts.raw_path
                ),
                headers=_request_headers(parts, body, headers),
                content=body,
                extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), deadline_s)},
            )
        except (TypeError, ValueError, UnicodeEncodeError):
            return AttemptResult(None, 0, "callback request cannot be sent (invalid header)")
        gate = self._gate(parts)
        shared = False
        try:
            async with asyncio.timeout(_SHARE_WAIT_SECONDS):
                await gate.acquire()
                shared = True
        except TimeoutError:
            pass  # the endpoint is slow: this POST goes out on a connection of its own
        started = time.perf_counter()
        try:
            return await self._post(request, started, deadline_s)
        finally:
            if shared:
                gate.release()

    def _gate(self, parts: httpx.URL) -> asyncio.Lock:
        key = (parts.scheme, parts.host, parts.port)
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = asyncio.Lock()
        return gate

    async def _post(self, request: httpcore.Request, started: float, deadline_s: float) -> AttemptResult:
        def elapsed() -> int:
            return round((time.perf_counter() - started) * 1000)

        try:
            # httpcore's timeout is per phase (connect, each read...): this one bounds the whole
            # attempt, so a slow-drip endpoint cannot hold an event past the instance's deadline.
            async with asyncio.timeout(deadline_s):
                response = await self._pool.handle_async_request(request)
                try:
                    status = response.status
                    retry_after = _header(response.headers, b"retry-after")
                    encoding = _header(response.headers, b"content-encoding")
                    # Drain a small body so the connection (and its TLS session) is reused by
                    # the next POST; give up on a big one (the connection is then dropped).
                    drained = 0
                    head = b""
                    async for chunk in typing.cast(typing.AsyncIterable[bytes], response.stream):
                        if len(head) < RESPONSE_HEAD_BYTES and not 200 <= status < 300:
                            head += chunk[: RESPONSE_HEAD_BYTES - len(head)]
                        drained += len(chunk)
                        if drained > _MAX_DRAIN_BYTES:
                            break
                finally:
                    await response.aclose()
        except UnsafeUrlError as exc:
            # The name resolved to a public address when the URL was checked, to this now.
            return AttemptResult(
                None, elapsed(), f"callback host is a non-public address at connect time: {exc}"[:300]
            )
        except (httpcore.TimeoutException, TimeoutError):
            return AttemptResult(None, elapsed(), f"timed out after {deadline_s:g} s", retryable_error=True)
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            return AttemptResult(
                None, elapsed(), f"connection error ({type(exc).__name__})", retryable_error=True
            )
        latency = elapsed()
        if 200 <= status < 300:
            return AttemptResult(status, latency)
        error = f"HTTP {status}" + (" (redirect not followed)" if 300 <= status < 400 else "")
        shown = f"({encoding}-encoded body not shown)" if encoding and encoding != "identity" else None
        return AttemptResult(
            status,
            latency,
            error,
            retry_after=retry_after,
            response_head=shown or head.decode("utf-8", "replace") or None,
        )


def _request_headers(parts: httpx.URL, body: bytes, headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """What an httpx client would send: Host, the length, a User-Agent, the event's headers."""
    sent = [(b"Host", parts.netloc), (b"Content-Length", str(len(body)).encode()), (b"Accept", b"*/*")]
    if not any(name.lower() == "user-agent" for name in headers):
        sent.append((b"User-Agent", USER_AGENT.encode()))
    sent.extend((name.encode("ascii"), value.encode("latin-1")) for name, value in headers.items())
    return sent


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _readable(sock: typing.Any) -> bool:
    """Whether an idle socket has something to read (for a keep-alive connection: EOF)."""
    if sock is None or sock.fileno() < 0:
        return True
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


@cache
def _ssl_context(extra_ca_file: str | None = None) -> ssl.SSLContext:
    """Loading the CA bundle takes ~50 ms: once per process, not once per client.
    ``extra_ca_file`` (local mode only) adds the local receiver's self-signed CA."""
    context = httpx.create_ssl_context()
    if extra_ca_file:
        context.load_verify_locations(cafile=extra_ca_file)
    return context
