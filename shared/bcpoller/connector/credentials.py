"""How to reach a store: base URL and authentication, from an instance configuration.

Three ways in, as Open Connectors accepts them:
- API token: ``store.hash`` + ``access.token`` (``X-Auth-Token`` against
  ``{BC_API_BASE_URL}/stores/{hash}``); ``store.url`` may override the base so that a local
  or proxy store can stand in.
- OAuth app: ``oauth.api.key`` / ``oauth.api.secret`` / ``oauth.callback.url``, installed
  once by exchanging the install ``code`` for ``oauth.access.token`` (``exchange_oauth_code``);
  afterwards the access token is used like an API token.
- Legacy basic auth: ``username`` + ``password`` + ``store.url``
  (``https://store-HASH.mybigcommerce.com/api/v2``); it only reaches the v2 API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from bcpoller.connector.errors import AuthenticationError, CredentialsError, StoreError

_HASH = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LEGACY_SUFFIX = re.compile(r"/api(/v2)?/?$")
_STORES_PATH = re.compile(r"/stores/([A-Za-z0-9_-]+)/?$")


@dataclass(frozen=True)
class StoreCredentials:
    base_url: str
    mode: Literal["token", "basic"]
    access_token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    store_hash: str | None = None

    def __repr__(self) -> str:
        # Secrets never reach logs, even through an f-string of the whole object.
        who = f", username={self.username!r}" if self.username else ""
        return f"StoreCredentials(base_url={self.base_url!r}, mode={self.mode!r}{who})"

    __str__ = __repr__

    def auth_headers(self) -> dict[str, str]:
        if self.mode == "token":
            return {"X-Auth-Token": self.access_token or ""}
        return {}

    def basic_auth(self) -> httpx.BasicAuth | None:
        if self.mode == "basic":
            return httpx.BasicAuth(self.username or "", self.password or "")
        return None

    def api_path(self, path: str) -> str:
        """Path of an API resource (``/v2/orders``) under this base: legacy stores serve it
        under ``/api``."""
        return f"/api{path}" if self.mode == "basic" else path


def _text(cfg: Mapping[str, Any], key: str, problems: list[tuple[str, str]]) -> str | None:
    value = cfg.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append((key, f"must be a string, got {type(value).__name__}"))
        return None
    value = value.strip()
    return value or None


def _check_url(key: str, url: str, problems: list[tuple[str, str]]) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append((key, "must be an absolute http(s) URL"))
        return None
    return url.rstrip("/")


def credentials_from_config(cfg: Mapping[str, Any], *, api_base_url: str) -> StoreCredentials:
    """The store's credentials from an instance configuration that has its secrets back.

    Raises CredentialsError naming every missing or malformed field.
    """
    problems: list[tuple[str, str]] = []
    token = _text(cfg, "access.token", problems) or _text(cfg, "oauth.access.token", problems)
    store_hash = _text(cfg, "store.hash", problems)
    store_url = _text(cfg, "store.url", problems)
    username = _text(cfg, "username", problems)
    password = _text(cfg, "password", problems)
    oauth_key = _text(cfg, "oauth.api.key", problems)
    if problems:
        raise CredentialsError(problems)
    if store_hash is not None and not _HASH.match(store_hash):
        problems.append(("store.hash", "must be the store hash (letters, digits, - or _)"))

    if token is not None:
        base: str | None = None
        if store_url is not None and not _LEGACY_SUFFIX.search(urlsplit(store_url).path):
            base = _check_url("store.url", store_url, problems)
            match = _STORES_PATH.search(urlsplit(store_url).path)
            if store_hash is None and match:
                store_hash = match.group(1)
        elif store_hash is not None:
            base = f"{api_base_url.rstrip('/')}/stores/{store_hash}"
        else:
            problems.append(("store.hash", "missing: an API token needs the store hash"))
        if problems or base is None:
            raise CredentialsError(problems)
        return StoreCredentials(base_url=base, mode="token", access_token=token, store_hash=store_hash)

    if username is not None or password is not None:
        if username is None:
            problems.append(("username", "missing: basic auth needs the API username"))
        if password is None:
            problems.append(("password", "missing: basic auth needs the API key as password"))
        base = None
        if store_url is None:
            problems.append(
                ("store.url", "missing: basic auth needs https://store-HASH.mybigcommerce.com/api/v2")
            )
        else:
            checked = _check_url("store.url", store_url, problems)
            if checked is not None:
                base = _LEGACY_SUFFIX.sub("", checked)
        if problems or base is None:
            raise CredentialsError(problems)
        return StoreCredentials(base_url=base, mode="basic", username=username, password=password)

    if oauth_key is not None:
        raise CredentialsError(
            [
                (
                    "oauth.access.token",
                    "missing: the OAuth app is not installed yet (exchange the install code)",
                )
            ]
        )
    raise CredentialsError(
        [
            ("access.token", "missing: give store.hash + access.token, or username + password + store.url"),
            *([] if store_hash else [("store.hash", "missing")]),
        ]
    )


@dataclass(frozen=True)
class OAuthGrant:
    access_token: str = field(repr=False)
    store_hash: str
    scope: str


def exchange_oauth_code(
    http: httpx.Client,
    *,
    login_base_url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    scope: str,
    context: str,
) -> OAuthGrant:
    """Trade the app-install callback's ``code`` for a permanent access token, as
    BigCommerce's single-click app install does (``POST /oauth2/token``)."""
    problems = [
        (name, "missing")
        for name, value in (
            ("oauth.api.key", client_id),
            ("oauth.api.secret", client_secret),
            ("oauth.callback.url", redirect_uri),
            ("code", code),
            ("context", context),
        )
        if not value
    ]
    if problems:
        raise CredentialsError(problems)
    url = f"{login_base_url.rstrip('/')}/oauth2/token"
    try:
        response = http.post(
            url,
            json={
                "client_id": client_id,
                "client_secret": client_secret,
                "code": code,
                "scope": scope,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "context": context,
            },
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise StoreError(
            f"OAuth token endpoint unreachable: {type(exc).__name__}", path="/oauth2/token"
        ) from None
    if response.status_code in (400, 401, 403):
        raise AuthenticationError(
            f"OAuth code exchange refused: {store_message(response)}",
            status=response.status_code,
            path="/oauth2/token",
        )
    if response.status_code != 200:
        raise StoreError(
            f"OAuth code exchange failed: {store_message(response)}",
            status=response.status_code,
            path="/oauth2/token",
        )
    try:
        body = response.json()
        token = body["access_token"]
        granted_context = body.get("context") or context
        store_hash = granted_context.split("/", 1)[1]
    except (ValueError, KeyError, IndexError, AttributeError):
        raise StoreError("OAuth token endpoint answered an unexpected body", path="/oauth2/token") from None
    return OAuthGrant(access_token=token, store_hash=store_hash, scope=str(body.get("scope", scope)))


def store_message(response: httpx.Response) -> str:
    """BigCommerce's own words for an error, whatever shape its body has."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict):
        for key in ("title", "error_description", "message", "error", "detail"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    return response.reason_phrase or "error"
