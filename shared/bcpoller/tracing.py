"""X-Ray tracing of a handler, loaded only when tracing is on.

Creating Powertools' ``Tracer`` imports the X-Ray SDK and patches botocore and httpx
(100-160 ms of cold start) even when it then finds tracing disabled. So the handlers ask
here instead: with tracing off they are returned as they are and the SDK is never
imported. Responses are never put in the trace (``capture_response=False``): they can be
large and, for the API, carry instance tokens and signing secrets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from bcpoller.settings import tracing_enabled

F = TypeVar("F", bound=Callable[..., Any])


def traced(handler: F) -> F:
    """``handler`` inside Powertools' ``capture_lambda_handler`` when tracing is on."""
    if not tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer

    return cast(F, Tracer().capture_lambda_handler(handler, capture_response=False))
