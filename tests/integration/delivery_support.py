"""Helpers of the delivery integration tests: a real HTTP receiver, instances, and the
SQS round trip (send, receive, Lambda event, handler, delete as the event source would)."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from bcpoller.adapters import aws
from bcpoller.adapters.instance_table import InstanceTable
from bcpoller.adapters.kms_crypto import KmsCrypto
from bcpoller.instances import StoredInstance
from bcpoller.messages import QueueMessage, build_callback_body, dump_body, event_id

from local.template_resources import StackResources
from local.worker_loop import build_sqs_event
from tests.conftest import load_handler

SIGNATURE_KEY = "elements-signature-key-123"
SIGNING_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class _Server(ThreadingHTTPServer):
    # A backlog of 5 (the default) drops concurrent SYNs: clients then wait 1 s.
    request_queue_size = 128


class Receiver:
    """A threaded http.server on 127.0.0.1:0 answering from a script of replies (the
    last reply repeats), recording every request."""

    def __init__(self, replies: list[Reply] | None = None) -> None:
        self.replies = list(replies or [Reply()])
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body, time.monotonic()))
                    index = len(receiver.requests) - 1
                    reply = receiver.replies[min(index, len(receiver.replies) - 1)]
                if reply.delay:
                    time.sleep(reply.delay)
                payload = b"{}"
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, path: str = "/hook") -> list[bytes]:
        return [r.body for r in self.requests if r.path == path]


class Context:
    """The attributes of Lambda's context that Powertools and the handler read."""

    function_name = "DeliveryFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:DeliveryFunction"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/DeliveryFunction"
    log_stream_name = "test"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + 30

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def make_instance(
    stack: StackResources,
    callback_url: str,
    *,
    events_enabled: bool = True,
    signature_key: str | None = SIGNATURE_KEY,
    signing_secret: str = SIGNING_SECRET,
) -> str:
    instance_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    secrets: dict[str, str] = {"signingSecret": signing_secret}
    if signature_key:
        secrets["event.notification.signature.key"] = signature_key
    crypto = KmsCrypto(aws.client("kms"), stack.kms_key_id)
    instance = StoredInstance(
        instanceId=instance_id,
        orgId="org-1",
        name="Test store",
        configuration={
            "event.notification.enabled": events_enabled,
            "event.notification.callback.url": callback_url,
        },
        secrets=crypto.encrypt(secrets, instance_id),
        eventsEnabled=events_enabled,
        createdDate=now,
        storeCreatedAt=now,
        callbackUrl=callback_url,
        resources=["orders"],
    )
    InstanceTable(aws.table(stack.table_name)).put_new(instance)
    return instance_id


def make_message(instance_id: str, object_id: str = "105", *, changed_ago_s: float = 2.0) -> QueueMessage:
    changed = datetime.now(UTC) - timedelta(seconds=changed_ago_s)
    changed = changed.replace(microsecond=0)
    body = build_callback_body(
        instance_id=instance_id,
        instance_name="Test store",
        event_type="UPDATED",
        object_type="orders",
        object_id=object_id,
        changed_at=changed,
        record={"id": int(object_id), "status": "Shipped", "date_modified": changed.isoformat()},
    )
    return QueueMessage(
        instanceId=instance_id,
        eventId=event_id(instance_id, "orders", object_id, changed),
        eventType="UPDATED",
        objectType="orders",
        objectId=object_id,
        changedAt=changed,
        emittedAt=datetime.now(UTC),
        body=dump_body(body),
    )


class Pipeline:
    """EventsQueue -> DeliveryFunction as Lambda's SQS event source drives it."""

    def __init__(self, stack: StackResources) -> None:
        self.stack = stack
        self.sqs = boto3.client("sqs", endpoint_url=stack.endpoint_url, region_name=stack.region)
        attrs = self.sqs.get_queue_attributes(QueueUrl=stack.events_queue_url, AttributeNames=["QueueArn"])
        self.queue_arn = attrs["Attributes"]["QueueArn"]
        self.app = load_handler("delivery")
        self.visibility_calls: list[int] = []
        # Watch the handler's own SQS client: what visibility did it ask for?
        aws.client("sqs").meta.events.register(
            "provide-client-params.sqs.ChangeMessageVisibility", self._record_visibility
        )

    def _record_visibility(self, params: dict[str, Any], **_: Any) -> None:
        self.visibility_calls.append(int(params["VisibilityTimeout"]))

    def close(self) -> None:
        aws.client("sqs").meta.events.unregister(
            "provide-client-params.sqs.ChangeMessageVisibility", self._record_visibility
        )

    def send(self, *messages: QueueMessage) -> None:
        for message in messages:
            self.sqs.send_message(QueueUrl=self.stack.events_queue_url, MessageBody=message.to_json())

    def receive(self, max_messages: int = 10, wait: int = 1) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait
        while len(got) < max_messages:
            response = self.sqs.receive_message(
                QueueUrl=self.stack.events_queue_url,
                MaxNumberOfMessages=max_messages - len(got),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            batch = response.get("Messages", [])
            got.extend(batch)
            # Like the event source's batching window, but stop once the queue is drained.
            if time.monotonic() >= deadline or (got and not batch):
                break
            if not batch:
                time.sleep(0.05)
        return got

    def invoke(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        event = build_sqs_event(messages, self.queue_arn, self.stack.region)
        result: dict[str, Any] = self.app.lambda_handler(event, Context())
        # ReportBatchItemFailures: the event source deletes everything else.
        keep = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in keep]
        url = self.stack.events_queue_url
        for message in done:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return result

    def step(self, max_messages: int = 10, wait: int = 1) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        messages = self.receive(max_messages, wait)
        assert messages, "expected messages on the events queue"
        return messages, self.invoke(messages)

    def fast_forward(self, messages: list[dict[str, Any]]) -> None:
        """Make retried messages visible now instead of after their (real) delay."""
        url = self.stack.events_queue_url
        for message in messages:
            handle = message["ReceiptHandle"]
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)

    def queue_depth(self, url: str | None = None) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.stack.events_queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
