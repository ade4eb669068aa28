"""The delivery function's composition root: real adapters from the settings.

Built once per cold start (boto3 clients, the KMS decrypt cache, and one callback
sender -- an httpcore connection pool behind the SSRF guard -- per event loop, kept for the
life of the container so that connections and TLS sessions outlive an invocation).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from bcpoller.adapters import aws
from bcpoller.adapters.callback_sender import CallbackSender
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


class DeliveryRuntime:
    def __init__(self, settings: Settings, *, metrics: MetricsSink | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        table = aws.table(settings.table_name)
        self.log_table = EventLogTable(table)
        self.event_log = EventLog(self.log_table, retention_days=settings.event_retention_days)
        self.instances = DeliveryInstances(
            InstanceTable(table), KmsCrypto(aws.client("kms"), settings.kms_key_id)
        )
        self.queues = EventQueues(
            aws.client("sqs"), events_queue_url=settings.events_queue_url, dlq_url=settings.dlq_url
        )
        # A client belongs to the loop it was opened in (batch.run keeps one per thread).
        self._senders: dict[asyncio.AbstractEventLoop, CallbackSender] = {}

    def replayer(self) -> Replayer:
        return Replayer(self.event_log, self.queues)

    @property
    def table_writes(self) -> int:
        """DynamoDB write requests made so far by the event log."""
        return self.log_table.writes

    @property
    def connections_opened(self) -> int:
        return sum(s.connections_opened for s in self._senders.values())

    def sender(self) -> CallbackSender:
        """The callback sender of the running loop, made on first use."""
        loop = asyncio.get_running_loop()
        sender = self._senders.get(loop)
        if sender is None:
            s = self.settings
            sender = CallbackSender.create(
                timeout=s.delivery_timeout_seconds,
                allow_loopback=s.local_mode,
                extra_ca_file=(s.callback_ca_file or None) if s.local_mode else None,
            )
            self._senders = {k: v for k, v in self._senders.items() if not k.is_closed()}
            self._senders[loop] = sender
        return sender

    async def close_sender(self) -> None:
        """Close the running loop's sender (tests and benchmarks; Lambda never does)."""
        sender = self._senders.pop(asyncio.get_running_loop(), None)
        if sender is not None:
            await sender.aclose()

    @asynccontextmanager
    async def open_deliverer(self, remaining_ms: Callable[[], int] | None = None) -> AsyncIterator[Deliverer]:
        s = self.settings
        yield Deliverer(
            instances=self.instances,
            event_log=self.event_log,
            blobs=self.log_table,
            sender=self.sender(),
            queue=self.queues,
            url_guard=partial(assert_safe_url, allow_loopback=s.local_mode, resolve_host=False),
            metrics=self.metrics,
            seconds_per_minute=s.seconds_per_minute,
            remaining_ms=remaining_ms or (lambda: 30_000),
        )


def remaining_ms_of(context: Any) -> Callable[[], int] | None:
    """The Lambda context's clock, when there is a real context."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return (lambda: int(getter())) if callable(getter) else None
