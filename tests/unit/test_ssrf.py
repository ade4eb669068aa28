"""The SSRF guard refuses every address the internet cannot reach, in every spelling."""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest
from bcpoller.security import ssrf
from bcpoller.security.ssrf import UnsafeUrlError, assert_safe_url, safe_address


def _resolve_to(monkeypatch: pytest.MonkeyPatch, mapping: dict[str, list[str]]) -> None:
    def fake_getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for addr in mapping[host]:
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            sockaddr = (addr, port, 0, 0) if family == socket.AF_INET6 else (addr, port)
            out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake_getaddrinfo)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    _resolve_to(
        monkeypatch,
        {
            "localhost": ["127.0.0.1", "::1"],
            "public.example": ["93.184.216.34"],
            "internal.example": ["10.1.2.3"],
            "mixed.example": ["93.184.216.34", "192.168.0.5"],
            "metadata.example": ["169.254.169.254"],
            "v6private.example": ["fd12:3456::1"],
        },
    )


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://127.0.0.1/", "loopback"),
        ("https://localhost/", "loopback"),
        ("https://10.0.0.1/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://172.16.0.1/", "private"),
        ("https://[::1]/", "loopback"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://[::]/", "unspecified"),
        ("https://2130706433/", "loopback"),  # decimal 127.0.0.1
        ("https://0x7f000001/", "loopback"),  # hex 127.0.0.1
        ("https://0177.0.0.1/", "loopback"),  # octal 127.0.0.1
        ("https://127.1/", "loopback"),  # short form
        ("https://2852039166/", "metadata"),  # decimal 169.254.169.254
        ("https://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped IPv6
        ("https://[::ffff:a9fe:a9fe]/", "metadata"),  # IPv4-mapped, hex
        ("https://[fd00:ec2::254]/", "metadata"),
        ("https://[fe80::1]/", "link-local"),
        ("https://169.254.10.10/", "link-local"),
        ("https://224.0.0.1/", "multicast"),
        ("https://240.0.0.1/", "reserved"),
        ("https://100.64.0.1/", "CGNAT"),
        ("https://internal.example/", "resolves to 10.1.2.3"),
        ("https://mixed.example/", "resolves to 192.168.0.5"),
        ("https://metadata.example/", "metadata"),
        ("https://v6private.example/", "private"),
        # IPv6 forms that embed an IPv4 address Python calls global around it: each branch
        # of _embedded_ipv4 is the only thing between these and the metadata service.
        ("https://[2002:a9fe:a9fe::1]/", "metadata address \\(embedded"),  # 6to4
        ("https://[fec0::1]/", "site-local address"),  # deprecated, still routed inside some networks
        ("https://[2002:a00:1::1]/", "private address \\(embedded"),  # 6to4 around 10.0.0.1
        ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "loopback address \\(embedded"),  # Teredo
        ("https://[64:ff9b::a9fe:a9fe]/", "metadata address \\(embedded"),  # NAT64
        ("https://[64:ff9b::7f00:1]/", "loopback address \\(embedded"),  # NAT64 around 127.0.0.1
        ("https://[::a9fe:a9fe]/", "metadata address \\(embedded"),  # IPv4-compatible
    ],
)
def test_refuses_unsafe_addresses(fake_dns: None, url: str, fragment: str) -> None:
    with pytest.raises(UnsafeUrlError, match=fragment):
        assert_safe_url(url, allow_loopback=False)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://public.example/",
        "file:///etc/passwd",
        "gopher://public.example/",
        "javascript:alert(1)",
        "public.example",
    ],
)
def test_refuses_other_schemes(fake_dns: None, url: str) -> None:
    with pytest.raises(UnsafeUrlError, match="scheme"):
        assert_safe_url(url, allow_loopback=True)


def test_http_needs_local_mode(fake_dns: None) -> None:
    with pytest.raises(UnsafeUrlError, match="https"):
        assert_safe_url("http://public.example/", allow_loopback=False)
    assert_safe_url("http://public.example/", allow_loopback=True)


def test_local_mode_allows_loopback_but_nothing_else_private(fake_dns: None) -> None:
    assert_safe_url("http://127.0.0.1:8080/hook", allow_loopback=True)
    assert_safe_url("http://localhost:9000/", allow_loopback=True)
    assert_safe_url("http://[::1]:9000/", allow_loopback=True)
    for url in (
        "http://10.0.0.1/",
        "http://169.254.169.254/",
        "http://0.0.0.0:80/",
        "http://internal.example/",
    ):
        with pytest.raises(UnsafeUrlError):
            assert_safe_url(url, allow_loopback=True)


def test_accepts_public_host(fake_dns: None) -> None:
    assert_safe_url("https://public.example/hook?x=1", allow_loopback=False)
    assert_safe_url("https://93.184.216.34:8443/", allow_loopback=False)


def test_unresolvable_host_is_refused(fake_dns: None) -> None:
    with pytest.raises(UnsafeUrlError, match="does not resolve"):
        assert_safe_url("https://nowhere.invalid/", allow_loopback=False)


