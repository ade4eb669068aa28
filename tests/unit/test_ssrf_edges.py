"""Edges of the SSRF guard that mutation testing found untested: zone ids, addresses
embedded in IPv6 judged with the caller's loopback flag, literals never sent to DNS, the
port asked of DNS, exact refusal messages, and error text scrubbed of what the URL held."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from bcpoller.security import ssrf
from bcpoller.security.ssrf import UnsafeUrlError, assert_safe_url, safe_address


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"DNS was asked for {args[0]!r}: a literal address needs no lookup")

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", refuse)


def answering(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> list[tuple[Any, Any]]:
    asked: list[tuple[Any, Any]] = []

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append((host, port))
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake)
    return asked


def test_a_zone_id_does_not_hide_the_metadata_address(no_dns: None) -> None:
    with pytest.raises(UnsafeUrlError) as info:
        assert_safe_url("https://[fd00:ec2::254%eth0]/", allow_loopback=False)
    assert "a cloud metadata address" in str(info.value)
    with pytest.raises(UnsafeUrlError, match="a cloud metadata address"):
        safe_address("[fd00:ec2::254%2]", 443, allow_loopback=False)


def test_public_addresses_embedded_in_ipv6_are_accepted(no_dns: None) -> None:
    for host in ("::ffff:808:808", "2002:808:808::1", "64:ff9b::808:808"):
        assert_safe_url(f"https://[{host}]/", allow_loopback=False)
        assert safe_address(f"[{host}]", 443, allow_loopback=False) == host


def test_embedded_loopback_follows_the_loopback_flag(no_dns: None) -> None:
    assert_safe_url("http://[::ffff:127.0.0.1]:8080/", allow_loopback=True)
    with pytest.raises(UnsafeUrlError, match=r"a loopback address \(embedded in an IPv6 address\)"):
        assert_safe_url("https://[::ffff:127.0.0.1]/", allow_loopback=False)


def test_a_literal_address_is_never_looked_up(no_dns: None) -> None:
    assert safe_address("8.8.8.8", 443, allow_loopback=False) == "8.8.8.8"
    assert safe_address("0x08080808", 443, allow_loopback=False) == "8.8.8.8"
    assert_safe_url("https://8.8.8.8/", allow_loopback=False)
    with pytest.raises(UnsafeUrlError) as info:
        assert_safe_url("https://127.0.0.1./", allow_loopback=False)
    assert str(info.value) == "host '127.0.0.1' is a loopback address; only public addresses are allowed"


def test_the_name_asked_of_dns_loses_only_brackets_and_the_final_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = answering(monkeypatch, "93.184.216.34")
    assert safe_address("X.shop.example.X.", 8443, allow_loopback=False) == "93.184.216.34"
    assert asked == [("X.shop.example.X", 8443)]


def test_a_url_is_resolved_for_its_own_port(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = answering(monkeypatch, "93.184.216.34")
    assert_safe_url("https://shop.example:8443/", allow_loopback=False)
    assert_safe_url("https://shop.example./", allow_loopback=False)
    assert asked == [("shop.example", 8443), ("shop.example", 443)]


def test_character_refusals_are_exact() -> None:
    with pytest.raises(UnsafeUrlError) as info:
        assert_safe_url("https://shop.example/a b", allow_loopback=False, resolve_host=False)
    assert str(info.value) == "URL contains a space; percent-encode it or remove it"
    with pytest.raises(UnsafeUrlError, match="the lone surrogate U\\+DFFF"):
        assert_safe_url("https://shop.example/\udfff", allow_loopback=False, resolve_host=False)
    # The first code point past the surrogates is an ordinary (private-use) character.
    assert_safe_url("https://shop.example/\ue000", allow_loopback=False, resolve_host=False)


def test_a_malformed_port_is_not_echoed() -> None:
    with pytest.raises(UnsafeUrlError) as info:
        assert_safe_url("https://user:pw@shop.example:s3cret/", allow_loopback=False)
    assert str(info.value) == "URL is malformed: Port could not be cast to integer value as"


def test_scrub_keeps_only_text_before_any_quote() -> None:
    assert ssrf._scrub("'user:pw@host' is bad") == "invalid URL"
    assert ssrf._scrub("  ") == "invalid URL"
    assert ssrf._scrub("bad 'a' and 'b'") == "bad"
