"""The HTTP API: routes, OpenAPI and docs, and the web page's files.

Each route authenticates, calls one service method and returns its model; errors go
through the one mapping in bcpoller.api.errors. The service is built lazily (first
request), so the OpenAPI document can be generated without AWS. The Swagger page (and the
OpenAPI models it needs, ~40 ms of imports) is set up by the first request for /docs, not
at cold start.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.event_handler.openapi.params import Query

from bcpoller.api.app_routes import register_app_routes
from bcpoller.api.apps import AppService
from bcpoller.api.auth import Authenticator, Principal
from bcpoller.api.errors import (
    ErrorBody,
    FieldError,
    NotFound,
    json_body_problem,
    oversize_problem,
    register_error_handlers,
)
from bcpoller.api.models import (
    Accepted,
    EventDetail,
    EventPage,
    EventsSwitch,
    EventStatus,
    InstanceCheck,
    InstanceCreate,
    InstanceCreated,
    InstanceOut,
    InstancePatch,
    InstanceStatus,
    Redriven,
    Replayed,
    ReplayRequest,
    SigningSecretRotated,
)
from bcpoller.api.service import InstanceService
from bcpoller.api.wake_routes import register_wake_routes

TITLE = "BigCommerce polling events"
VERSION = "1.0.0"
DESCRIPTION = (
    "Create and manage BigCommerce connector instances that poll the store and deliver events. "
    "Authenticate with `Authorization: User <secret>, Organization <secret>` "
    "(or `Element <instance token>` alone for one instance's reads)."
)
DOCS_PATH = "/docs"
SECURITY: list[dict[str, list[str]]] = [{"ElementsAuth": []}]
InstanceId = Annotated[str, PathParam(description="Instance id", max_length=64)]
EventId = Annotated[str, PathParam(description="Event id", max_length=64)]
_PLACEHOLDER = {
    "index.html": "<!doctype html><title>BigCommerce polling events</title><p>The web page is not installed.",
    "app.js": "",
    "style.css": "",
}


@dataclass
class ApiContext:
    service: InstanceService
    auth: Authenticator
    catalog: Callable[[], list[dict[str, Any]]]
    apps: AppService | None = None  # the organization's BigCommerce app (api/apps.py)
    wake: Any = None  # wakeup.coalesce.WakeService: BigCommerce hooks wake the poller (issue 18)


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"model": ErrorBody}}}


_AUTH_ERRORS = {401: _err("Missing or wrong credentials"), 403: _err("An Element token alone cannot do this")}
_NOT_FOUND = {404: _err("No such instance (or not yours)")}


def _responses(code: int, description: str, *extra: dict[int, Any]) -> dict[int, Any]:
    out: dict[int, Any] = {code: {"description": description}}
    out.update(_AUTH_ERRORS)
    out[413] = _err("Body larger than 256 KiB")
    out[415] = _err("Body not JSON")
    out[500] = _err("Server fault")
    for more in extra:
        out.update(more)
    return out


def security_schemes() -> dict[str, Any]:
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    return {"ElementsAuth": APIKey(name="Authorization", in_=APIKeyIn.header)}  # type: ignore[call-arg]


class JsonApiResolver(APIGatewayHttpResolver):
    """Refuses oversize and non-JSON bodies before anything parses them (Powertools'
    validation runs before any middleware and would try form and multipart parsing)."""

    # build_app sets this: the first request for the docs page sets the page up.
    _docs_pending = False

    # Powertools keeps the request on the BaseRouter *class*, shared by every resolver of
    # the process. On Lambda one request runs per process; the local stack runs its API
    # environments as threads of one process, and there one request's route, path
    # parameters and Authorization were read by another's handler (style.css served as
    # app.js). Each resolver keeps its own request.
    _own_event: Any = None
    _own_lambda_context: Any = None

    @property  # type: ignore[override]
    def current_event(self) -> Any:
        return self._own_event

    @current_event.setter
    def current_event(self, value: Any) -> None:
        self._own_event = value

    @property  # type: ignore[override]
    def lambda_context(self) -> Any:
        return self._own_lambda_context

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._own_lambda_context = value

    def enable_docs_on_first_request(self) -> None:
        self._docs_pending = True

    def enable_docs(self) -> None:
        self._docs_pending = False
        self.enable_swagger(
            path=DOCS_PATH,
            title=TITLE,
            version=VERSION,
            description=DESCRIPTION,
            security_schemes=security_schemes(),
            security=SECURITY,
        )

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        path = str(event.get("rawPath") or "") if isinstance(event, Mapping) else ""
        if self._docs_pending and path.rstrip("/").endswith(DOCS_PATH):
            self.enable_docs()
        body = event.get("body") if isinstance(event, Mapping) else None
        if body:
            too_large = oversize_problem(body, bool(event.get("isBase64Encoded")))
            if too_large:
                return _early(413, too_large, [])
            headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
            ctype = headers.get("content-type", "application/json").split(";", 1)[0].strip().lower()
            if ctype and ctype != "application/json" and not ctype.endswith("+json"):
                return _early(
                    415, "the request body must be JSON", [("content-type", "use application/json")]
                )
            problem = json_body_problem(body, bool(event.get("isBase64Encoded")))
            if problem:
                return _early(400, f"the request body {problem[1]}", [problem])
        self._own_event = self._to_proxy_event(event if isinstance(event, dict) else dict(event))
        self._own_lambda_context = context
        return super().resolve(event, context)


def _early(status: int, message: str, errors: list[tuple[str, str]]) -> dict[str, Any]:
    body = ErrorBody(message=message, errors=[FieldError(field=f, problem=p) for f, p in errors])
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": body.model_dump_json(),
        "isBase64Encoded": False,
    }


def build_app(
    context: Callable[[], ApiContext],
    *,
    web_dir: Path | None,
    logger: Logger,
    catalog_source: Callable[[], list[dict[str, Any]]] | None = None,
) -> APIGatewayHttpResolver:
    """``catalog_source``, when given, answers GET /catalog without building the context (whose
    adapters import httpx and the delivery's wiring): the page's first request is quick."""
    app = JsonApiResolver(enable_validation=True)
    register_error_handlers(app, logger)
    app.enable_docs_on_first_request()

    def principal() -> Principal:
        return context().auth.authenticate(app.current_event.headers.get("authorization"))

    def svc() -> InstanceService:
        return context().service

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_json():  # type: ignore[no-untyped-def]
        return Response(200, content_types.APPLICATION_JSON, openapi_document(app))

    @app.post(
        "/instances",
        status_code=201,
        summary="Create an instance",
        responses=_responses(
            201, "Created: token and signingSecret appear only here", {400: _err("Invalid body")}
        ),
        tags=["instances"],
    )
    def create_instance(body: InstanceCreate) -> Response[InstanceCreated]:
        created = svc().create(principal(), body)
        return Response(201, content_types.APPLICATION_JSON, created)

    @app.post(
        "/instances/check",
        summary="Check a new instance's body as create would (every problem at once), making nothing",
        responses=_responses(200, "Create would accept it", {400: _err("Every problem of the body")}),
        tags=["instances"],
    )
    def check_instance(body: InstanceCreate) -> InstanceCheck:
        return svc().check_new(principal(), body)

    @app.get(
        "/instances",
        summary="List the organization's instances",
        responses=_responses(200, "Instances"),
        tags=["instances"],
    )
    def list_instances() -> list[InstanceOut]:
        return svc().list(principal())

    @app.get(
        "/instances/<instance_id>",
        summary="Get an instance",
        responses=_responses(200, "The instance", _NOT_FOUND),
        tags=["instances"],
    )
    def get_instance(instance_id: InstanceId) -> InstanceOut:
        return svc().get(principal(), instance_id)

    @app.patch(
        "/instances/<instance_id>",
        summary="Change an instance (partial configuration)",
        responses=_responses(200, "The changed instance", _NOT_FOUND, {400: _err("Invalid change")}),
        tags=["instances"],
    )
    def patch_instance(instance_id: InstanceId, body: InstancePatch) -> InstanceOut:
        return svc().patch(principal(), instance_id, body)

    @app.delete(
        "/instances/<instance_id>",
        status_code=204,
        summary="Delete an instance, its schedule, cursors, log and credentials",
        responses={**_responses(204, "Deleted", _NOT_FOUND), 204: {"description": "Deleted", "content": {}}},
        tags=["instances"],
    )
    def delete_instance(instance_id: InstanceId) -> Response[None]:
        svc().delete(principal(), instance_id)
        return Response(204, None, None)

    @app.put(
        "/instances/<instance_id>/events/enabled",
        summary="Turn events on",
        responses=_responses(200, "Events on", _NOT_FOUND, {400: _err("No callback URL")}),
        tags=["instances"],
    )
    def enable_events(instance_id: InstanceId) -> EventsSwitch:
        return svc().set_events(principal(), instance_id, True)

    @app.delete(
        "/instances/<instance_id>/events/enabled",
        summary="Turn events off",
        responses=_responses(200, "Events off", _NOT_FOUND),
        tags=["instances"],
    )
    def disable_events(instance_id: InstanceId) -> EventsSwitch:
        return svc().set_events(principal(), instance_id, False)

    @app.post(
        "/instances/<instance_id>/poll",
        status_code=202,
        summary="Poll now",
        responses=_responses(202, "Poll started", _NOT_FOUND, {409: _err("Events are disabled")}),
        tags=["instances"],
    )
    def poll_now(instance_id: InstanceId) -> Response[Accepted]:
        accepted = svc().poll_now(principal(), instance_id)
        return Response(202, content_types.APPLICATION_JSON, accepted)

    @app.get(
        "/instances/<instance_id>/status",
        summary="Per-resource cursors and poll figures, authentication state, 24 h delivery counts",
        responses=_responses(200, "Status", _NOT_FOUND),
        tags=["observe"],
    )
    def instance_status(instance_id: InstanceId) -> InstanceStatus:
        return svc().status(principal(), instance_id)

    @app.get(
        "/instances/<instance_id>/events",
        summary="The event log (newest first)",
        responses=_responses(200, "A page of events", _NOT_FOUND, {400: _err("Bad filter")}),
        tags=["observe"],
    )
    def list_events(
        instance_id: InstanceId,
        status: Annotated[EventStatus | None, Query()] = None,
        since: Annotated[datetime | None, Query()] = None,
        until: Annotated[datetime | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        nextToken: Annotated[str | None, Query(max_length=2048)] = None,
        objectId: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=128,
                description="Only this object's events (every match of the part of the log read; "
                "a nextToken means more of the log is unread)",
            ),
        ] = None,
        objectType: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    ) -> EventPage:
        return svc().list_events(
            principal(),
            instance_id,
            status=status,
            since=since,
            until=until,
            limit=limit,
            next_token=nextToken,
            object_id=objectId,
            object_type=objectType,
        )

    @app.post(
        "/instances/<instance_id>/events/replay",
        status_code=202,
        summary="Queue every failed event in a time range again",
        responses=_responses(202, "Replayed", _NOT_FOUND, {400: _err("Bad range")}),
        tags=["observe"],
    )
    def replay_events(instance_id: InstanceId, body: ReplayRequest) -> Response[Replayed]:
        replayed = svc().replay(principal(), instance_id, body.since, body.until)
        return Response(202, content_types.APPLICATION_JSON, replayed)

    @app.post(
        "/instances/<instance_id>/events/redrive",
        status_code=200,
        summary="Send this instance's dead-lettered events (DLQ) back for delivery",
        description=(
            "Idempotent: events already delivered are not sent again, other instances' "
            "messages stay in the DLQ. One call reads at most 500 DLQ messages; "
            "`complete: false` means call again."
        ),
        responses=_responses(200, "Redriven", _NOT_FOUND),
        tags=["observe"],
    )
    def redrive_events(instance_id: InstanceId) -> Redriven:
        return svc().redrive(principal(), instance_id)

    @app.get(
        "/instances/<instance_id>/events/<event_id>",
        summary="One event with its delivery attempts and body",
        responses=_responses(200, "The event", {404: _err("No such instance or event")}),
        tags=["observe"],
    )
    def get_event(instance_id: InstanceId, event_id: EventId) -> EventDetail:
        return svc().get_event(principal(), instance_id, event_id)

    @app.post(
        "/instances/<instance_id>/events/<event_id>/retry",
        status_code=202,
        summary="Deliver a failed event again",
        responses=_responses(
            202, "Queued", {404: _err("No such instance or event")}, {409: _err("The event is not failed")}
        ),
        tags=["observe"],
    )
    def retry_event(instance_id: InstanceId, event_id: EventId) -> Response[Accepted]:
        accepted = svc().retry_event(principal(), instance_id, event_id)
        return Response(202, content_types.APPLICATION_JSON, accepted)

    @app.post(
        "/instances/<instance_id>/signing-secret/rotate",
        summary="Replace the signing secret: the new one is shown once, the old one signs 24 h more",
        responses=_responses(200, "The new secret", _NOT_FOUND),
        tags=["instances"],
    )
    def rotate_signing_secret(instance_id: InstanceId) -> SigningSecretRotated:
        return svc().rotate_signing_secret(principal(), instance_id)

    @app.get(
        "/catalog",
        summary="Resources this connector can poll, with default poller configurations",
        tags=["catalog"],
    )
    def catalog() -> dict[str, list[dict[str, Any]]]:
        return {"resources": (catalog_source or context().catalog)()}

    register_app_routes(app, context, principal, logger)
    register_wake_routes(app, context)

    @app.get("/", include_in_schema=False)
    def index():  # type: ignore[no-untyped-def]
        return _static(web_dir, "index.html")

    @app.get("/static/<name>", include_in_schema=False)
    def static(name: str):  # type: ignore[no-untyped-def]
        return _static(web_dir, name)

    return app


# The page holds the organization's secrets in session storage: no other site may frame it
# (clickjacking). frame-ancestors works only as a header, not in the page's <meta> CSP.
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _static(web_dir: Path | None, name: str) -> Response:
    """Only the files that are in the web directory by name: no paths, no traversal."""
    available = {p.name: p for p in web_dir.iterdir() if p.is_file()} if web_dir and web_dir.is_dir() else {}
    ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if ctype in ("text/html", "text/css", "text/javascript", "application/javascript"):
        ctype += "; charset=utf-8"
    if name in available:
        return Response(200, ctype, available[name].read_text(encoding="utf-8"), headers=dict(_PAGE_HEADERS))
    if name in _PLACEHOLDER:
        return Response(200, ctype, _PLACEHOLDER[name], headers=dict(_PAGE_HEADERS))
    raise NotFound(f"no file {name[:100]!r}")


def openapi_document(app: APIGatewayHttpResolver) -> str:
    """The generated OpenAPI document (also committed as docs/openapi.json)."""
    doc = app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=security_schemes(),
        security=SECURITY,
    )
    return json.dumps(json.loads(doc), indent=2, sort_keys=True) + "\n"
