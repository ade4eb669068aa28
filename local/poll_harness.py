"""Drive PollFunction against moto's server and the simulated store (tests, benchmark).

Puts an instance item (with KMS-encrypted credentials) straight into the table, invokes
the real handler with the schedule's event shape, drains EventsQueue, and counts the AWS
calls each poll makes (botocore's event hooks on the handler's own clients).
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from bcpoller import keys
from bcpoller.adapters import aws
from bcpoller.adapters.instance_table import InstanceTable
from bcpoller.adapters.kms_crypto import KmsCrypto
from bcpoller.instances import StoredInstance, split_secrets
from bcpoller.settings import get_settings
from botocore.exceptions import BotoCoreError, ClientError

from local.dynamo_size import item_size, read_units
from local.runtime import LambdaContext, function_spec, load_handler_module
from local.store import SimulatedStore

ROOT = Path(__file__).resolve().parent.parent
ORDERS_URL = "/hubs/ecommerce/orders?where=min_date_modified='${date:EEE, dd MMM yyyy HH:mm:ss Z}'"
PRODUCTS_URL = "/hubs/ecommerce/products?where=date_modified:min='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}'"
CUSTOMERS_URL = "/hubs/ecommerce/customers?where=date_modified:min='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}'"


def poller(url: str = ORDERS_URL, **extra: Any) -> dict[str, Any]:
    return {"url": url, "idField": "id", **extra}


def create_instance(
    store: SimulatedStore,
    pollers: dict[str, dict[str, Any]],
    *,
    created: datetime | None = None,
    extra_config: dict[str, Any] | None = None,
    token: str | None = None,
) -> str:
    """A token-auth instance of ``store`` with events on; its cursors start at ``created``
    (store clock), as the API would set them."""
    settings = get_settings()
    instance_id = str(uuid.uuid4())
    configuration = {
        "store.hash": store.store_hash,
        "access.token": token or store.token,
        "event.notification.enabled": True,
        "event.notification.callback.url": "http://127.0.0.1:9/callback",
        "event.poller.configuration": pollers,
        **(extra_config or {}),
    }
    public, secret = split_secrets(configuration)
    crypto = KmsCrypto(aws.client("kms"), settings.kms_key_id)
    now = store.now()
    instance = StoredInstance.model_validate(
        {
            "instanceId": instance_id,
            "orgId": "org-poll-tests",
            "name": "poll tests",
            "configuration": public,
            "secrets": crypto.encrypt(secret, instance_id),
            "eventsEnabled": True,
            "createdDate": now,
            "storeCreatedAt": created or now,
            "callbackUrl": configuration["event.notification.callback.url"],
            "resources": sorted(pollers),
        }
    )
    InstanceTable(aws.table(settings.table_name)).put_new(instance)
    return instance_id


def load_poll_handler(copy: int = 0) -> ModuleType:
    """functions/poll/app.py, loaded the way the local stack loads it (fresh module)."""
    return load_handler_module(function_spec("poll"), copy)


def schedule_event(instance_id: str) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "poll_schedule.json").read_text())
    event["instanceId"] = instance_id
    return event


def invoke_poll(handler: ModuleType, instance_id: str, *, timeout_s: float = 120.0) -> dict[str, Any]:
    spec = function_spec("poll")
    context = LambdaContext(
        function_name=spec.arn.rsplit(":", 1)[-1],
        invoked_function_arn=spec.arn,
        memory_limit_in_mb=spec.memory_mb,
        timeout_s=timeout_s,
    )
    result: dict[str, Any] = handler.lambda_handler(schedule_event(instance_id), context)
    return result


def drain_queue(queue_url: str | None = None) -> list[dict[str, Any]]:
    """Every message now visible on EventsQueue, parsed; they stay hidden for an hour,
    which outlasts any test (one call per ten messages instead of two)."""
    sqs = aws.client("sqs")
    url = queue_url or get_settings().events_queue_url
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=3600
        ).get("Messages", [])
        if not got:
            return out
        out.extend(json.loads(m["Body"]) for m in got)


def cursor_item(instance_id: str, resource: str) -> dict[str, Any] | None:
    table = aws.table(get_settings().table_name)
    item: dict[str, Any] | None = table.get_item(
        Key={"pk": keys.instance_pk(instance_id), "sk": keys.cursor_sk(resource)}, ConsistentRead=True
    ).get("Item")
    return item


def instance_item(instance_id: str) -> dict[str, Any]:
    table = aws.table(get_settings().table_name)
    item: dict[str, Any] = table.get_item(
        Key={"pk": f"INST#{instance_id}", "sk": "META"}, ConsistentRead=True
    )["Item"]
    return item


@dataclass
class DynamoCall:
    """One DynamoDB request as sent and answered (botocore's typed JSON form)."""

    operation: str
    request: dict[str, Any]
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return self.operation in WRITE_OPERATIONS

    def read_bytes(self) -> int:
        """Bytes of the items a read returned (what its RRU are counted from)."""
        items = self.response.get("Items") or ([self.response["Item"]] if "Item" in self.response else [])
        if self.operation == "BatchGetItem":
            items = [i for found in (self.response.get("Responses") or {}).values() for i in found]
        return sum(item_size(i) for i in items)

    def read_units(self) -> float:
        return read_units(self.read_bytes(), consistent=bool(self.request.get("ConsistentRead")))


WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})


