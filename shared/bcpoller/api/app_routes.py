"""Routes of the organization's BigCommerce app: ``GET/PUT /app`` (organization
credentials) and the callbacks BigCommerce calls (``/apps/{appId}/auth|load|uninstall|
remove_user``, no Authorization header).

The auth callback answers a page, not JSON: BigCommerce shows it inside the merchant's
control panel. The load callback answers a redirect to the web page carrying a
short-lived session in the URL fragment (never sent to a server, nor in a Referer).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.event_handler.openapi.params import Query

from bcpoller.api.apps import AppOut, AppRegistration, AppService
from bcpoller.api.auth import Principal
from bcpoller.api.errors import ApiError, ErrorBody, NotFound

if TYPE_CHECKING:
    from bcpoller.api.routes import ApiContext

AppIdParam = Annotated[str, PathParam(description="The app id of the callback URLs", max_length=64)]
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    # The page has no script; it may be framed by BigCommerce's control panel.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'",
}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"model": ErrorBody}}}


def _with(*parts: dict[int, Any]) -> Any:
    merged: dict[int, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


# Every callback answers a page (BigCommerce shows it), refusals included.
_CALLBACK_REFUSALS = {
    400: _html("Incomplete request or a replayed install code"),
    401: _html("signed_payload_jwt refused (forged, expired, another app's, not BigCommerce's)"),
    404: _html("No app at this URL, or the store has not installed it"),
    409: _html("The store uninstalled the app (or is being installed meanwhile)"),
    422: _err("A query parameter is too long"),
}


def public_base_url(app: APIGatewayHttpResolver) -> str:
    """The API's own base URL as the caller reached it (custom domain, stage prefix)."""
    event = app.current_event
    headers = event.headers or {}
    host = headers.get("host") or event.request_context.domain_name
    proto = (headers.get("x-forwarded-proto") or "https").split(",")[0].strip() or "https"
    stage = event.request_context.stage
    prefix = "" if stage in (None, "", "$default") else f"/{stage}"
    return f"{proto}://{host}{prefix}"


def page(status: int, title: str, *lines: str, facts: dict[str, str] | None = None) -> Response[str]:
    """A small standalone HTML page; every value is escaped."""
    rows = "".join(
        f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>" for k, v in (facts or {}).items()
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<link rel="stylesheet" href="../../static/style.css"></head>'
        f'<body><main class="callback-page"><h1>{html.escape(title)}</h1>'
        + "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        + (f'<dl class="facts">{rows}</dl>' if rows else "")
        + "</main></body></html>"
    )
    return Response(status, "text/html; charset=utf-8", body, headers=dict(_PAGE_HEADERS))


def _refusal(exc: ApiError) -> Response[str]:
    problems = [f"{e.field}: {e.problem}" for e in exc.errors if e.problem != exc.message]
    return page(exc.status, "The app could not do that", exc.message, *problems)


