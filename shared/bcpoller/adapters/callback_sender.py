"""POST callbacks with httpx (async): one AsyncClient per invocation, shared by the batch.

Redirects are never followed (3xx is a failure, and a redirect could point inside our
network). Only the status and Retry-After matter: the response body is streamed and
dropped (up to 64 KiB, so the connection can be reused), never buffered. Errors are
reduced to a short, secret-free phrase (no URL, which may carry a token in its query).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

import httpx

from bcpoller.delivery.policy import AttemptResult
from bcpoller.delivery.signing import USER_AGENT
from bcpoller.security.ssrf import is_safe_address

_MAX_DRAIN_BYTES = 64 * 1024


class CallbackSender:
    def __init__(self, client: httpx.AsyncClient, *, timeout: float, allow_loopback: bool) -> None:
        self._client = client
        self._timeout = timeout
        self._allow_loopback = allow_loopback

    @classmethod
    @asynccontextmanager
    async def open(
        cls, *, timeout: float = 15.0, allow_loopback: bool = False
    ) -> AsyncIterator[CallbackSender]:
        client = httpx.AsyncClient(
            verify=_ssl_context(),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            # No proxies from the environment: the SSRF guard judges the real peer.
            trust_env=False,
        )
        try:
            yield cls(client, timeout=timeout, allow_loopback=allow_loopback)
        finally:
            await client.aclose()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        started = time.perf_counter()

        def elapsed() -> int:
            return round((time.perf_counter() - started) * 1000)

        try:
            # httpx's timeout is per phase (connect, each read...): this one bounds the whole
            # attempt, so a slow-drip endpoint cannot hold an event past the 15 s policy.
            async with (
                asyncio.timeout(self._timeout),
                self._client.stream("POST", url, content=body, headers=headers) as response,
            ):
                peer = _peer_address(response)
                status = response.status_code
                retry_after = response.headers.get("retry-after")
                # Drain a small body so the connection (and its TLS session) is reused by
                # the next POST; give up on a big one (the connection is then dropped).
                drained = 0
                async for chunk in response.aiter_raw():
                    drained += len(chunk)
                    if drained > _MAX_DRAIN_BYTES:
                        break
        except (httpx.TimeoutException, TimeoutError):
            return AttemptResult(
                None, elapsed(), f"timed out after {self._timeout:g} s", retryable_error=True
            )
        except httpx.TransportError as exc:
            return AttemptResult(
                None, elapsed(), f"connection error ({type(exc).__name__})", retryable_error=True
            )
        except httpx.HTTPError as exc:
            return AttemptResult(None, elapsed(), f"request error ({type(exc).__name__})")
        latency = elapsed()
        if peer is not None and not is_safe_address(peer, allow_loopback=self._allow_loopback):
            # The name resolved to a public address when checked, then to this one.
            return AttemptResult(None, latency, "callback host resolved to a non-public address at send time")
        if 200 <= status < 300:
            return AttemptResult(status, latency)
        error = f"HTTP {status}" + (" (redirect not followed)" if 300 <= status < 400 else "")
        return AttemptResult(status, latency, error, retry_after=retry_after)


@cache
def _ssl_context() -> ssl.SSLContext:
    """Loading the CA bundle takes ~50 ms: once per process, not once per invocation."""
    return httpx.create_ssl_context()


def _peer_address(response: httpx.Response) -> str | None:
    stream: Any = response.extensions.get("network_stream")
    if stream is None:
        return None
    address = stream.get_extra_info("server_addr")
    return str(address[0]) if address else None
