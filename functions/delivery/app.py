"""DeliveryFunction: EventsQueue batch -> signed POSTs -> {"batchItemFailures": [...]}."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from bcpoller.adapters.delivery_runtime import DeliveryRuntime, remaining_ms_of
from bcpoller.delivery.batch import process_batch, run
from bcpoller.settings import get_settings
from bcpoller.tracing import traced

logger = Logger()
metrics = Metrics()
runtime = DeliveryRuntime(get_settings(), metrics=metrics)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(process_batch(event, context, lambda: runtime.open_deliverer(remaining_ms_of(context))))
