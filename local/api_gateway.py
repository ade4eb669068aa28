"""An HTTP API (API Gateway v2) stand-in: HTTP requests in, payload v2 events to a handler.

The routes are template.yaml's own HttpApi events of ApiFunction (``GET /`` and
``ANY /{proxy+}``), so a request API Gateway would not route gets API Gateway's 404.
Events follow the payload format 2.0 as AWS documents it: lower-cased headers with
repeated values joined by commas, cookies moved out of the headers, query parameters
joined the same way, ``requestContext.http``, base64 bodies for non-text content. The
answer is turned back the way API Gateway does: a dict with ``statusCode`` is used as
is (headers, cookies, base64 bodies); anything else is a 200 JSON body; an exception
is a 500 and a handler slower than the integration timeout is a 503.

Under load it behaves like the real one, not like a growing backlog: ``concurrency``
invocations run at once (the function's concurrency) and at most ``queue_size`` more
wait; past that a request is answered ``429 Too Many Requests`` at once, and a request
that waited out the integration timeout is answered 503 and never run. The workers are
daemon threads, so stopping never waits for an invocation in flight. Methods HTTP APIs
do not route (TRACE, CONNECT, anything unknown) answer 404 like they do, not 501.
"""

from __future__ import annotations

import base64
import json
import queue
import re
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.template_resources import TEMPLATE, load_template

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
INTEGRATION_TIMEOUT = 30.0  # HTTP APIs give up on an integration after 30 s
API_ID = "localapi01"
ACCOUNT_ID = "123456789012"
_TEXT_TYPES = re.compile(
    r"^(text/|application/(json|xml|javascript|x-www-form-urlencoded)|[^;]*\+(json|xml))"
)