def register_app_routes(
    app: APIGatewayHttpResolver,
    context: Callable[[], ApiContext],
    principal: Callable[[], Principal],
    logger: Logger,
) -> None:
    def svc() -> AppService:
        apps = context().apps
        if apps is None:
            raise NotFound("the BigCommerce app is not configured in this deployment")
        return apps

    auth_errors: dict[int, Any] = {
        401: _err("Missing or wrong credentials"),
        403: _err("An Element token or a session cannot do this"),
    }

    @app.get(
        "/app",
        summary="The organization's BigCommerce app: callback URLs to paste, installed stores",
        responses=_with(auth_errors, {200: {"description": "The app"}, 404: _err("No app registered yet")}),
        tags=["app"],
    )
    def get_app() -> AppOut:
        return svc().get(principal(), public_base_url(app))

    @app.put(
        "/app",
        summary="Register (or change) the organization's BigCommerce app",
        responses=_with(auth_errors, {200: {"description": "The app"}, 400: _err("Invalid registration")}),
        tags=["app"],
    )
    def put_app(body: AppRegistration) -> AppOut:
        return svc().register(principal(), body, public_base_url(app))

    @app.get(
        "/apps/<app_id>/auth",
        summary="Auth callback: BigCommerce calls it when a merchant installs the app",
        responses=_with({200: _html("The page shown in the control panel")}, _CALLBACK_REFUSALS),
        tags=["app callbacks"],
        security=[],  # BigCommerce calls these without credentials
    )
    def auth_callback(
        app_id: AppIdParam,
        code: Annotated[str | None, Query(max_length=1024)] = None,
        scope: Annotated[str | None, Query(max_length=2048)] = None,
        context: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response[str]:
        try:
            result = svc().install(
                app_id, code=code, scope=scope, context=context, base_url=public_base_url(app)
            )
        except ApiError as exc:
            logger.warning("app install refused", extra={"status": exc.status, "reason": exc.message})
            return _refusal(exc)
        instance = result.instance
        callback = instance.configuration.get("event.notification.callback.url")
        logger.info(
            "app installed",
            extra={"storeHash": result.store_hash, "instanceId": instance.id, "refreshed": result.refreshed},
        )
        events = (
            f"on: every change is sent to {callback}"
            if instance.eventsEnabled
            else "off until a callback URL is set (on the App page, or on the instance's page)"
        )
        polled = (
            f"; its changes are polled every {instance.refreshInterval} min" if instance.eventsEnabled else ""
        )
        return page(
            200,
            "App installed again" if result.refreshed else "App installed",
            f"Store {result.store_hash} is connected{polled}.",
            facts={
                "Store": result.store_hash,
                "Instance": instance.id,
                "Events": events,
                "Resources": ", ".join(instance.resources) or "none",
            },
        )

    @app.get(
        "/apps/<app_id>/load",
        summary="Load callback: opens the store's instance page with a short-lived session",
        responses=_with(
            {302: {"description": "To the web page, signed in for that store's instance"}}, _CALLBACK_REFUSALS
        ),
        tags=["app callbacks"],
        security=[],  # BigCommerce calls these without credentials
    )
    def load_callback(
        app_id: AppIdParam, signed_payload_jwt: Annotated[str | None, Query(max_length=4096)] = None
    ) -> Response[str]:
        try:
            result = svc().load(app_id, signed_payload_jwt)
        except ApiError as exc:
            logger.warning("app load refused", extra={"status": exc.status, "reason": exc.message})
            return _refusal(exc)
        # Relative to /apps/{id}/load, so a stage prefix or custom domain needs no setting.
        location = f"../../#/session/{result.instance_id}/{result.session_token}"
        return Response(302, "text/html; charset=utf-8", "", headers={**_PAGE_HEADERS, "Location": location})

    @app.get(
        "/apps/<app_id>/uninstall",
        summary="Uninstall callback: stop polling, erase the store credentials, keep the event log",
        responses=_with({200: _html("Uninstalled")}, _CALLBACK_REFUSALS),
        tags=["app callbacks"],
        security=[],  # BigCommerce calls these without credentials
    )
    def uninstall_callback(
        app_id: AppIdParam, signed_payload_jwt: Annotated[str | None, Query(max_length=4096)] = None
    ) -> Response[str]:
        try:
            done = svc().uninstall(app_id, signed_payload_jwt)
        except ApiError as exc:
            logger.warning("app uninstall refused", extra={"status": exc.status, "reason": exc.message})
            return _refusal(exc)
        logger.info("app uninstalled", extra={"storeHash": done.store_hash, "instanceId": done.instance_id})
        return page(200, "App uninstalled", f"Store {done.store_hash}: polling stopped, credentials erased.")

    @app.get(
        "/apps/<app_id>/remove_user",
        summary="Remove-user callback: a store user lost access to the app",
        responses=_with({200: _html("Noted")}, _CALLBACK_REFUSALS),
        tags=["app callbacks"],
        security=[],  # BigCommerce calls these without credentials
    )
    def remove_user_callback(
        app_id: AppIdParam, signed_payload_jwt: Annotated[str | None, Query(max_length=4096)] = None
    ) -> Response[str]:
        try:
            store_hash = svc().remove_user(app_id, signed_payload_jwt)
        except ApiError as exc:
            logger.warning("app remove-user refused", extra={"status": exc.status, "reason": exc.message})
            return _refusal(exc)
        return page(200, "User removed", f"Store {store_hash}: nothing of that user is kept.")