class CallCounter:
    """AWS API calls by service and operation, counted on the process's shared clients
    (the ones the handler's adapters use) through botocore's before-call hook; DynamoDB
    requests are also kept whole (request and answer) so capacity units can be counted
    from the items they carried."""

    SERVICES = ("dynamodb", "sqs", "kms")

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.dynamo: list[DynamoCall] = []
        self._hooks: list[tuple[Any, str, Callable[..., None]]] = []

    def install(self) -> CallCounter:
        for service in self.SERVICES:
            if service == "dynamodb":
                events = aws.table(get_settings().table_name).meta.client.meta.events
            else:
                events = aws.client(service).meta.events

            def hook(model: Any, service: str = service, params: Any = None, **_: Any) -> None:
                self.calls[f"{service}:{model.name}"] += 1
                if service == "dynamodb":
                    body = (params or {}).get("body") or b"{}"
                    self.dynamo.append(DynamoCall(model.name, json.loads(body)))

            name = f"before-call.{service}.*"
            events.register(name, hook)
            self._hooks.append((events, name, hook))
            if service == "dynamodb":

                def answered(http_response: Any = None, **_: Any) -> None:
                    if self.dynamo and http_response is not None and http_response.content:
                        self.dynamo[-1].response = json.loads(http_response.content)

                events.register("after-call.dynamodb.*", answered)
                self._hooks.append((events, "after-call.dynamodb.*", answered))
        return self

    def reset(self) -> Counter[str]:
        snapshot = Counter(self.calls)
        self.calls.clear()
        self.dynamo = []
        return snapshot

    def uninstall(self) -> None:
        for events, name, hook in self._hooks:
            events.unregister(name, hook)
        self._hooks.clear()


@contextmanager
def captured_output(service: str) -> Iterator[io.StringIO]:
    """Everything the handler writes while inside: its Powertools logger's lines (the
    handler's stream is bound when the logger is built, so it is swapped here), metrics
    (printed) and warnings, i.e. what CloudWatch Logs would ingest from the function."""
    buffer = io.StringIO()
    handlers = [h for h in logging.getLogger(service).handlers if isinstance(h, logging.StreamHandler)]
    previous = [h.setStream(buffer) for h in handlers]
    try:
        with redirect_stdout(buffer), redirect_stderr(buffer):
            yield buffer
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)


def by_service(calls: Counter[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, n in calls.items():
        service = key.split(":", 1)[0]
        out[service] = out.get(service, 0) + n
    return out


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


class _Drained(Exception):
    pass


_IN_FLIGHT_S = 5


class QueueConsumer:
    """Receives and deletes EventsQueue messages on a thread while a poll runs, the way
    DeliveryFunction would. It also keeps moto fast: moto's SQS scans every stored
    message on each call, so a queue left to grow to 10,000 makes each send seconds long."""

    def __init__(self, queue_url: str | None = None, *, threads: int = 8) -> None:
        self.url = queue_url or get_settings().events_queue_url
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # More receivers than the poller has senders, or the queue (and moto) keeps growing.
        self._threads = [
            threading.Thread(target=self._run, name=f"consumer-{i}", daemon=True) for i in range(threads)
        ]
        self._sqs = aws.client("sqs")

    def __enter__(self) -> QueueConsumer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        while True:
            try:
                self._receive_some()
            except _Drained:
                return
            except (BotoCoreError, ClientError):
                time.sleep(0.2)  # moto under load times out now and then: keep consuming

    def _receive_some(self) -> None:
        # A short visibility: a receive that moto answered but the client gave up on (a
        # timeout under load) leaves its messages in flight; they come back in seconds.
        got = self._sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=_IN_FLIGHT_S,
            WaitTimeSeconds=0 if self._stop.is_set() else 1,
        ).get("Messages", [])
        if not got:
            # Drained only when nothing is left in flight either: an empty receive while a
            # lost receive's messages are invisible is not the end.
            if self._stop.is_set() and queue_depth(self.url) == 0:
                raise _Drained
            return
        with self._lock:
            self.messages.extend(json.loads(m["Body"]) for m in got)
        self._sqs.delete_message_batch(
            QueueUrl=self.url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )


class RecordingQueue:
    """Wraps the handler's real EventsQueue writer and keeps a copy of what it queued,
    so a check of 10,000 events need not receive them all back from SQS."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.bodies: list[str] = []

    def send(self, bodies: Any) -> None:
        self.inner.send(bodies)
        self.bodies.extend(bodies)


def queue_depth(queue_url: str | None = None) -> int:
    attrs = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url or get_settings().events_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
