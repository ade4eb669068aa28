"""The delivery function's composition root: real adapters from the settings.

Built once per cold start (boto3 clients, the KMS decrypt cache); each invocation opens
its own httpx AsyncClient on the invocation's event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from bcpoller.adapters import aws
from bcpoller.adapters.callback_sender import CallbackSender
from bcpoller.adapters.delivery_idempotency import DeliveryIdempotency, persistence_layer
from bcpoller.adapters.delivery_instances import DeliveryInstances
from bcpoller.adapters.event_log_table import EventLogTable
from bcpoller.adapters.event_queues import EventQueues
from bcpoller.adapters.instance_table import InstanceTable
from bcpoller.adapters.kms_crypto import KmsCrypto
from bcpoller.delivery.deliverer import Deliverer
from bcpoller.delivery.event_log import EventLog
from bcpoller.delivery.ports import MetricsSink
from bcpoller.delivery.replay import Replayer
from bcpoller.security.ssrf import assert_safe_url
from bcpoller.settings import Settings

DAY = 86_400


class DeliveryRuntime:
    def __init__(self, settings: Settings, *, metrics: MetricsSink | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        table = aws.table(settings.table_name)
        # Idempotency records live as long as the log: a duplicate within retention is caught.
        self.idempotency = DeliveryIdempotency(
            partial(
                persistence_layer,
                settings.table_name,
                expires_after_seconds=settings.event_retention_days * DAY,
                client=aws.client("dynamodb"),
            )
        )
        self.log_table = EventLogTable(table, reset_idempotency=self.idempotency.reset)
        self.event_log = EventLog(self.log_table, retention_days=settings.event_retention_days)
        self.instances = DeliveryInstances(
            InstanceTable(table), KmsCrypto(aws.client("kms"), settings.kms_key_id)
        )
        self.queues = EventQueues(
            aws.client("sqs"), events_queue_url=settings.events_queue_url, dlq_url=settings.dlq_url
        )

    def replayer(self) -> Replayer:
        return Replayer(self.event_log, self.queues)

    @property
    def table_writes(self) -> int:
        """DynamoDB writes made so far (event log + idempotency records)."""
        return self.log_table.writes + self.idempotency.writes

    @asynccontextmanager
    async def open_deliverer(self, remaining_ms: Callable[[], int] | None = None) -> AsyncIterator[Deliverer]:
        s = self.settings
        async with CallbackSender.open(
            timeout=s.delivery_timeout_seconds, allow_loopback=s.local_mode
        ) as sender:
            yield Deliverer(
                instances=self.instances,
                event_log=self.event_log,
                blobs=self.log_table,
                idempotency=self.idempotency,
                sender=sender,
                queue=self.queues,
                url_guard=partial(assert_safe_url, allow_loopback=s.local_mode),
                metrics=self.metrics,
                seconds_per_minute=s.seconds_per_minute,
                remaining_ms=remaining_ms or (lambda: 30_000),
            )


def remaining_ms_of(context: Any) -> Callable[[], int] | None:
    """The Lambda context's clock, when there is a real context."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return (lambda: int(getter())) if callable(getter) else None
