""" "Poll now": an asynchronous invoke of PollFunction, or, on the local stack (where moto
cannot run Lambda), an HTTP POST of the same event to the local runtime."""

from __future__ import annotations

import json
from typing import Any


class PollTrigger:
    def __init__(self, lambda_client: Any | None, *, function_arn: str, poll_now_url: str = "") -> None:
        self._lambda = lambda_client
        self._function_arn = function_arn
        self._poll_now_url = poll_now_url

    def trigger(self, instance_id: str, *, wake: bool = False) -> None:
        event: dict[str, Any] = {"instanceId": instance_id}
        if wake:
            # A woken poll (bcpoller.wakeup.coalesce.run_woken): it loops until no wake-up
            # request came in during its last pass.
            event["wake"] = True
        if self._poll_now_url:
            import httpx  # the local stack only: a deployed API never loads it for this

            httpx.post(self._poll_now_url, json=event, timeout=5.0).raise_for_status()
            return
        if self._lambda is None:
            raise RuntimeError("no Lambda client to invoke PollFunction")
        self._lambda.invoke(
            FunctionName=self._function_arn,
            InvocationType="Event",
            Payload=json.dumps(event).encode(),
        )

    def wake(self, instance_id: str) -> None:
        self.trigger(instance_id, wake=True)