Invoke = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Route:
    method: str  # "ANY" or an HTTP method
    path: str  # "/", "/instances", "/{proxy+}"

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when this route takes (method, path), else None."""
        if self.method not in ("ANY", method):
            return None
        pattern_parts = self.path.strip("/").split("/") if self.path != "/" else []
        parts = path.strip("/").split("/") if path.strip("/") else []
        params: dict[str, str] = {}
        for i, pat in enumerate(pattern_parts):
            if pat.startswith("{") and pat.endswith("+}"):
                rest = parts[i:]
                if not rest:
                    return None
                params[pat[1:-2]] = unquote("/".join(rest))
                return params
            if i >= len(parts):
                return None
            if pat.startswith("{") and pat.endswith("}"):
                params[pat[1:-1]] = unquote(parts[i])
            elif pat != parts[i]:
                return None
        return params if len(parts) == len(pattern_parts) else None

    def specificity(self) -> tuple[int, int, int]:
        # API Gateway prefers literal paths, then parameters, then greedy; then a method over ANY.
        greedy = int("+}" in self.path)
        return (greedy, -len(self.path.strip("/").split("/")), int(self.method == "ANY"))


def template_routes(function: str = "ApiFunction", template_path: Path = TEMPLATE) -> list[Route]:
    """The HttpApi routes template.yaml wires to ``function``."""
    resource = load_template(template_path)["Resources"][function]
    routes = [
        Route(str(ev["Properties"]["Method"]).upper(), str(ev["Properties"]["Path"]))
        for ev in resource["Properties"].get("Events", {}).values()
        if ev.get("Type") == "HttpApi"
    ]
    return sorted(routes, key=Route.specificity)


def _join(values: list[str]) -> str:
    return ",".join(values)


def build_http_api_event(
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    route: Route,
    path_parameters: dict[str, str],
    source_ip: str = "127.0.0.1",
    protocol: str = "HTTP/1.1",
    domain_name: str = "127.0.0.1",
    now: datetime | None = None,
) -> dict[str, Any]:
    """A payload format 2.0 event for one request (as API Gateway builds it)."""
    url = urlsplit(target)
    moment = now or datetime.now(UTC)
    merged: dict[str, list[str]] = {}
    cookies: list[str] = []
    for name, value in headers:
        lname = name.lower()
        if lname == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        merged.setdefault(lname, []).append(value)
    merged.setdefault("x-forwarded-for", [source_ip])
    merged.setdefault("x-forwarded-proto", ["http"])
    request_id = base64.b64encode(secrets.token_bytes(10)).decode()
    merged.setdefault("x-amzn-trace-id", [f"Root=1-{int(moment.timestamp()):08x}-{secrets.token_hex(12)}"])
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": url.path or "/",
        "rawQueryString": url.query,
        "headers": {k: _join(v) for k, v in merged.items()},
    }
    if cookies:
        event["cookies"] = cookies
    if url.query:
        params: dict[str, list[str]] = {}
        for key, value in parse_qsl(url.query, keep_blank_values=True):
            params.setdefault(key, []).append(value)
        event["queryStringParameters"] = {k: _join(v) for k, v in params.items()}
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".")[0],
        "http": {
            "method": method,
            "path": url.path or "/",
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", [""])[0],
        },
        "requestId": request_id,
        "routeKey": route.key,
        "stage": "$default",
        "time": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(moment.timestamp() * 1000),
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        content_type = merged.get("content-type", [""])[0].lower()
        if _TEXT_TYPES.match(content_type):
            event["body"] = body.decode("utf-8", errors="replace")
            event["isBase64Encoded"] = False
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


@dataclass
class HttpAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_answer(status: int, message: str) -> HttpAnswer:
    body = json.dumps({"message": message}).encode()
    return HttpAnswer(status, [("content-type", "application/json")], body)


def answer_from_result(result: Any) -> HttpAnswer:
    """The HTTP response API Gateway makes of a payload 2.0 function result."""
    if isinstance(result, dict) and "statusCode" in result:
        try:
            status = int(result["statusCode"])
        except (TypeError, ValueError):
            return _json_answer(502, "Internal Server Error")
        headers = [(str(k).lower(), str(v)) for k, v in (result.get("headers") or {}).items()]
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.extend((str(name).lower(), str(v)) for v in values)
        headers.extend(("set-cookie", str(c)) for c in result.get("cookies") or [])
        raw = result.get("body")
        if raw is None:
            body = b""
        elif result.get("isBase64Encoded"):
            body = base64.b64decode(raw)
        else:
            body = str(raw).encode()
        if not any(k == "content-type" for k, _ in headers) and body:
            headers.append(("content-type", "application/json"))
        return HttpAnswer(status, headers, body)
    text = result if isinstance(result, str) else json.dumps(result)
    return HttpAnswer(200, [("content-type", "application/json")], text.encode())


class _Handler(BaseHTTPRequestHandler):
    server: _GatewayServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            size_total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                size_total += size
                if size_total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _write(self, answer: HttpAnswer, request_id: str) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers:
            if name not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("apigw-requestid", request_id)
        self.send_header("content-length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def _serve(self) -> None:
        gateway = self.server.gateway
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._write(_json_answer(413, "Request Entity Too Large"), "")
            return
        path = urlsplit(self.path).path or "/"
        for route in gateway.routes:
            params = route.match(self.command, path)
            if params is not None:
                break
        else:
            self._write(_json_answer(404, "Not Found"), "")
            return
        event = build_http_api_event(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            route=route,
            path_parameters=params,
            source_ip=self.client_address[0],
            protocol=self.request_version,
            domain_name=self.headers.get("Host", gateway.host).split(":")[0],
        )
        request_id = event["requestContext"]["requestId"]
        self._write(gateway.dispatch(event), request_id)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def __getattr__(self, name: str) -> Any:
        # http.server answers 501 for a method without a do_ method; HTTP APIs route
        # only the methods above and answer anything else as an unknown route.
        if name.startswith("do_"):
            return self._unroutable
        raise AttributeError(name)

    def _unroutable(self) -> None:
        self.close_connection = True
        self._write(_json_answer(404, "Not Found"), "")


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    gateway: ApiGateway

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Workers:
    """A fixed set of daemon threads behind a bounded queue."""

    def __init__(self, count: int, queue_size: int) -> None:
        self._queue: queue.Queue[tuple[Future[Any], Callable[[], Any]] | None] = queue.Queue(queue_size)
        self._threads = [
            threading.Thread(target=self._run, name=f"apigw-{i}", daemon=True) for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, call: Callable[[], Any]) -> Future[Any] | None:
        """The call's future, or None when the queue is full."""
        future: Future[Any] = Future()
        try:
            self._queue.put_nowait((future, call))
        except queue.Full:
            return None
        return future

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            future, call = job
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up waiting: never run it late
            try:
                future.set_result(call())
            except BaseException as exc:  # reported to the waiting request
                future.set_exception(exc)

    def stop(self) -> None:
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break  # daemon threads: they end with the process anyway


class ApiGateway:
    """Serves ``invoke`` (event -> function result) over HTTP on ``host:port``."""

    def __init__(
        self,
        invoke: Invoke,
        port: int = 3000,
        host: str = "127.0.0.1",
        *,
        routes: list[Route] | None = None,
        timeout: float = INTEGRATION_TIMEOUT,
        concurrency: int = 8,
        queue_size: int | None = None,
    ) -> None:
        self.invoke = invoke
        self.routes = routes if routes is not None else template_routes()
        self.timeout = timeout
        self.host = host
        self.throttled = 0
        self._workers = _Workers(concurrency, queue_size if queue_size is not None else concurrency * 2)
        self._server = _GatewayServer((host, port), _Handler)
        self._server.gateway = self
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def dispatch(self, event: dict[str, Any]) -> HttpAnswer:
        future = self._workers.submit(lambda: self.invoke(event))
        if future is None:
            self.throttled += 1
            return _json_answer(429, "Too Many Requests")
        try:
            result = future.result(timeout=self.timeout)
        except FutureTimeout:
            future.cancel()  # still queued: it will not run
            return _json_answer(503, "Service Unavailable")
        except Exception:
            return _json_answer(500, "Internal Server Error")
        return answer_from_result(result)

    def start(self) -> ApiGateway:
        self._thread = threading.Thread(target=self._server.serve_forever, name="apigw", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._workers.stop()
