"""An httpx transport for store requests whose connections go only to checked addresses.

The store URL is checked when an instance is saved and again at every poll, but httpx
would resolve the name once more when it connects: a DNS answer that changed in between
(rebinding) would send the stored credentials inside the network. Here the connection
itself resolves the name, judges every address (security.ssrf.safe_address) and connects
to the address it judged; TLS still verifies the certificate against the name.
"""

from __future__ import annotations

import typing

import httpcore
import httpx

from bcpoller.connector.client import tls_context
from bcpoller.connector.errors import CredentialsError
from bcpoller.security.ssrf import UnsafeUrlError, safe_address


class GuardedSyncBackend(httpcore.SyncBackend):
    """httpcore's sync sockets behind the SSRF guard; counts the connections it opens."""

    def __init__(self, *, allow_loopback: bool, field: str = "store.url") -> None:
        self._allow_loopback = allow_loopback
        self._field = field
        self.connections_opened = 0

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            address = safe_address(host, port, allow_loopback=self._allow_loopback)
        except UnsafeUrlError as exc:
            # Not an httpcore error, so httpx passes it through untouched and nothing
            # retries it: the poll ends as a configuration problem of the store URL.
            raise CredentialsError([(self._field, f"at connect time: {exc}")]) from None
        stream = super().connect_tcp(address, port, timeout, local_address, socket_options)
        self.connections_opened += 1
        return stream

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not a store")


def guarded_transport(*, allow_loopback: bool) -> httpx.HTTPTransport:
    """A transport (own pool) whose every connection passes the SSRF guard."""
    context = tls_context()
    transport = httpx.HTTPTransport(verify=context, trust_env=False)
    # httpx does not expose httpcore's network_backend: the pool is rebuilt with it,
    # with the settings httpx would have given it.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=context,
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        http1=True,
        http2=False,
        retries=0,
        network_backend=GuardedSyncBackend(allow_loopback=allow_loopback),
    )
    return transport
