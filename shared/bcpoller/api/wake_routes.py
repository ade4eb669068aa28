"""``POST /wake/{instanceId}``: BigCommerce's webhook POSTs for instances with wake-up on.

No Authorization header (BigCommerce sends only the hook's own headers): the per-instance
secret in ``X-Bcpoller-Wake-Secret`` is the credential. An unknown instance, wake-up off
and a missing or wrong secret get the same 401 after the same one conditional write, so
the route never says whether an instance exists. The body (scope, ids) is not read:
the poll that follows reads the store, which is the source of truth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from bcpoller.api.errors import ErrorBody, Unauthorized
from bcpoller.wakeup.coalesce import WakeRefused
from bcpoller.wakeup.hooks import SECRET_HEADER


def register_wake_routes(app: APIGatewayHttpResolver, context: Callable[[], Any]) -> None:
    @app.post(
        "/wake/<instance_id>",
        summary="BigCommerce webhook: wake the poller (hooks registered by wake-up only)",
        responses={
            200: {"description": "Accepted: a poll runs soon (coalesced with any running or waiting)"},
            401: {
                "description": "Missing or wrong wake-up secret (or no such instance)",
                "content": {"application/json": {"model": ErrorBody}},
            },
        },
        tags=["wake-up"],
        security=[],
    )
    def wake(instance_id: str) -> dict[str, bool]:
        headers = app.current_event.headers or {}
        secret = next((v for k, v in headers.items() if k.lower() == SECRET_HEADER.lower()), None)
        service = context().wake
        try:
            if service is None:
                raise WakeRefused()
            service.wake(instance_id[:128], secret)
        except WakeRefused:
            raise Unauthorized("the wake-up secret is missing or wrong") from None
        return {"accepted": True}
