"""Credentials from an instance configuration, and the OAuth install exchange."""

from __future__ import annotations

import json

import httpx
import pytest
from bcpoller.connector.credentials import credentials_from_config, exchange_oauth_code
from bcpoller.connector.errors import AuthenticationError, CredentialsError

API = "https://api.bigcommerce.com"


def test_token_builds_the_api_base_from_the_hash() -> None:
    creds = credentials_from_config({"store.hash": "wuxeae6", "access.token": "tok-123"}, api_base_url=API)
    assert creds.mode == "token"
    assert creds.base_url == "https://api.bigcommerce.com/stores/wuxeae6"
    assert creds.auth_headers() == {"X-Auth-Token": "tok-123"}
    assert creds.api_path("/v2/orders") == "/v2/orders"


def test_store_url_overrides_the_token_base_and_gives_the_hash() -> None:
    creds = credentials_from_config(
        {"access.token": "tok", "store.url": "http://127.0.0.1:8081/stores/abc123/"}, api_base_url=API
    )
    assert creds.base_url == "http://127.0.0.1:8081/stores/abc123"
    assert creds.store_hash == "abc123"


def test_oauth_access_token_counts_as_a_token() -> None:
    creds = credentials_from_config(
        {"store.hash": "h1", "oauth.access.token": "granted", "oauth.api.key": "k"}, api_base_url=API
    )
    assert creds.mode == "token" and creds.access_token == "granted"


def test_legacy_basic_auth_strips_api_v2_from_the_store_url() -> None:
    creds = credentials_from_config(
        {
            "username": "admin",
            "password": "pw",
            "store.url": "https://store-wuxeae6.mybigcommerce.com/api/v2",
        },
        api_base_url=API,
    )
    assert creds.mode == "basic"
    assert creds.base_url == "https://store-wuxeae6.mybigcommerce.com"
    assert creds.api_path("/v2/orders") == "/api/v2/orders"
    assert creds.basic_auth() is not None


def test_legacy_store_url_with_a_token_uses_the_api_gateway() -> None:
    creds = credentials_from_config(
        {"store.hash": "h1", "access.token": "t", "store.url": "https://store-h1.mybigcommerce.com/api/v2"},
        api_base_url=API,
    )
    assert creds.base_url == "https://api.bigcommerce.com/stores/h1"


@pytest.mark.parametrize(
    ("cfg", "fields"),
    [
        ({}, {"access.token", "store.hash"}),
        ({"access.token": "t"}, {"store.hash"}),
        ({"username": "u"}, {"password", "store.url"}),
        ({"username": "u", "password": "p", "store.url": "ftp://x/api/v2"}, {"store.url"}),
        ({"oauth.api.key": "k", "oauth.api.secret": "s"}, {"oauth.access.token"}),
        ({"access.token": 5, "store.hash": "h"}, {"access.token"}),
        ({"access.token": "t", "store.hash": "bad hash!"}, {"store.hash"}),
    ],
)
def test_missing_or_bad_pieces_are_named(cfg: dict[str, object], fields: set[str]) -> None:
    with pytest.raises(CredentialsError) as info:
        credentials_from_config(cfg, api_base_url=API)
    assert {field for field, _ in info.value.problems} == fields
    assert all(problem for _, problem in info.value.problems)


def test_repr_never_shows_secrets() -> None:
    token = credentials_from_config({"store.hash": "h", "access.token": "s3cr3t-token"}, api_base_url=API)
    basic = credentials_from_config(
        {
            "username": "admin",
            "password": "s3cr3t-pw",
            "store.url": "https://store-h.mybigcommerce.com/api/v2",
        },
        api_base_url=API,
    )
    for creds, secret in ((token, "s3cr3t-token"), (basic, "s3cr3t-pw")):
        assert secret not in repr(creds)
        assert secret not in str(creds)
        assert secret not in f"{creds}"


def _token_endpoint(
    status: int, body: dict[str, object], seen: list[dict[str, object]]
) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/oauth2/token"
        seen.append(json.loads(request.content))
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler)


def test_oauth_exchange_posts_the_install_fields_and_reads_the_grant() -> None:
    seen: list[dict[str, object]] = []
    transport = _token_endpoint(
        200, {"access_token": "granted", "scope": "store_v2_orders", "context": "stores/h9"}, seen
    )
    with httpx.Client(transport=transport) as http:
        grant = exchange_oauth_code(
            http,
            login_base_url="https://login.example",
            client_id="cid",
            client_secret="csecret",
            redirect_uri="https://app.example/cb",
            code="c0de",
            scope="store_v2_orders",
            context="stores/h9",
        )
    assert (grant.access_token, grant.store_hash, grant.scope) == ("granted", "h9", "store_v2_orders")
    assert seen[0]["grant_type"] == "authorization_code" and seen[0]["code"] == "c0de"
    assert "granted" not in repr(grant)


def test_oauth_refusal_carries_bigcommerce_words_not_the_secret() -> None:
    seen: list[dict[str, object]] = []
    transport = _token_endpoint(401, {"error": "invalid_client"}, seen)
    with httpx.Client(transport=transport) as http, pytest.raises(AuthenticationError) as info:
        exchange_oauth_code(
            http,
            login_base_url="https://login.example",
            client_id="cid",
            client_secret="very-secret",
            redirect_uri="https://app.example/cb",
            code="c",
            scope="",
            context="stores/h",
        )
    assert "invalid_client" in str(info.value) and "very-secret" not in str(info.value)
    assert info.value.status == 401


def test_oauth_missing_pieces_are_named_before_any_request() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda r: pytest.fail("no request")))
    with http, pytest.raises(CredentialsError) as info:
        exchange_oauth_code(
            http,
            login_base_url="https://login.example",
            client_id="",
            client_secret="s",
            redirect_uri="",
            code="c",
            scope="",
            context="stores/h",
        )
    assert {f for f, _ in info.value.problems} == {"oauth.api.key", "oauth.callback.url"}