@pytest.mark.parametrize("url", ["", "   ", "https://", "https://:443/", "https://host:notaport/"])
def test_malformed(fake_dns: None, url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        assert_safe_url(url, allow_loopback=False)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://public.example/hook\x00x", "U+0000"),
        ("https://pub\x00lic.example/", "U+0000"),
        ("https://1.2.3.4\x00/", "U+0000"),
        ("https://pub\ud800lic.example/", "surrogate U+D800"),
        ("https://public.example/a\nb", "U+000A"),
        ("https://public.example/a b", "a space"),
        ("https://public.example/\x7f", "U+007F"),
    ],
)
def test_characters_httpx_would_refuse_are_refused_here(fake_dns: None, url: str, fragment: str) -> None:
    """Such a URL passed the guard and then stuck every event (httpx.InvalidURL at send)."""
    with pytest.raises(UnsafeUrlError, match=re.escape(fragment)):
        assert_safe_url(url, allow_loopback=False)


def test_messages_never_carry_credentials(fake_dns: None) -> None:
    for url in (
        "https://user:hunter2@10.0.0.1/",
        "http://user:hunter2@public.example/",
        "https://user:hunter2@host:bad/",
        "ftp://user:hunter2@public.example/",
    ):
        with pytest.raises(UnsafeUrlError) as info:
            assert_safe_url(url, allow_loopback=False)
        assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("address", "safe"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("169.254.169.254", False),
        ("::ffff:10.0.0.1", False),
        ("::1", False),
        ("0.0.0.0", False),
        ("100.100.100.100", False),
        ("fe80::1%eth0", False),
    ],
)
def test_a_literal_address_is_judged_as_a_connection_would_be(address: str, safe: bool) -> None:
    if safe:
        assert safe_address(address, 443, allow_loopback=False) == address
    else:
        with pytest.raises(UnsafeUrlError):
            safe_address(address, 443, allow_loopback=False)


def test_the_loopback_flag_allows_loopback_only() -> None:
    assert safe_address("127.0.0.1", 80, allow_loopback=True) == "127.0.0.1"
    with pytest.raises(UnsafeUrlError, match="private"):
        safe_address("10.0.0.1", 80, allow_loopback=True)


# Known answers: what each refusal says (the API shows it beside the field).
_ONLY = "; only public addresses are allowed"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://0.0.0.0/", f"host '0.0.0.0' is an unspecified address{_ONLY}"),
        ("https://169.254.1.1/", f"host '169.254.1.1' is a link-local address{_ONLY}"),
        ("https://224.0.0.1/", f"host '224.0.0.1' is a multicast address{_ONLY}"),
        ("https://100.64.0.1/", f"host '100.64.0.1' is a shared (CGNAT) address{_ONLY}"),
        ("https://240.0.0.1/", f"host '240.0.0.1' is a reserved address{_ONLY}"),
        # IPv4-compatible: the low 32 bits of ::/96 (but not :: and ::1) are an IPv4 address.
        ("https://[::2]/", f"host '::2' is a private address (embedded in an IPv6 address){_ONLY}"),
        ("https://[::0.0.0.1]/", f"host '::0.0.0.1' is a loopback address{_ONLY}"),
        ("https://[::1:0:0]/", f"host '::1:0:0' is a reserved address{_ONLY}"),
        ("https://[fe80::1%25eth0]/", f"host 'fe80::1%25eth0' is a link-local address{_ONLY}"),
        ("https://[fec0::1]/", f"host 'fec0::1' is a site-local address{_ONLY}"),
        ("", "URL is empty"),
        ("   ", "URL is empty"),
        ("ftp://a.example/", "URL scheme 'ftp' is not allowed: use https"),
        ("//a.example/", "URL scheme '(none)' is not allowed: use https"),
        ("http://a.example/", "URL must use https"),
        ("https:///x", "URL has no host"),
        ("https://a.example:99999/", "URL is malformed: Port out of range 0-65535"),
    ],
)
def test_each_refusal_names_its_reason(url: str, message: str) -> None:
    with pytest.raises(UnsafeUrlError) as info:
        assert_safe_url(url, allow_loopback=False, resolve_host=False)
    assert str(info.value) == message


def test_a_name_is_resolved_for_the_port_asked_and_every_address_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[str, object, object]] = []

    def fake(host: str, port: object, *args: object, **kwargs: object) -> list[object]:
        asked.append((host, port, kwargs.get("type")))
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:2800:220:1::1%eth0", 8443, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("not-an-ip", 8443)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 8443)),
        ]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake)
    # One private answer among public ones is enough to refuse (any one may be used).
    with pytest.raises(UnsafeUrlError, match=r"'shop\.example' resolves to a private address"):
        safe_address("[shop.example.]", 8443, allow_loopback=False)
    assert asked == [("shop.example", 8443, socket.SOCK_STREAM)]
    asked.clear()
    with pytest.raises(UnsafeUrlError):
        safe_address("shop.example", None, allow_loopback=False)
    assert asked == [("shop.example", 443, socket.SOCK_STREAM)]


def test_a_name_without_addresses_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf.socket, "getaddrinfo", lambda *a, **k: [(0, 0, 0, "", ("nope", 0))])
    with pytest.raises(UnsafeUrlError) as info:
        safe_address("shop.example", 443, allow_loopback=False)
    assert str(info.value) == "host 'shop.example' does not resolve to an IP address"
