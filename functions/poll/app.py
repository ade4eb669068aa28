"""PollFunction: {"instanceId"} (schedule tick or "poll now") -> one poll -> summary."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from bcpoller.adapters.poll_runtime import poll_deps
from bcpoller.poll.engine import poll_instance
from bcpoller.poll.events import EventError, is_wake_event, parse_poll_event
from bcpoller.settings import get_settings
from bcpoller.tracing import traced

# A quiet poll logs one line (<= 300 bytes, 43,200 times a month at a 1-minute refresh):
# no Lambda-context keys (function name, ARN, memory: the log group already says them)
# and no source location; the instance id is the key that matters.
logger = Logger()
logger.remove_keys(["location"])
metrics = Metrics()
deps = poll_deps(get_settings(), metrics=metrics)
# Quiet polls add no metrics on purpose (the engine records them for polls that worked).
warnings.filterwarnings("ignore", message="No application metrics to publish")


@traced
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        instance_id = parse_poll_event(event)
    except EventError as exc:
        logger.error("poll event rejected", extra={"errors": exc.errors})
        return {"status": "invalid_event", "message": str(exc), "errors": exc.errors}
    # Per thread, not per process: the local runtime runs several environments of this
    # function in one process, and one poll's lines must not carry another's instance id.
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(instance_id=instance_id)
    if is_wake_event(event):
        return _woken(instance_id, context)
    result = poll_instance(
        instance_id,
        deps,
        remaining_ms=context.get_remaining_time_in_millis,
        now=lambda: datetime.now(UTC),
    )
    return result.to_dict()


def _woken(instance_id: str, context: LambdaContext) -> dict[str, Any]:
    """A poll asked for by BigCommerce's hooks: the same poll, repeated while wake-ups
    keep arriving during it (bcpoller.wakeup.coalesce)."""
    from bcpoller.adapters import aws
    from bcpoller.adapters.wake_table import WakeTable
    from bcpoller.wakeup.coalesce import run_woken

    results: list[dict[str, Any]] = []

    def poll() -> Any:
        result = poll_instance(
            instance_id,
            deps,
            remaining_ms=context.get_remaining_time_in_millis,
            now=lambda: datetime.now(UTC),
        )
        results.append(result.to_dict())
        return result

    run = run_woken(
        instance_id,
        WakeTable(aws.table(get_settings().table_name)),
        poll,
        remaining_ms=context.get_remaining_time_in_millis,
    )
    last = results[-1] if results else {"instanceId": instance_id, "status": "skipped"}
    return {**last, "wake": {"polls": run.polls, "refused": run.refused, "outcome": run.outcome}}
