"""The one mapping from exceptions to HTTP responses: ``{"message", "errors": [{"field", "problem"}]}``.

Domain code raises ApiError subclasses (or the config/SSRF errors it converts); anything
else is a server fault: logged with its traceback, answered with a clean 500 that leaks
nothing.
"""

from __future__ import annotations

import base64
import json
import math
import traceback
from collections.abc import Iterable, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import BaseModel, Field


class FieldError(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    message: str
    errors: list[FieldError] = Field(default_factory=list)


class ApiError(Exception):
    status = 400

    def __init__(self, message: str, errors: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.errors = [FieldError(field=f, problem=p) for f, p in errors]


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class ServiceUnavailable(ApiError):
    """A dependency (the store, AWS) failed in a way the client may retry."""

    status = 503


def error_response(status: int, message: str, errors: Sequence[FieldError] = ()) -> Response:
    body = ErrorBody(message=message, errors=list(errors))
    headers = {"WWW-Authenticate": "User, Organization, Element"} if status == 401 else None
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body.model_dump(mode="json")),
        headers=headers,
    )


MAX_BODY_BYTES = 256 * 1024
# AWS error codes of a write that lost a race (botocore ClientError.response["Error"]["Code"]).
_CONFLICT_CODES = {"ConditionalCheckFailedException", "TransactionCanceledException", "ConflictException"}


def oversize_problem(body: str | None, is_base64: bool) -> str | None:
    """Why the body is too large, or None. Checked before anything reads the body."""
    size = len((body or "").encode("utf-8", "surrogatepass"))
    if is_base64:
        size = size * 3 // 4
    if size > MAX_BODY_BYTES:
        return f"the request body is {size} bytes; the limit is {MAX_BODY_BYTES} bytes (256 KiB)"
    return None


# The deepest body the API accepts: an instance body is 4 levels deep; 32 leaves room for
# any poller configuration while a 1,000-deep body (RecursionError) never reaches a parser.
MAX_JSON_DEPTH = 32


def json_body_problem(body: str | None, is_base64: bool) -> tuple[str, str] | None:
    """(field, problem) when the body is JSON nested too deep or carries a string that
    cannot be stored (a lone UTF-16 surrogate); None when it is fine or not JSON at all
    (the schema validation says that)."""
    if not body:
        return None
    text = body
    if is_base64:
        try:
            text = base64.b64decode(body).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ("body", "is not UTF-8 JSON")
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return ("body", f"is nested deeper than {MAX_JSON_DEPTH} levels")
        elif char in "]}":
            depth -= 1
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[str, Any]] = [("", parsed)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if _unencodable(key):
                    return (path or "body", "has a key that is not valid Unicode (a lone surrogate)")
                stack.append((where, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str) and _unencodable(value):
            return (path or "body", "is not valid Unicode (a lone surrogate such as \\ud800)")
        elif isinstance(value, float) and not math.isfinite(value):
            # Python's parser takes NaN, Infinity and 1e400; JSON has no such numbers.
            return (path or "body", "is not a finite number")
    return None


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _loc_to_field(loc: Sequence[Any]) -> str:
    # Powertools locations look like ("body", "configuration", "x") or ("query", "limit").
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where, rest = parts[0], parts[1:]
        return ".".join(rest) if where == "body" and rest else ".".join([where, *rest]) if rest else where
    return ".".join(parts) or "body"


def validation_problems(exc: RequestValidationError) -> list[FieldError]:
    problems = []
    for err in exc.errors():
        loc = err.get("loc", ()) if isinstance(err, dict) else ()
        msg = err.get("msg", "invalid") if isinstance(err, dict) else str(err)
        problems.append(FieldError(field=_loc_to_field(loc), problem=str(msg)))
    return problems


def _our_frames(exc: BaseException, keep: int = 4) -> list[str]:
    """``file:line function`` of the innermost frames outside the libraries."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "site-packages" not in f.filename] or list(frames)
    return [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in ours[-keep:]]


def register_error_handlers(app: APIGatewayHttpResolver, logger: Logger) -> None:
    @app.exception_handler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        if exc.status >= 500:
            logger.warning("dependency failure", extra={"status": exc.status, "reason": exc.message})
        return error_response(exc.status, exc.message, exc.errors)

    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response:
        problems = validation_problems(exc)
        return error_response(422, "the request does not match the API schema", problems)

    @app.exception_handler(RequestUnsupportedContentType)
    def _content_type(exc: RequestUnsupportedContentType) -> Response:
        return error_response(
            415,
            "the request body must be JSON",
            [FieldError(field="content-type", problem="use application/json")],
        )

    @app.exception_handler(NotFoundError)
    def _no_route(exc: NotFoundError) -> Response:
        return error_response(404, "no such route")

    @app.exception_handler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        return error_response(exc.status_code, str(exc.msg))

    @app.exception_handler(Exception)
    def _fault(exc: Exception) -> Response:
        # A conditional write lost a race (the instance was deleted or changed meanwhile):
        # the client's request was fine, the state moved under it.
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
        if code in _CONFLICT_CODES:
            return error_response(409, "the instance changed or was deleted meanwhile; read it and retry")
        # Never echo the exception, in the answer or the log: its text may carry a store URL
        # or a token. The log says where (method and path without the query string, and our
        # frames) and, for an AWS refusal, AWS's own code and message, which carry neither.
        event = getattr(app, "current_event", None)
        aws = (getattr(exc, "response", None) or {}).get("Error", {})
        logger.error(
            "unhandled server fault",
            extra={
                "error_type": type(exc).__name__,
                "route": f"{getattr(event, 'http_method', '')} {getattr(event, 'path', '')}".strip(),
                "where": _our_frames(exc),
                "aws_error": f"{aws.get('Code')}: {aws.get('Message')}" if aws else None,
            },
        )
        return error_response(500, "internal error; the request was not completed")
