"""The simulated store's control-panel stand-in: what BigCommerce does with an app's
three callback URLs when a merchant installs, opens or removes the app.

- ``GET /_admin/install?callback=AUTH_URL[&scope=...]``: a fresh single-use code, and a
  302 to ``AUTH_URL?code=...&scope=...&context=stores/{hash}`` (BigCommerce loads the auth
  callback in the merchant's browser, inside the control panel).
- ``GET /_admin/load?callback=LOAD_URL``: a 302 to ``LOAD_URL?signed_payload_jwt=...``
  (also in the browser).
- ``POST /_admin/uninstall`` / ``POST /_admin/remove_user`` with ``{"callback": URL}``:
  the store itself GETs ``URL?signed_payload_jwt=...`` (BigCommerce's servers do) and
  answers ``{"status", "body"}`` of that call.
- ``POST /_admin/signed_payload`` ``{"sub", "aud", "secret", "iss", "expires_in"}``: a JWT
  as BigCommerce would sign it, with any claim overridden (tests forge bad ones with it).

The JWT is HS256 with the app's client secret, ``aud`` = client id, ``iss`` = ``bc``,
``sub`` = ``stores/{hash}``, ``exp`` a day after ``iat``, and the store user and owner.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

CONTROL_PANEL_ROUTES = frozenset({"install", "load", "uninstall", "remove_user", "signed_payload"})
MERCHANT = {"id": 24654, "email": "merchant@example.com", "locale": "en"}


class ControlPanelError(ValueError):
    """A bad control request: names the field."""


def signed_payload_jwt(
    *,
    client_id: str,
    client_secret: str,
    store_hash: str,
    sub: str | None = None,
    aud: str | None = None,
    iss: str = "bc",
    expires_in: int = 86_400,
    now: float | None = None,
) -> str:
    import jwt

    issued = int(now if now is not None else time.time())
    claims = {
        "aud": aud if aud is not None else client_id,
        "iss": iss,
        "iat": issued,
        "nbf": issued - 5,
        "exp": issued + int(expires_in),
        "jti": secrets.token_hex(16),
        "sub": sub if sub is not None else f"stores/{store_hash}",
        "user": MERCHANT,
        "owner": {"id": MERCHANT["id"], "email": MERCHANT["email"]},
        "url": "/",
        "channel_id": None,
    }
    return jwt.encode(claims, client_secret, algorithm="HS256")


def _callback(value: Any) -> str:
    url = str(value or "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ControlPanelError("callback: must be the app's absolute http(s) callback URL")
    return url


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


def handle(
    store: Any, method: str, route: str, query: dict[str, str], body: dict[str, Any]
) -> tuple[int, Any, dict[str, str]]:
    """(status, JSON body or None, headers) of one control-panel request."""
    params = {**query, **body}
    jwt_args = {
        "client_id": store.client_id,
        "client_secret": store.client_secret,
        "store_hash": store.store_hash,
    }
    if route == "install" and method == "GET":
        code = secrets.token_urlsafe(18)
        scope = str(params.get("scope") or "store_v2_orders_read_only store_v2_products_read_only")
        target = _with_query(
            _callback(params.get("callback")),
            {"code": code, "scope": scope, "context": f"stores/{store.store_hash}"},
        )
        return 302, None, {"Location": target}
    if route == "load" and method == "GET":
        token = signed_payload_jwt(**jwt_args)
        return (
            302,
            None,
            {"Location": _with_query(_callback(params.get("callback")), {"signed_payload_jwt": token})},
        )
    if route in ("uninstall", "remove_user") and method == "POST":
        url = _with_query(
            _callback(params.get("callback")), {"signed_payload_jwt": signed_payload_jwt(**jwt_args)}
        )
        try:
            answer = httpx.get(url, timeout=30.0, follow_redirects=False)
        except httpx.HTTPError as exc:
            return (
                502,
                {"status": 502, "title": f"the app's {route} callback is unreachable: {type(exc).__name__}"},
                {},
            )
        return 200, {"status": answer.status_code, "body": answer.text[:4000]}, {}
    if route == "signed_payload" and method == "POST":
        overrides = {k: params[k] for k in ("sub", "aud", "iss") if k in params}
        if "secret" in params:
            jwt_args["client_secret"] = str(params["secret"])
        expires_in = int(params.get("expires_in", 86_400))
        return (
            200,
            {"signed_payload_jwt": signed_payload_jwt(**jwt_args, **overrides, expires_in=expires_in)},
            {},
        )
    raise ControlPanelError(f"{method} /_admin/{route} is not a control-panel route")
