"""Delivery benchmark: one invocation loop of DeliveryFunction against a local receiver.

    python -m local.bench_delivery [--events 1000] [--batch 10] [--dynamo-ms 0,5]
                                   [--receiver-delay-ms 0]

What runs is the delivery as deployed -- Powertools' batch processor, the Deliverer,
signing, the container's httpx client with its SSRF-guarded connections -- fed SQS
batches of ``--batch`` records one invocation after the other, as one Lambda container
would get them. DynamoDB is an in-memory fake of the event log and instance ports that
waits ``--dynamo-ms`` per call (0: only our code and HTTP count; 5: a modelled in-region
round trip), so the figures are about our code, not about moto. Receivers: plain HTTP
and HTTPS with a self-signed certificate made at run time (the sender trusts it through
CALLBACK_CA_FILE, as in local mode). Per receiver and DynamoDB latency it prints one
headline line: events/s over handler time, the added latency (batch handler start ->
request at the receiver) p50/p99, the TCP connections the receiver accepted, and the
write units per delivered event computed from the written items' sizes (1 WRU per KB
of the whole item, for puts and for the larger of before/after for updates).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import io
import multiprocessing
import os
import ssl
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from local.worker_loop import build_sqs_event


class _Server(ThreadingHTTPServer):
    # A backlog of 5 (the default) drops concurrent SYNs: clients then wait 1 s.
    request_queue_size = 128
    daemon_threads = True
    connections = 0

    def get_request(self) -> tuple[Any, Any]:
        request = super().get_request()
        self.connections += 1
        return request


def _serve(conn: Connection, delay_s: float, cert: str | None, key: str | None, status: int = 204) -> None:
    """The receiver's process: answers ``status`` (204) to every POST, notes when each event id first
    arrived (CLOCK_MONOTONIC, the same in every process), reports on request."""
    arrivals: dict[str, float] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                arrivals.setdefault(self.headers.get("Elements-Webhook-Id", "?"), time.monotonic())
            if delay_s:
                time.sleep(delay_s)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = _Server(("127.0.0.1", 0), Handler)
    if cert and key:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_address[1])
    while True:
        command = conn.recv()
        if command == "stats":
            with lock:
                conn.send((dict(arrivals), server.connections))
                arrivals.clear()
        else:
            return


class _Receiver:
    """A receiver in its own process: in ours, its threads would compete with the sender
    for the GIL and slow it down in a way no real endpoint does."""

    def __init__(
        self, delay_s: float, cert: Path | None = None, key: Path | None = None, status: int = 204
    ) -> None:
        self._conn, child = multiprocessing.Pipe()
        self._proc = multiprocessing.get_context("fork").Process(
            target=_serve,
            args=(child, delay_s, str(cert) if cert else None, str(key) if key else None, status),
            daemon=True,
        )
        self._proc.start()
        port = self._conn.recv()
        self.url = f"{'https' if cert else 'http'}://127.0.0.1:{port}/hook"

    def stats(self) -> tuple[dict[str, float], int]:
        """Arrivals since the last call, and the connections accepted so far."""
        self._conn.send("stats")
        arrivals, connections = self._conn.recv()
        return arrivals, connections

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._proc.join(5)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost (its own CA) and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench receiver")])
    now = datetime.now(UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "receiver.pem", directory / "receiver.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


# -- DynamoDB, faked ---------------------------------------------------------------------


class FakeTable:
    """The event log store port in memory, waiting ``latency_s`` per call, metering write
    units from item sizes (bcpoller.dynamo_values.item_size)."""

    def __init__(self, latency_s: float) -> None:
        from bcpoller.dynamo_values import item_size, write_units

        self._size, self._units = item_size, write_units
        self.latency_s = latency_s
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.wru = 0
        # Of which the failed-events index (gsi1, projection ALL): an item with its keys
        # is written there too, and one leaving it is deleted there.
        self.index_wru = 0
        self.writes = 0
        self.calls = 0
        self._lock = threading.Lock()

    def _wait(self) -> None:
        self.calls += 1
        if self.latency_s:
            time.sleep(self.latency_s)

    def _write(self, key: tuple[str, str], before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        full = {"pk": key[0], "sk": key[1], **after}
        old = {"pk": key[0], "sk": key[1], **before} if before else {}
        self.wru += self._units(max(self._size(full), self._size(old) if old else 0))
        indexed = [self._size(i) for i in (full, old) if i.get("gsi1pk")]
        if indexed:
            units = self._units(max(indexed))
            self.wru += units
            self.index_wru += units
        self.writes += 1
        self.items[key] = after

    def put_claim(self, instance_id: str, event_id: str, *, item: dict[str, Any], lease_until: int) -> bool:
        self._wait()
        key = (f"INST#{instance_id}", f"EVENT#{event_id}")
        with self._lock:
            if key in self.items:
                self.wru += 1  # a refused conditional write costs one unit
                return False
            self._write(key, None, {**item, "claims": 1, "claimUntil": lease_until})
            return True

    def reclaim(
        self, instance_id: str, event_id: str, *, claims: int, lease_until: int, fields: dict[str, Any]
    ) -> bool:
        self._wait()
        key = (f"INST#{instance_id}", f"EVENT#{event_id}")
        with self._lock:
            old = self.items.get(key)
            if old is None or old.get("status") == "delivered" or int(old.get("claims") or 0) != claims:
                self.wru += 1
                return False
            new = {**old, **fields, "status": "delivering", "claimUntil": lease_until, "claims": claims + 1}
            self._write(key, old, new)
            return True

    def get(self, instance_id: str, event_id: str) -> dict[str, Any] | None:
        self._wait()
        item = self.items.get((f"INST#{instance_id}", f"EVENT#{event_id}"))
        return dict(item) if item else None

    def get_entry(
        self, instance_id: str, created_at: str, event_id: str, *, consistent: bool = False
    ) -> dict[str, Any] | None:
        self._wait()
        item = self.items.get((f"INST#{instance_id}", f"LOG#{created_at}#{event_id}"))
        return dict(item) if item else None

    def finish(
        self,
        instance_id: str,
        event_id: str,
        *,
        status: str,
        attempt: dict[str, Any] | None,
        fields: dict[str, Any],
        item: dict[str, Any] | None = None,
    ) -> None:
        self._wait()
        key = (f"INST#{instance_id}", f"EVENT#{event_id}")
        with self._lock:
            old = self.items.get(key)
            new = {**(item or {}), **(old or {}), "status": status}
            new.pop("claimUntil", None)
            new["attempts"] = [*new.get("attempts", []), *([attempt] if attempt else [])]
            for name, value in fields.items():
                if value is None:
                    new.pop(name, None)
                else:
                    new[name] = value
            self._write(key, old, new)

    def put_entry(
        self,
        instance_id: str,
        created_at: str,
        event_id: str,
        entry: dict[str, Any],
        *,
        only_new: bool = False,
    ) -> None:
        self._wait()
        key = (f"INST#{instance_id}", f"LOG#{created_at}#{event_id}")
        with self._lock:
            if only_new and key in self.items:
                self.wru += 1
                return
            self._write(key, self.items.get(key), entry)

    def add_counts(self, instance_id: str, day: str, *, counts: dict[str, int], ttl: int) -> None:
        self._wait()
        with self._lock:
            key = (f"INST#{instance_id}", f"STATS#{day}")
            old = self.items.get(key)
            new = dict(old or {})
            for name, n in counts.items():
                new[name] = new.get(name, 0) + n
            new["ttl"] = ttl
            self._write(key, old, new)

    def load_body(self, instance_id: str, body_ref: str) -> str:
        raise LookupError("the benchmark sends bodies inline")


class FakeInstances:
    def __init__(self, instance: Any, secrets: dict[str, Any], table: FakeTable) -> None:
        self.instance, self._secrets, self._table = instance, secrets, table

    def get(self, instance_id: str) -> Any:
        self._table._wait()  # GetItem of the instance (once per invocation)
        return self.instance

    def secrets(self, instance: Any) -> dict[str, Any]:
        return dict(self._secrets)  # KMS: decrypted once per container, then cached

    def cached_secrets(self, instance: Any) -> dict[str, Any] | None:
        return dict(self._secrets)  # a warm container's cache

    def turn_off_notifications(self, instance_id: str, reason: str) -> None:
        raise AssertionError("the receiver answers 204")


class FakeQueue:
    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        return None

    def send_to_dlq(self, message_body: str, reason: str) -> None:
        return None


# -- the run -------------------------------------------------------------------------------


class _Context:
    function_name = "DeliveryFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:DeliveryFunction"
    memory_limit_in_mb = 512
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _messages(instance_id: str, count: int) -> list[tuple[str, str]]:
    """(eventId, queue message JSON) of ``count`` order updates of a realistic size."""
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
        eid = event_id(instance_id, "orders", str(i), changed)
        message = QueueMessage.model_validate(
            {
                "instanceId": instance_id,
                "eventId": eid,
                "eventType": "UPDATED",
                "objectType": "orders",
                "objectId": str(i),
                "changedAt": changed,
                "emittedAt": datetime.now(UTC),
                "body": dump_body(body),
            }
        )
        out.append((eid, message.to_json()))
    return out


def _sqs_batch(batch: list[tuple[str, str]]) -> dict[str, Any]:
    import hashlib

    messages = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": f"rh-{eid}",
            "Body": body,
            "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
            "Attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": str(int(time.time() * 1000)),
                "SenderId": "bench",
                "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
            },
        }
        for eid, body in batch
    ]
    return build_sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:EventsQueue", "us-east-1")


def run_one(
    *, receiver: _Receiver, ca_file: str, count: int, batch_size: int, dynamo_ms: float
) -> dict[str, float]:
    from bcpoller.adapters.delivery_runtime import DeliveryRuntime
    from bcpoller.delivery.batch import process_batch, run
    from bcpoller.delivery.event_log import EventLog
    from bcpoller.instances import StoredInstance
    from bcpoller.settings import Settings

    settings = Settings.model_validate(
        {"TABLE_NAME": "bench", "LOCAL_MODE": "true", "CALLBACK_CA_FILE": ca_file}
    )
    # One warm container: the runtime (and its callback sender) lives across invocations.
    runtime = DeliveryRuntime(settings)
    table = FakeTable(dynamo_ms / 1000)
    instance_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    instance = StoredInstance.model_validate(
        {
            "instanceId": instance_id,
            "orgId": "bench",
            "name": "bench",
            "secrets": b"-",
            "eventsEnabled": True,
            "createdDate": now,
            "storeCreatedAt": now,
            "callbackUrl": receiver.url,
        }
    )
    secrets = {
        "signingSecret": "whsec_" + base64.b64encode(os.urandom(24)).decode(),
        "event.notification.signature.key": "bench-key",
    }
    runtime.log_table = table  # type: ignore[assignment]
    runtime.event_log = EventLog(table, retention_days=7)  # type: ignore[arg-type]
    runtime.instances = FakeInstances(instance, secrets, table)  # type: ignore[assignment]
    runtime.queues = FakeQueue()  # type: ignore[assignment]
    messages = _messages(instance_id, count)
    _, connections_before = receiver.stats()

    handler_time = 0.0
    starts: dict[str, float] = {}
    failures = 0
    cpu_started = time.process_time()
    for start in range(0, count, batch_size):
        batch = messages[start : start + batch_size]
        event = _sqs_batch(batch)
        started = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()):
            result = run(process_batch(copy.deepcopy(event), _Context(), runtime.open_deliverer))
        handler_time += time.monotonic() - started
        failures += len(result.get("batchItemFailures", []))
        starts.update((eid, started) for eid, _ in batch)
    cpu = time.process_time() - cpu_started
    arrivals, connections_after = receiver.stats()
    added = [(arrivals[eid] - began) * 1000 for eid, began in starts.items() if eid in arrivals]
    delivered = len(arrivals)
    statuses = [item.get("status") for key, item in table.items.items() if key[1].startswith("LOG#")]
    return {
        "delivered": delivered,
        "failures": failures,
        "all_delivered_in_log": float(statuses.count("delivered")),
        "events_per_s": delivered / handler_time if handler_time else 0.0,
        "p50": statistics.median(added) if added else float("nan"),
        "p99": _percentile(added, 99) if added else float("nan"),
        "connections": connections_after - connections_before,
        "cpu_ms_per_event": cpu * 1000 / max(1, delivered),
        "sender_connections": runtime.connections_opened,
        "wru_per_event": table.wru / max(1, delivered),
        "index_wru_per_event": table.index_wru / max(1, delivered),
        "writes_per_event": table.writes / max(1, delivered),
        "calls_per_event": table.calls / max(1, delivered),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10, help="records per SQS batch (the event source's)")
    parser.add_argument(
        "--dynamo-ms", default="0,5", help="modelled DynamoDB latency per call, comma-separated"
    )
    parser.add_argument("--receiver-delay-ms", type=float, default=0.0, help="the endpoint's own latency")
    args = parser.parse_args(argv)
    latencies = [float(x) for x in args.dynamo_ms.split(",") if x.strip()]

    from local.bench_env import set_bench_environment

    set_bench_environment(
        POWERTOOLS_SERVICE_NAME="delivery", POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="INFO"
    )
    # One INFO line per event would be measured too; production logs at INFO.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"

    with tempfile.TemporaryDirectory() as tmp:
        cert, key_file = self_signed(Path(tmp))
        receivers = {"HTTP": _Receiver(args.receiver_delay_ms / 1000)}
        receivers["HTTPS"] = _Receiver(args.receiver_delay_ms / 1000, cert, key_file)
        print(f"inputs: {args.events} events per run, SQS batches of {args.batch}, one invocation at a time,")
        print(
            f"  receiver delay {args.receiver_delay_ms:g} ms, DynamoDB faked at {args.dynamo_ms} ms per call,"
        )
        load = os.getloadavg()[0]
        print(f"  Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.1f} at start")
        ok = True
        headlines = []
        for ms in latencies:
            for name, receiver in receivers.items():
                # A short warm-up run: the container's first connection and imports.
                run_one(
                    receiver=receiver,
                    ca_file=str(cert),
                    count=args.batch,
                    batch_size=args.batch,
                    dynamo_ms=ms,
                )
                r = run_one(
                    receiver=receiver,
                    ca_file=str(cert),
                    count=args.events,
                    batch_size=args.batch,
                    dynamo_ms=ms,
                )
                ok = ok and r["delivered"] == args.events and r["failures"] == 0
                headline = (
                    f"{name} receiver, DynamoDB {ms:g} ms: {r['events_per_s']:.0f} events/s, "
                    f"added p50 {r['p50']:.0f} ms p99 {r['p99']:.0f} ms"
                )
                headlines.append(headline)
                print(headline)
                print(
                    f"    connections opened: {r['connections']:.0f} (sender: {r['sender_connections']:.0f}) "
                    f"for {r['delivered']:.0f} events; DynamoDB per event: {r['wru_per_event']:.2f} WRU, "
                    f"{r['writes_per_event']:.2f} writes, {r['calls_per_event']:.2f} calls; "
                    f"sender CPU {r['cpu_ms_per_event']:.2f} ms per event"
                )
        # Events the receiver refuses (400: failed at once): what a failed event costs,
        # the failed index included. Not a speed figure.
        refusing = _Receiver(0.0, status=400)
        count = min(args.events, 200)
        with contextlib.redirect_stderr(io.StringIO()):  # one "failed" warning per event
            r = run_one(receiver=refusing, ca_file=str(cert), count=count, batch_size=args.batch, dynamo_ms=0)
        refusing.stop()
        print(
            f"failed events (receiver answers 400), {r['delivered']:.0f} events: DynamoDB per event: "
            f"{r['wru_per_event']:.2f} WRU ({r['index_wru_per_event']:.2f} of them the failed index), "
            f"{r['writes_per_event']:.2f} writes"
        )
        for receiver in receivers.values():
            receiver.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
