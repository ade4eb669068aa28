"""SSRF guard for the store and callback URLs (at creation and again at send time).

A URL is refused when its scheme is not http(s), when it is plain http outside local mode,
or when its host -- written as a name or as any IP form (dotted, decimal, hex, octal,
IPv6, IPv4-mapped IPv6) -- resolves to an address the internet cannot reach: private,
loopback (unless allowed), link-local (the metadata service), unspecified, multicast,
reserved, CGNAT. Messages name the problem and the host, never the URL's credentials.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
# 6to4 / Teredo / NAT64 embed an IPv4 address: judge the embedded one too.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeUrlError(ValueError):
    """The URL must not be called: the message says why (without credentials)."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # IPv4-compatible (deprecated ::a.b.c.d form)
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def _problem(ip: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why this address is unsafe, or None when it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(ip.compressed.split("%", 1)[0])
        inner = _embedded_ipv4(ip)
        if inner is not None:
            problem = _problem(inner, allow_loopback=allow_loopback)
            return f"{problem} (embedded in an IPv6 address)" if problem else None
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a shared (CGNAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a non-public address"
    # fec0::/10: deprecated (RFC 3879) but still routed inside some networks, and Python
    # 3.11 calls it global.
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    return None


def _literal_ip(host: str) -> IPAddress | None:
    """The address a host written as an IP literal means, in any of the forms that
    inet_aton accepts (2130706433, 0x7f000001, 0177.0.0.1, 127.1), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError, UnicodeError):
        return None


def resolve(host: str, port: int | None) -> list[IPAddress]:
    """Every address the host resolves to (all must be safe: any one may be used)."""
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise UnsafeUrlError(f"host {host!r} does not resolve ({exc.__class__.__name__})") from None
    addresses: list[IPAddress] = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]
        try:
            addresses.append(ipaddress.ip_address(raw))
        except ValueError:
            continue
    if not addresses:
        raise UnsafeUrlError(f"host {host!r} does not resolve to an IP address")
    return addresses


def safe_address(host: str, port: int | None, *, allow_loopback: bool) -> str:
    """The address to connect to for ``host``: every address it resolves to must be safe
    (any one may be picked), and the caller connects to the one returned -- the address
    that was checked, so a DNS answer that changes between the check and the connect
    cannot slip through. Raises UnsafeUrlError."""
    name = host.strip("[]").rstrip(".")
    literal = _literal_ip(name)
    addresses = [literal] if literal is not None else resolve(name, port)
    for address in addresses:
        problem = _problem(address, allow_loopback=allow_loopback)
        if problem:
            raise UnsafeUrlError(f"host {name!r} resolves to {problem}; only public addresses are allowed")
    return str(addresses[0])


def assert_safe_url(url: str, *, allow_loopback: bool, resolve_host: bool = True) -> None:
    """Raise UnsafeUrlError unless the URL may be called from our network.

    allow_loopback (local mode only) also allows plain http, for the simulated store and
    the callback sink on 127.0.0.1. resolve_host=False checks everything but the DNS
    answer: for a sender whose connections check the address themselves (safe_address).
    """
    if not isinstance(url, str) or not url.strip():
        raise UnsafeUrlError("URL is empty")
    bad = _unusable_character(url.strip())
    if bad:
        # httpx refuses these only when sending (InvalidURL), after the URL was stored and
        # events queued for it: refuse them here, where the caller can fix them.
        raise UnsafeUrlError(f"URL contains {bad}; percent-encode it or remove it")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrlError(f"URL is malformed: {_scrub(str(exc))}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeUrlError(f"URL scheme {scheme or '(none)'!r} is not allowed: use https")
    if scheme == "http" and not allow_loopback:
        raise UnsafeUrlError("URL must use https")
    host = parts.hostname
    if not host:
        raise UnsafeUrlError("URL has no host")
    host = host.rstrip(".")
    literal = _literal_ip(host)
    if literal is None and not resolve_host:
        return
    addresses = [literal] if literal is not None else resolve(host, port)
    for address in addresses:
        problem = _problem(address, allow_loopback=allow_loopback)
        if problem:
            where = f"host {host!r}" if literal is not None else f"host {host!r} resolves to {address}, which"
            raise UnsafeUrlError(f"{where} is {problem}; only public addresses are allowed")


def _unusable_character(url: str) -> str | None:
    for char in url:
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            return f"the control character U+{code:04X}"
        if char == " ":
            return "a space"
        if 0xD800 <= code <= 0xDFFF:
            return f"the lone surrogate U+{code:04X}"
    return None


def _scrub(message: str) -> str:
    # urlsplit errors can echo the netloc; never let user:password@ out.
    return message.split("'", 1)[0].strip() or "invalid URL"
