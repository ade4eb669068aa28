"""The callback sink: a real HTTP server that receives the events and checks their signatures.

``POST /hooks/{name}`` records the request and answers (200 unless told otherwise).
``GET /_deliveries[?hook=NAME]`` lists every request received, oldest first, as
``{"hook", "time", "status", "headers", "body", "raw_body", "signatures_valid"}``.
``POST /_behavior`` ``{"hook", "status", "times", "delay_ms", "signature_key",
"signing_secret"}`` makes the hook answer ``status`` for its next ``times`` requests
(every request when ``times`` is absent), after ``delay_ms``, and registers the keys its
signatures are checked with. ``DELETE /_deliveries`` forgets what was received.

``signatures_valid`` is null when no key was registered for the hook, else true only when
every registered check passes: ``Elements-Webhook-Signature`` (sha256= + base64 HMAC of
the body with the signature key) and Standard Webhooks (``standardwebhooks`` with the
signing secret).

Also ``python -m local.sink [--port 8082]``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

from local.json_http import QuietJsonHandler

MAX_BODY = 10 * 1024 * 1024
# A long `make run` must not grow without bound: the oldest records are dropped past this.
MAX_RECORDS = 100_000


def elements_signature(key: str, body: bytes) -> str:
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


@dataclass
class HookBehavior:
    status: int = 200
    times: int | None = 0  # requests left to answer `status`; None = every request
    delay_ms: int = 0
    signature_key: str | None = None
    signing_secret: str | None = None


@dataclass
class SinkState:
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    behaviors: dict[str, HookBehavior] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def behavior(self, hook: str) -> HookBehavior:
        return self.behaviors.setdefault(hook, HookBehavior())

    def answer_for(self, hook: str) -> tuple[int, int, HookBehavior]:
        """(status, delay ms, behavior) for the next request to ``hook``, consuming one ``times``."""
        with self.lock:
            behavior = self.behavior(hook)
            if behavior.times is None:
                return behavior.status, behavior.delay_ms, behavior
            if behavior.times > 0:
                behavior.times -= 1
                return behavior.status, behavior.delay_ms, behavior
            return 200, 0, behavior


def verify_signatures(behavior: HookBehavior, headers: dict[str, str], raw: bytes) -> bool | None:
    checks: list[bool] = []
    if behavior.signature_key:
        sent = headers.get("elements-webhook-signature", "")
        checks.append(hmac.compare_digest(sent, elements_signature(behavior.signature_key, raw)))
    if behavior.signing_secret:
        try:
            Webhook(behavior.signing_secret).verify(raw, headers)
            checks.append(True)
        except (WebhookVerificationError, ValueError, KeyError, EmptyWebhookSecretError):
            checks.append(False)
    return all(checks) if checks else None


class _Handler(QuietJsonHandler):
    server: _SinkServer

    def _error(self, status: int, field_name: str, problem: str) -> None:
        self.send_json(status, {"message": problem, "errors": [{"field": field_name, "problem": problem}]})

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._error(413, "body", f"larger than {MAX_BODY} bytes")
            return None
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_deliveries":
            hook = parse_qs(url.query).get("hook", [None])[0]
            state = self.server.state
            with state.lock:
                rows = [d for d in state.deliveries if hook is None or d["hook"] == hook]
            self.send_json(200, rows)
        elif url.path == "/_health":
            self.send_json(200, {"ok": True})
        else:
            self._error(404, "path", f"no route GET {url.path}")

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path != "/_deliveries":
            self._error(404, "path", "no such route")
            return
        with self.server.state.lock:
            self.server.state.deliveries.clear()
        self.send_json(200, {"cleared": True})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        raw = self._read_body()
        if raw is None:
            return
        if url.path == "/_behavior":
            self._set_behavior(raw)
        elif url.path.startswith("/hooks/") and len(url.path) > len("/hooks/"):
            self._receive(url.path[len("/hooks/") :], raw)
        else:
            self._error(404, "path", f"no route POST {url.path}")

    def _set_behavior(self, raw: bytes) -> None:
        try:
            spec = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "body", "is not JSON")
            return
        if not isinstance(spec, dict):
            self._error(400, "body", "must be a JSON object")
            return
        hook = spec.get("hook")
        if not isinstance(hook, str) or not hook:
            self._error(400, "hook", "is required: the hook name")
            return
        for name, low, high in (("status", 100, 599), ("times", 0, 1_000_000), ("delay_ms", 0, 600_000)):
            value = spec.get(name)
            bad = not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high
            if value is not None and bad:
                self._error(400, name, f"must be an integer from {low} to {high}")
                return
        for name in ("signature_key", "signing_secret"):
            if spec.get(name) is not None and not isinstance(spec[name], str):
                self._error(400, name, "must be a string")
                return
        state = self.server.state
        with state.lock:
            behavior = state.behavior(hook)
            if "status" in spec:
                behavior.status = spec["status"] if spec["status"] is not None else 200
                behavior.times = spec.get("times")
            elif "times" in spec:
                behavior.times = spec["times"]
            if "delay_ms" in spec:
                behavior.delay_ms = spec["delay_ms"] or 0
            if "signature_key" in spec:
                behavior.signature_key = spec["signature_key"]
            if "signing_secret" in spec:
                behavior.signing_secret = spec["signing_secret"]
            # The keys are write-only: answering them would leak the secrets.
            view = {
                "hook": hook,
                "status": behavior.status,
                "times": behavior.times,
                "delay_ms": behavior.delay_ms,
            }
        self.send_json(200, view)

    def _receive(self, hook: str, raw: bytes) -> None:
        state = self.server.state
        status, delay_ms, behavior = state.answer_for(hook)
        headers = {k.lower(): v for k, v in self.headers.items()}
        valid = verify_signatures(behavior, headers, raw)
        text = raw.decode("utf-8", errors="replace")
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = None
        if delay_ms:
            time.sleep(delay_ms / 1000)
        record = {
            "hook": hook,
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "status": status,
            "headers": headers,
            "body": body,
            "raw_body": text,
            "signatures_valid": valid,
            "delayed_ms": delay_ms,
        }
        with state.lock:
            state.deliveries.append(record)
            if len(state.deliveries) > MAX_RECORDS:
                del state.deliveries[: len(state.deliveries) - MAX_RECORDS]
        self.send_json(status, {"received": 200 <= status < 300, "hook": hook})


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SinkState) -> None:
        self.state = state
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A sender closing its keep-alive connection is normal, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Sink:
    """The callback sink on ``host:port`` (port 0 picks a free one), served by a thread."""

    def __init__(self, port: int = 8082, host: str = "127.0.0.1") -> None:
        self.state = SinkState()
        self._server = _SinkServer((host, port), self.state)
        self.host = host
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> Sink:
        self._thread = threading.Thread(target=self._server.serve_forever, name="sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.sink", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    args = parser.parse_args(argv)
    sink = Sink(args.port, args.host).start()
    print(f"sink listening on {sink.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    sink.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
