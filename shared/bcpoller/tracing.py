"""X-Ray tracing of a handler, loaded only when tracing is on, and then on the first call.

Creating Powertools' ``Tracer`` imports the X-Ray SDK and patches botocore and httpx
(100-160 ms of cold start) even when it then finds tracing disabled. So the handlers ask
here instead: with tracing off they are returned as they are and the SDK is never
imported; with tracing on the Tracer is made by the first invocation, before the handler
runs (the clients it traces are made during invocations, after the patching), so the
import itself stays as quick as with tracing off. Responses are never put in the trace
(``capture_response=False``): they can be large and, for the API, carry instance tokens
and signing secrets.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from bcpoller.settings import tracing_enabled

F = TypeVar("F", bound=Callable[..., Any])


def traced(handler: F) -> F:
    """``handler`` inside Powertools' ``capture_lambda_handler`` when tracing is on."""
    if not tracing_enabled():
        return handler
    inner: list[Callable[..., Any]] = []  # the traced handler, once made

    @functools.wraps(handler)
    def first_call_sets_up_tracing(event: Any, context: Any) -> Any:
        if not inner:
            from aws_lambda_powertools import Tracer

            inner.append(Tracer().capture_lambda_handler(handler, capture_response=False))
        return inner[0](event, context)

    return cast(F, first_call_sets_up_tracing)
