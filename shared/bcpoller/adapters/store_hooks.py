"""The store's /v3/hooks over httpx (BigCommerce Webhooks v3): list, create, update, delete.

Errors become HookApiError with BigCommerce's own words and never a credential or the
hook's secret header. The store URL passes the SSRF guard before each use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from bcpoller.connector.credentials import credentials_from_config, store_message
from bcpoller.connector.errors import CredentialsError
from bcpoller.security.ssrf import UnsafeUrlError, assert_safe_url
from bcpoller.wakeup.hooks import HookApiError

_TIMEOUT = httpx.Timeout(8.0, connect=4.0)
_PAGE = 250


class StoreHooks:
    """One store's hooks; a context manager (closes its HTTP client)."""

    def __init__(
        self,
        configuration: Mapping[str, Any],
        *,
        api_base_url: str,
        allow_loopback: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        try:
            creds = credentials_from_config(configuration, api_base_url=api_base_url)
        except CredentialsError as exc:
            raise HookApiError(f"store credentials: {exc}") from None
        if creds.mode != "token":
            raise HookApiError("wake-up needs an API token or OAuth app: basic auth cannot reach /v3/hooks")
        try:
            assert_safe_url(creds.base_url, allow_loopback=allow_loopback)
        except UnsafeUrlError as exc:
            raise HookApiError(f"store.url: {exc}") from None
        self._http = httpx.Client(
            base_url=creds.base_url,
            headers={**creds.auth_headers(), "Accept": "application/json"},
            timeout=_TIMEOUT,
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> StoreHooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, f"/v3{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise HookApiError(f"{method} /v3/hooks: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise HookApiError(f"{method} /v3/hooks: {response.status_code} {store_message(response)}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise HookApiError(f"{method} /v3/hooks: the answer is not JSON") from None

    def list(self) -> list[dict[str, Any]]:
        hooks: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self._call("GET", "/hooks", params={"page": page, "limit": _PAGE}) or {}
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise HookApiError("GET /v3/hooks: no data list in the answer")
            hooks.extend(h for h in data if isinstance(h, dict) and "id" in h)
            pagination = ((body.get("meta") or {}).get("pagination") or {}) if isinstance(body, dict) else {}
            if len(data) < _PAGE or int(pagination.get("total_pages") or page) <= page:
                return hooks
            page += 1

    def _data(self, body: Any, what: str) -> dict[str, Any]:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or "id" not in data:
            raise HookApiError(f"{what}: no hook in the answer")
        return data

    def create(self, scope: str, destination: str, headers: dict[str, str]) -> dict[str, Any]:
        body = {"scope": scope, "destination": destination, "is_active": True, "headers": headers}
        return self._data(self._call("POST", "/hooks", json=body), "POST /v3/hooks")

    def update(self, hook_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return self._data(self._call("PUT", f"/hooks/{int(hook_id)}", json=body), "PUT /v3/hooks")

    def delete(self, hook_id: int) -> None:
        try:
            self._call("DELETE", f"/hooks/{int(hook_id)}")
        except HookApiError as exc:
            if " 404 " not in str(exc):
                raise
