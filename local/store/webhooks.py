"""The simulated store's webhooks: BigCommerce's ``/v3/hooks`` API and the hook POSTs.

- ``GET /v3/hooks`` (``page``, ``limit``, ``is_active``, ``scope``, ``destination``),
  ``POST /v3/hooks``, ``GET|PUT|DELETE /v3/hooks/{id}``: the Webhooks v3 shapes
  (``{"data": hook, "meta": {}}``; a hook is ``id, client_id, store_hash, created_at,
  updated_at, scope, destination, is_active, headers``).
- Every change of a record (create, update, delete) POSTs BigCommerce's payload
  (``scope, store_id, data {type, id}, hash, created_at, producer``) to each active hook
  whose scope covers it, with the hook's ``headers``, from a few sender threads.
- Faults (``POST /_admin/webhooks``): ``drop`` (the store sends nothing), ``delay_ms``
  (each POST leaves that much later), ``deactivate`` (every hook is marked inactive, as
  BigCommerce does after failed deliveries); ``GET /_admin/webhooks`` shows hooks
  (headers left out), faults and counts.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from typing import Any

import httpx

# resource -> (payload data.type, scope stem); brands and price lists send no hooks.
HOOK_RESOURCES: dict[str, tuple[str, str]] = {
    "orders": ("order", "store/order"),
    "products": ("product", "store/product"),
    "customers": ("customer", "store/customer"),
    "subscribers": ("subscriber", "store/subscriber"),
    "categories": ("category", "store/category"),
}
_VERBS = {"CREATED": "created", "UPDATED": "updated", "DELETED": "deleted"}
# BigCommerce sends a burst's hooks concurrently. The local stack's API, not the senders,
# sets the pace (bench wakeup: 12 hooks/s with 4 senders, 11/s with 8, on 2 busy cores).
SENDERS = 4


class HookError(Exception):
    def __init__(self, status: int, title: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title


def _covers(hook_scope: str, scope: str) -> bool:
    if hook_scope.endswith("/*"):
        return scope.startswith(hook_scope[:-1])
    return hook_scope == scope


class StoreWebhooks:
    def __init__(self, *, store_hash: str, client_id: str) -> None:
        self.store_hash = store_hash
        self.client_id = client_id
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, dict[str, str], bytes] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.hooks: dict[int, dict[str, Any]] = {}
            self._next_id = 18_048_287
            self.drop = False
            self.delay_ms = 0
            self.sent = 0
            self.dropped = 0
            self.failed = 0
            self.payloads = 0

    def _start_senders(self) -> None:
        if self._threads:
            return
        for i in range(SENDERS):
            thread = threading.Thread(target=self._send_loop, name=f"store-hooks-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        self._threads = []

    # -- the API ----------------------------------------------------------------------

    def _hook_body(self, body: Any, *, partial: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise HookError(422, "body: must be a JSON object")
        out: dict[str, Any] = {}
        for name in ("scope", "destination"):
            value = body.get(name)
            if value is None and partial:
                continue
            if not isinstance(value, str) or not value.strip():
                raise HookError(422, f"{name}: required, a non-empty string")
            out[name] = value
        if "destination" in out and not out["destination"].startswith(("https://", "http://127.0.0.1")):
            raise HookError(422, "destination: must be an https URL on port 443")
        if "is_active" in body:
            if not isinstance(body["is_active"], bool):
                raise HookError(422, "is_active: must be a boolean")
            out["is_active"] = body["is_active"]
        if "headers" in body:
            headers = body["headers"]
            if headers is not None and (
                not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values())
            ):
                raise HookError(422, "headers: must be an object of strings")
            out["headers"] = headers or {}
        return out

    def handle(self, method: str, rest: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        """``rest`` is the path after the store prefix (``/v3/hooks[/{id}]``)."""
        tail = rest[len("/v3/hooks") :].strip("/")
        if not tail:
            if method == "GET":
                return 200, self._list(query)
            if method == "POST":
                return 200, {"data": self.create(self._hook_body(body, partial=False)), "meta": {}}
            raise HookError(405, f"{method} /v3/hooks is not supported")
        if not tail.isdigit():
            raise HookError(404, "webhook_id: not a webhook id")
        hook_id = int(tail)
        with self._lock:
            hook = self.hooks.get(hook_id)
            if hook is None:
                raise HookError(404, f"webhook {hook_id} not found")
            if method == "GET":
                return 200, {"data": dict(hook), "meta": {}}
            if method == "PUT":
                changes = self._hook_body(body, partial=True)
                hook.update(changes)
                hook["updated_at"] = int(time.time())
                return 200, {"data": dict(hook), "meta": {}}
            if method == "DELETE":
                del self.hooks[hook_id]
                return 200, {"data": dict(hook), "meta": {}}
        raise HookError(405, f"{method} /v3/hooks/{{id}} is not supported")

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        with self._lock:
            hook = {
                "id": self._next_id,
                "client_id": self.client_id,
                "store_hash": self.store_hash,
                "created_at": now,
                "updated_at": now,
                "scope": fields["scope"],
                "destination": fields["destination"],
                "is_active": fields.get("is_active", True),
                "headers": fields.get("headers") or {},
            }
            self.hooks[self._next_id] = hook
            self._next_id += 1
            return dict(hook)

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        try:
            page = max(1, int(query.get("page") or 1))
            limit = max(1, min(250, int(query.get("limit") or 50)))
        except ValueError:
            raise HookError(400, "page, limit: must be whole numbers") from None
        with self._lock:
            hooks = sorted(self.hooks.values(), key=lambda h: h["id"])
        if "is_active" in query:
            hooks = [h for h in hooks if h["is_active"] == (query["is_active"].lower() == "true")]
        for name in ("scope", "destination"):
            if query.get(name):
                hooks = [h for h in hooks if h[name] == query[name]]
        total_pages = max(1, -(-len(hooks) // limit))
        data = [dict(h) for h in hooks[(page - 1) * limit : page * limit]]
        meta = {
            "pagination": {
                "total": len(hooks),
                "count": len(data),
                "per_page": limit,
                "current_page": page,
                "total_pages": total_pages,
            }
        }
        return {"data": data, "meta": meta}

    # -- faults and stats ---------------------------------------------------------------

    def control(self, method: str, body: Any) -> dict[str, Any]:
        if method == "POST":
            if not isinstance(body, dict):
                raise HookError(422, "body: the webhooks control takes a JSON object")
            unknown = set(body) - {"drop", "delay_ms", "deactivate"}
            if unknown:
                raise HookError(422, f"{sorted(unknown)[0]}: unknown (known: deactivate, delay_ms, drop)")
            with self._lock:
                if "drop" in body:
                    if not isinstance(body["drop"], bool):
                        raise HookError(422, "drop: must be a boolean")
                    self.drop = body["drop"]
                if "delay_ms" in body:
                    if not isinstance(body["delay_ms"], int) or body["delay_ms"] < 0:
                        raise HookError(422, "delay_ms: must be a whole number >= 0")
                    self.delay_ms = body["delay_ms"]
                if body.get("deactivate") is True:
                    for hook in self.hooks.values():
                        hook["is_active"] = False
        with self._lock:
            return {
                "hooks": [{k: v for k, v in h.items() if k != "headers"} for h in self.hooks.values()],
                "drop": self.drop,
                "delay_ms": self.delay_ms,
                "payloads": self.payloads,
                "sent": self.sent,
                "dropped": self.dropped,
                "failed": self.failed,
            }

    # -- sending ----------------------------------------------------------------------

    def notify(self, resource: str, record_id: int, operation: str) -> None:
        """A record changed: queue a POST to every active hook covering it (never blocks)."""
        kind = HOOK_RESOURCES.get(resource)
        if kind is None or not self.hooks:  # most stores in tests have no hook: no work
            return
        scope = f"{kind[1]}/{_VERBS.get(operation, 'updated')}"
        now = int(time.time())
        with self._lock:
            targets = [h for h in self.hooks.values() if h["is_active"] and _covers(h["scope"], scope)]
            for hook in targets:
                self.payloads += 1
                if self.drop:
                    self.dropped += 1
                    continue
                payload = {
                    "scope": scope,
                    "store_id": "1001",
                    "data": {"type": kind[0], "id": record_id},
                    "hash": hashlib.sha1(f"{scope}:{record_id}:{now}".encode()).hexdigest(),
                    "created_at": now,
                    "producer": f"stores/{self.store_hash}",
                }
                headers = {"Content-Type": "application/json", **(hook.get("headers") or {})}
                self._queue.put((hook["destination"], headers, json.dumps(payload).encode()))
        if targets:
            self._start_senders()

    def _send_loop(self) -> None:
        with httpx.Client(timeout=10.0) as http:
            while True:
                job = self._queue.get()
                if job is None:
                    return
                if self.delay_ms:
                    time.sleep(self.delay_ms / 1000.0)
                url, headers, body = job
                try:
                    ok = http.post(url, headers=headers, content=body).status_code < 300
                except httpx.HTTPError:
                    ok = False
                with self._lock:
                    if ok:
                        self.sent += 1
                    else:
                        self.failed += 1
