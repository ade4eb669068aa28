"""The API's view of a store: check credentials (and read its clock), install an OAuth
app. Translates the connector's errors into the API's StoreCheckFailed, whose message
says what BigCommerce answered and never carries a credential."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from bcpoller.adapters.store_transport import guarded_transport
from bcpoller.api.service import OAuthToken, StoreCheckFailed
from bcpoller.connector.client import BigCommerceClient
from bcpoller.connector.credentials import credentials_from_config, exchange_oauth_code
from bcpoller.connector.errors import AuthenticationError, CredentialsError, StoreError

# The API answers within API Gateway's 30 s: a check tries twice, briefly, then reports.
_CHECK_TIMEOUT = httpx.Timeout(8.0, connect=4.0)


class StoreGateway:
    def __init__(
        self,
        *,
        api_base_url: str,
        login_base_url: str,
        transport: httpx.BaseTransport | None = None,
        allow_loopback: bool = False,
    ) -> None:
        self._api_base_url = api_base_url
        self._login_base_url = login_base_url
        self._transport = transport
        self._allow_loopback = allow_loopback

    def _guarded(self) -> httpx.BaseTransport:
        # The caller checked the URL; the connection checks the address it really uses.
        return self._transport or guarded_transport(allow_loopback=self._allow_loopback)

    def check(self, configuration: Mapping[str, Any]) -> datetime:
        try:
            creds = credentials_from_config(configuration, api_base_url=self._api_base_url)
            with BigCommerceClient(
                creds,
                transport=self._guarded(),
                timeout=_CHECK_TIMEOUT,
                max_attempts=2,
                max_429_attempts=2,
                backoff_initial=0.2,
                backoff_max=1.0,
            ) as client:
                client.check_credentials()
                return client.store_time()
        except CredentialsError as exc:
            raise StoreCheckFailed("the store credentials are incomplete", list(exc.problems)) from None
        except AuthenticationError as exc:
            raise StoreCheckFailed(
                f"BigCommerce refused the credentials: {exc}", _auth_fields(configuration, str(exc))
            ) from None
        except StoreError as exc:
            raise StoreCheckFailed(f"the store could not be checked: {exc}") from None

    def exchange_oauth(self, configuration: Mapping[str, Any]) -> OAuthToken:
        try:
            with httpx.Client(
                transport=self._guarded(), timeout=_CHECK_TIMEOUT, follow_redirects=False
            ) as http:
                grant = exchange_oauth_code(
                    http,
                    login_base_url=self._login_base_url,
                    client_id=str(configuration.get("oauth.api.key") or ""),
                    client_secret=str(configuration.get("oauth.api.secret") or ""),
                    redirect_uri=str(configuration.get("oauth.callback.url") or ""),
                    code=str(configuration.get("oauth.code") or ""),
                    scope=str(configuration.get("oauth.scope") or ""),
                    context=str(configuration.get("oauth.context") or ""),
                )
        except CredentialsError as exc:
            problems = [("oauth." + f if f in ("code", "context") else f, p) for f, p in exc.problems]
            raise StoreCheckFailed("the OAuth install is incomplete", problems) from None
        except StoreError as exc:
            raise StoreCheckFailed(
                f"BigCommerce did not install the app: {exc}", [("oauth.code", str(exc))]
            ) from None
        return OAuthToken(access_token=grant.access_token, store_hash=grant.store_hash)


def _auth_fields(configuration: Mapping[str, Any], problem: str) -> list[tuple[str, str]]:
    """Point the form at the credential fields that were actually used."""
    if configuration.get("access.token"):
        return [("access.token", problem)]
    if configuration.get("oauth.access.token"):
        return [("oauth.access.token", problem)]
    if configuration.get("username") or configuration.get("password"):
        return [("username", problem), ("password", problem)]
    return []
