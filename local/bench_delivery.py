"""Delivery benchmark: one invocation loop draining EventsQueue into a local receiver.

    python -m local.bench_delivery [--events 500] [--receiver-delay-ms 0]

Runs moto's server (DynamoDB, SQS, KMS) and a threaded HTTP receiver on free ports, queues
``--events`` events, then loops as Lambda's event source would: receive 10, build the SQS
event, call DeliveryFunction's handler, delete what it did not report as failed. Prints:
events/s (handler time only, and the whole loop with SQS receive/delete), the added latency
per event (handler start -> request at the receiver) p50/p99, and DynamoDB writes per event.
Figures against moto are pessimistic for DynamoDB/SQS latency (a local Python server).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.util
import io
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from local.moto_server import MotoServer
from local.template_resources import create_stack_resources
from local.worker_loop import build_sqs_event

ROOT = Path(__file__).resolve().parent.parent


class _Server(ThreadingHTTPServer):
    # A backlog of 5 (the default) drops concurrent SYNs: clients then wait 1 s.
    request_queue_size = 128


class _Receiver:
    def __init__(self, delay_s: float) -> None:
        self.arrivals: dict[str, float] = {}
        lock = threading.Lock()
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    arrivals.setdefault(self.headers.get("Elements-Webhook-Id", "?"), time.perf_counter())
                if delay_s:
                    time.sleep(delay_s)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class _Context:
    function_name = "DeliveryFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:DeliveryFunction"
    memory_limit_in_mb = 512
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_delivery_app", ROOT / "functions" / "delivery" / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _make_instance(table_name: str, kms_key_id: str, callback_url: str) -> str:
    from bcpoller.adapters import aws
    from bcpoller.adapters.instance_table import InstanceTable
    from bcpoller.adapters.kms_crypto import KmsCrypto
    from bcpoller.instances import StoredInstance

    instance_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    secrets = {
        "signingSecret": "whsec_" + base64.b64encode(os.urandom(24)).decode(),
        "event.notification.signature.key": "bench-key",
    }
    instance = StoredInstance.model_validate(
        {
            "instanceId": instance_id,
            "orgId": "bench",
            "name": "bench",
            "secrets": KmsCrypto(aws.client("kms"), kms_key_id).encrypt(secrets, instance_id),
            "eventsEnabled": True,
            "createdDate": now,
            "storeCreatedAt": now,
            "callbackUrl": callback_url,
        }
    )
    InstanceTable(aws.table(table_name)).put_new(instance)
    return instance_id


def _messages(instance_id: str, count: int) -> list[str]:
    from bcpoller.messages import QueueMessage, build_callback_body, dump_body, event_id

    base = datetime.now(UTC) - timedelta(minutes=5)
    out = []
    for i in range(count):
        changed = base + timedelta(milliseconds=i)
        record = {"id": i, "status": "Shipped", "total_inc_tax": "42.0000", "items_total": 3}
        body = build_callback_body(
            instance_id=instance_id,
            instance_name="bench",
            event_type="UPDATED",
            object_type="orders",
            object_id=str(i),
            changed_at=changed,
            record=record,
        )
        message = QueueMessage.model_validate(
            {
                "instanceId": instance_id,
                "eventId": event_id(instance_id, "orders", str(i), changed),
                "eventType": "UPDATED",
                "objectType": "orders",
                "objectId": str(i),
                "changedAt": changed,
                "emittedAt": datetime.now(UTC),
                "body": dump_body(body),
            }
        )
        out.append(message.to_json())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--receiver-delay-ms", type=float, default=0.0, help="the endpoint's own latency")
    args = parser.parse_args(argv)

    moto = MotoServer().start()
    try:
        return _run(moto.url, args.events, args.receiver_delay_ms / 1000)
    finally:
        moto.stop()


def _run(endpoint: str, count: int, delay_s: float) -> int:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "BigCommercePollingEvents",
        "POWERTOOLS_SERVICE_NAME": "delivery",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        os.environ.setdefault(key, value)
    resources = create_stack_resources(endpoint)
    os.environ.update(resources.function_environment())
    os.environ["LOCAL_MODE"] = "true"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # one INFO line per event would be measured too
    from bcpoller.adapters import aws
    from bcpoller.settings import reset_settings

    reset_settings()
    aws.reset_clients()
    receiver = _Receiver(delay_s)
    instance_id = _make_instance(resources.table_name, resources.kms_key_id, receiver.url)
    app = _load_handler()
    sqs: Any = boto3.client("sqs", endpoint_url=endpoint, region_name=resources.region)
    queue_url = resources.events_queue_url
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bodies = _messages(instance_id, count)
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)

    probe = time.perf_counter()
    for _ in range(20):
        app.runtime.log_table.get(instance_id, "probe")
    moto_ms = (time.perf_counter() - probe) / 20 * 1000

    writes_before = app.runtime.table_writes
    handler_time = 0.0
    added: list[float] = []
    failures = 0
    loop_started = time.perf_counter()
    while len(receiver.arrivals) < count:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            break
        event = build_sqs_event(messages, queue_arn, resources.region)
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # EMF metric lines
            result = app.lambda_handler(event, _Context())
        handler_time += time.perf_counter() - started
        keep = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        failures += len(keep)
        done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        done = [d for d, m in zip(done, messages, strict=True) if m["MessageId"] not in keep]
        if done:
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=done)
        for message in messages:
            event_id = message["Body"].split('"eventId":"', 1)[1].split('"', 1)[0]
            if event_id in receiver.arrivals:
                added.append((receiver.arrivals[event_id] - started) * 1000)
    loop_time = time.perf_counter() - loop_started
    delivered = len(receiver.arrivals)
    writes = app.runtime.table_writes - writes_before

    print(f"events queued            {count}")
    print(f"events delivered         {delivered} (batch item failures: {failures})")
    print(f"receiver delay           {delay_s * 1000:.0f} ms")
    print(f"events/s (handler time)  {delivered / handler_time:.1f}")
    print(f"events/s (whole loop)    {delivered / loop_time:.1f}  (incl. SQS receive/delete on moto)")
    if added:
        p50 = statistics.median(added)
        print(f"added latency p50        {p50:.1f} ms  (handler start -> request at the receiver)")
        print(f"added latency p99        {_percentile(added, 99):.1f} ms")
    print(f"DynamoDB writes / event  {writes / max(1, delivered):.2f}  (event log + idempotency records)")
    print(f"moto GetItem round trip  {moto_ms:.1f} ms  (DynamoDB itself is ~5 ms in-region)")
    rate, p50_ms, p99_ms = asyncio.run(_sender_only(receiver.url, bodies, delay_s))
    print(f"sign+POST only, 10 at a time: {rate:.0f} events/s, p50 {p50_ms:.1f} ms, p99 {p99_ms:.1f} ms")
    receiver.server.shutdown()
    return 0 if delivered == count else 1


async def _sender_only(url: str, bodies: list[str], delay_s: float) -> tuple[float, float, float]:
    """The same signing and httpx sending without AWS: our own cost per event."""
    from bcpoller.adapters.callback_sender import CallbackSender
    from bcpoller.delivery.signing import callback_headers

    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    latencies: list[float] = []
    async with CallbackSender.open(timeout=15, allow_loopback=True) as sender:

        async def one(body: str) -> None:
            started = time.perf_counter()
            headers = callback_headers(event_id="x", body=body, signature_key="k", signing_secret=secret)
            await sender.post(url, body.encode(), headers)
            latencies.append((time.perf_counter() - started) * 1000 - delay_s * 1000)

        began = time.perf_counter()
        for start in range(0, len(bodies), 10):
            await asyncio.gather(*[one(b) for b in bodies[start : start + 10]])
        elapsed = time.perf_counter() - began
    return len(bodies) / elapsed, statistics.median(latencies), _percentile(latencies, 99)


if __name__ == "__main__":
    sys.exit(main())
