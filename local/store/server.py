"""A simulated BigCommerce store: a real threaded HTTP server on 127.0.0.1.

It serves what the poller reads (the list endpoint of every catalog resource under
``/stores/{hash}/v2|v3`` with ``X-Auth-Token``, and legacy ``/api/v2`` with basic auth),
``/v2/time``, the OAuth token endpoint, BigCommerce's filters, sorting, paging, date
formats and rate-limit headers, and a control API under ``/_admin`` for tests, benchmarks
and the local stack (``POST /_admin/{resource}/verbatim {"record": {...}}`` adds a record
served exactly as given, such as BigCommerce's documented examples). The store's clock
has second granularity, like BigCommerce's filters, so several changes share one second.
"""

from __future__ import annotations

import base64
import hmac
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.store import control_panel
from local.store.data import FIRST_ID, RESOURCES, ResourceSpec, generate, render, seeded_dates
from local.store.webhooks import HookError, StoreWebhooks

MAX_LIMIT = 250
DEFAULT_QUOTA = 150
DEFAULT_WINDOW_MS = 30_000
STATUS_DOCS = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"

_STORE_PATH = re.compile(r"^/stores/(?P<hash>[^/]+)(?P<rest>/v[23]/.*)$")
_LEGACY_PATH = re.compile(r"^/api(?P<rest>/v2/.*)$")
_ADMIN_PATH = re.compile(r"^/_admin/(?P<resource>[a-z_]+)(?:/(?P<tail>[^/]+))?/?$")


class ApiError(Exception):
    def __init__(self, status: int, title: str, *, field: str | None = None) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.field = field


def _parse_time(value: str, *, now: datetime, v3: bool, name: str) -> datetime:
    """A date filter's value as BigCommerce reads it, truncated to the second.

    v2 takes RFC 2822 or ISO 8601; v3 takes ISO 8601 (or a Unix timestamp), and a v3 date
    without a time part gets the request's current time of day (BigCommerce's documented
    behaviour), which is why the connector always sends full timestamps.
    """
    value = value.strip()
    parsed: datetime | None = None
    if v3 and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        day = date.fromisoformat(value)
        parsed = datetime.combine(day, now.timetz()).replace(tzinfo=UTC)
    elif re.fullmatch(r"\d{9,11}", value):
        parsed = datetime.fromtimestamp(int(value), UTC)
    else:
        try:
            parsed = datetime.fromisoformat(value.replace(" ", "+") if "T" in value else value)
        except ValueError:
            if not v3:
                try:
                    parsed = parsedate_to_datetime(value)
                except (TypeError, ValueError):
                    parsed = None
    if parsed is None:
        fmt = "ISO 8601 date-time" if v3 else "RFC 2822 or ISO 8601 date"
        raise ApiError(422 if v3 else 400, f"{name}: '{value}' is not a valid {fmt}", field=name)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)


class _Faults:
    def __init__(self) -> None:
        self.remaining = 0
        self.error_rate = 0.0
        self.status = 500
        self.latency_ms = 0
        self.repeat_pages = False
        self.burst_429 = 0


class SimulatedStore:
    """One store (one hash, one token, one basic-auth user) behind a real HTTP server.

    ``start()`` binds 127.0.0.1:``port`` (0 = a free port) and serves on a daemon thread.
    The in-process methods (create/update/delete/bulk/set_faults/set_clock_skew/now/...)
    are what the HTTP control API calls too.
    """

    def __init__(
        self,
        *,
        seed: int = 42,
        store_hash: str = "abc123",
        token: str = "sim-token",
        username: str = "admin",
        password: str = "sim-password",
        client_id: str = "sim-client-id",
        # As long as a real app's secret: PyJWT warns about HMAC keys under 32 bytes.
        client_secret: str = "sim-client-secret-5f0c2a9e41b87d3c6e1f0a2b9c8d7e6f",
        records_per_resource: int = 25,
        quota: int = DEFAULT_QUOTA,
        window_ms: int = DEFAULT_WINDOW_MS,
        port: int = 0,
        host: str = "127.0.0.1",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.seed = seed
        self.store_hash = store_hash
        self.token = token
        self.username = username
        self.password = password
        self.client_id = client_id
        self.client_secret = client_secret
        self.records_per_resource = records_per_resource
        self.host = host
        self.port = port
        self._default_quota = quota
        self._default_window_ms = window_ms
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._reset_state()

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The token-auth base, what ``store.url`` points at for a token instance."""
        return f"{self.url}/stores/{self.store_hash}"

    @property
    def legacy_url(self) -> str:
        """The legacy basic-auth ``store.url`` (``.../api/v2``)."""
        return f"{self.url}/api/v2"

    def start(self) -> SimulatedStore:
        handler = type("BoundHandler", (_Handler,), {"store": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="simulated-store",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.webhooks.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server = None
        self._thread = None

    def __enter__(self) -> SimulatedStore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state ---------------------------------------------------------------------------

    def _reset_state(self) -> None:
        # Webhooks (issue 18): /v3/hooks and the hook POSTs; the sender threads outlive a reset.
        if getattr(self, "webhooks", None) is None:
            self.webhooks = StoreWebhooks(store_hash=self.store_hash, client_id=self.client_id)
        self.webhooks.reset()
        with self._lock:
            self.quota = self._default_quota
            self.window_ms = self._default_window_ms
            self.clock_skew_s = 0.0
            self.faults = _Faults()
            self._fault_rng = random.Random(f"{self.seed}:faults")
            self._rng = random.Random(f"{self.seed}:live")
            self._records: dict[str, dict[int, dict[str, Any]]] = {}
            self._next_id: dict[str, int] = {}
            self._changes: list[dict[str, Any]] = []
            self._verbatim: dict[str, list[dict[str, Any]]] = {}
            self._used_codes: set[str] = set()
            self._window_start: float | None = None
            self._window_count = 0
            self._window_sent = 0
            self.stats_requests: Counter[str] = Counter()
            self.stats_429 = 0
            self.stats_errors_injected = 0
            self.stats_max_in_window = 0
            for name in RESOURCES:
                first = FIRST_ID[name]
                table: dict[int, dict[str, Any]] = {}
                for record_id in range(first, first + self.records_per_resource):
                    rng = random.Random(f"{self.seed}:{name}:{record_id}")
                    record = generate(name, record_id, rng)
                    record["date_created"], record["date_modified"] = seeded_dates(rng)
                    table[record_id] = record
                self._records[name] = table
                self._next_id[name] = first + self.records_per_resource

    def reset(self) -> None:
        """Back to the seeded data, default quota, no faults, no skew, empty logs."""
        self._reset_state()

    def now(self) -> datetime:
        """The store's clock (with any skew), to the second like BigCommerce's filters."""
        return (self._clock() + timedelta(seconds=self.clock_skew_s)).replace(microsecond=0)

    def set_clock_skew(self, seconds: float) -> None:
        with self._lock:
            self.clock_skew_s = float(seconds)

    def set_faults(
        self,
        *,
        quota: int | None = None,
        window_ms: int | None = None,
        error_rate: float | None = None,
        status: int | None = None,
        latency_ms: int | None = None,
        burst_429: int | None = None,
        clock_skew_s: float | None = None,
        repeat_pages: bool | None = None,
        count: int | None = None,
    ) -> dict[str, Any]:
        """Quota and window change the store's rate limit; clock_skew_s its clock; the
        rest (5xx rate, latency, repeated pages) apply to the next ``count`` API requests,
        and ``burst_429`` answers the next N API requests with 429."""
        with self._lock:
            if quota is not None:
                if quota < 1:
                    raise ApiError(422, "quota: must be at least 1", field="quota")
                self.quota = quota
            if window_ms is not None:
                if window_ms < 1:
                    raise ApiError(422, "window_ms: must be at least 1", field="window_ms")
                self.window_ms = window_ms
                self._window_start = None
            if clock_skew_s is not None:
                self.clock_skew_s = float(clock_skew_s)
            if burst_429 is not None:
                self.faults.burst_429 = max(0, int(burst_429))
            if any(v is not None for v in (error_rate, status, latency_ms, repeat_pages, count)):
                if error_rate is not None and not 0 <= error_rate <= 1:
                    raise ApiError(422, "error_rate: must be between 0 and 1", field="error_rate")
                if status is not None and not 400 <= status <= 599:
                    raise ApiError(422, "status: must be an HTTP error status", field="status")
                self.faults.error_rate = float(error_rate or 0.0)
                self.faults.status = int(status or 500)
                self.faults.latency_ms = int(latency_ms or 0)
                self.faults.repeat_pages = bool(repeat_pages)
                self.faults.remaining = int(count) if count is not None else 1
            return self.fault_state()

    def fault_state(self) -> dict[str, Any]:
        f = self.faults
        return {
            "quota": self.quota,
            "window_ms": self.window_ms,
            "clock_skew_s": self.clock_skew_s,
            "burst_429": f.burst_429,
            "error_rate": f.error_rate,
            "status": f.status,
            "latency_ms": f.latency_ms,
            "repeat_pages": f.repeat_pages,
            "count": f.remaining,
        }

    def _spec(self, resource: str) -> ResourceSpec:
        spec = RESOURCES.get(resource)
        if spec is None:
            raise ApiError(
                404, f"resource: unknown '{resource}' (known: {', '.join(RESOURCES)})", field="resource"
            )
        return spec

    def _log(self, resource: str, record_id: int, operation: str, when: datetime) -> None:
        self._changes.append(
            {
                "resource": resource,
                "id": record_id,
                "operation": operation,
                "date_modified": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        self.webhooks.notify(resource, record_id, operation)

    def create(self, resource: str, partial: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new record from a partial body; the store fills every other field. A partial
        ``date_modified`` / ``date_created`` (ISO 8601) backdates it."""
        spec = self._spec(resource)
        partial = dict(partial or {})
        with self._lock:
            now = self.now()
            modified = _admin_time(partial.pop("date_modified", None), "date_modified") or now
            created = _admin_time(partial.pop("date_created", None), "date_created") or modified
            record_id = int(partial.pop("id", self._next_id[resource]))
            if record_id in self._records[resource]:
                raise ApiError(409, f"id: {resource} {record_id} already exists", field="id")
            self._next_id[resource] = max(self._next_id[resource], record_id + 1)
            record = generate(resource, record_id, self._rng)
            record.update(partial)
            record["id"] = record_id
            record["date_created"], record["date_modified"] = created, modified
            self._records[resource][record_id] = record
            self._log(resource, record_id, "CREATED", modified)
            return render(spec, record, api=spec.api)

    def add_verbatim(self, resource: str, record: Any) -> int:
        """A record served exactly as given, on the first page of every read of the
        resource (BigCommerce's documented examples lack fields a real store fills, such
        as the customers example without ``id`` and ``date_modified``). Returns how many
        the resource has now."""
        self._spec(resource)
        if not isinstance(record, dict):
            raise ApiError(422, "record: must be a JSON object", field="record")
        with self._lock:
            self._verbatim.setdefault(resource, []).append(dict(record))
            return len(self._verbatim[resource])

    def bulk(
        self, resource: str, count: int, *, start: datetime | None = None, per_second: int | None = None
    ) -> list[int]:
        """``count`` new records; all at the store's now, or from ``start`` with
        ``per_second`` sharing each second (ties across page boundaries on purpose)."""
        self._spec(resource)
        if count < 0 or count > 1_000_000:
            raise ApiError(422, "count: must be 0..1000000", field="count")
        ids: list[int] = []
        with self._lock:
            base = start or self.now()
            for i in range(count):
                when = base + timedelta(seconds=i // per_second) if per_second else base
                record = self.create(resource, {"date_modified": when})
                ids.append(int(record["id"]))
        return ids

    def update(self, resource: str, record_id: int, partial: dict[str, Any] | None = None) -> dict[str, Any]:
        """Change fields; ``date_modified`` moves to the store's now (or a given time)."""
        spec = self._spec(resource)
        partial = dict(partial or {})
        with self._lock:
            record = self._records[resource].get(record_id)
            if record is None:
                raise ApiError(404, f"id: {resource} {record_id} not found", field="id")
            modified = _admin_time(partial.pop("date_modified", None), "date_modified") or self.now()
            partial.pop("id", None)
            partial.pop("date_created", None)
            record.update(partial)
            record["date_modified"] = modified
            self._log(resource, record_id, "UPDATED", modified)
            return render(spec, record, api=spec.api)

    def delete(self, resource: str, record_id: int) -> None:
        self._spec(resource)
        with self._lock:
            if self._records[resource].pop(record_id, None) is None:
                raise ApiError(404, f"id: {resource} {record_id} not found", field="id")
            self._log(resource, record_id, "DELETED", self.now())

    def get(self, resource: str, record_id: int) -> dict[str, Any] | None:
        spec = self._spec(resource)
        with self._lock:
            record = self._records[resource].get(record_id)
            return render(spec, record, api=spec.api) if record else None

    def count(self, resource: str) -> int:
        with self._lock:
            return len(self._records[self._spec(resource).name])

    def changes(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """The mutation log, oldest first; ``since`` keeps changes at or after it."""
        with self._lock:
            if since is None:
                return list(self._changes)
            stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return [c for c in self._changes if c["date_modified"] >= stamp]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.stats_requests),
                "requests_total": sum(self.stats_requests.values()),
                "throttled_429": self.stats_429,
                "errors_injected": self.stats_errors_injected,
                "max_requests_in_window": self.stats_max_in_window,
                "quota": self.quota,
                "window_ms": self.window_ms,
            }

    # -- the API: rate limit, faults, auth, lists ----------------------------------------

    def _admit(self) -> tuple[int | None, dict[str, str]]:
        """Count a request in the store's window; (429 or None, rate-limit headers)."""
        with self._lock:
            mono = time.monotonic()
            window_s = self.window_ms / 1000.0
            if self._window_start is None or mono >= self._window_start + window_s:
                self._window_start = mono
                self._window_count = 0
                self._window_sent = 0
            self._window_sent += 1
            self.stats_max_in_window = max(self.stats_max_in_window, self._window_sent)
            reset_ms = max(0, int((self._window_start + window_s - mono) * 1000))
            throttled = self.faults.burst_429 > 0 or self._window_count >= self.quota
            if self.faults.burst_429 > 0:
                self.faults.burst_429 -= 1
            if not throttled:
                self._window_count += 1
            else:
                self.stats_429 += 1
            headers = {
                "X-Rate-Limit-Requests-Left": str(max(0, self.quota - self._window_count)),
                "X-Rate-Limit-Requests-Quota": str(self.quota),
                "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
                "X-Rate-Limit-Time-Window-Ms": str(self.window_ms),
            }
            return (429 if throttled else None), headers

    def _take_fault(self) -> tuple[float, int | None, bool]:
        """(latency seconds, injected error status or None, repeat pages) for one request."""
        with self._lock:
            f = self.faults
            if f.remaining <= 0:
                return 0.0, None, False
            f.remaining -= 1
            error = f.status if f.error_rate > 0 and self._fault_rng.random() < f.error_rate else None
            if error is not None:
                self.stats_errors_injected += 1
            return f.latency_ms / 1000.0, error, f.repeat_pages

    def list_records(
        self, spec: ResourceSpec, query: dict[str, str], *, api: str, repeat: bool = False
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """(records of the requested page, v3 pagination meta)."""
        v3 = api == "v3"
        bad = 422 if v3 else 400
        page = _positive_int(query.get("page", "1"), "page", bad)
        limit = _positive_int(query.get("limit", "50"), "limit", bad)
        if limit > MAX_LIMIT:
            raise ApiError(422, f"limit: must be at most {MAX_LIMIT}, got {limit}", field="limit")
        now = self.now()
        low_name = spec.filter_min if v3 else (spec.filter_min if spec.api == "v2" else "min_date_modified")
        high_name = spec.filter_max if v3 else (spec.filter_max if spec.api == "v2" else "max_date_modified")
        low = (
            _parse_time(query[low_name], now=now, v3=v3, name=low_name)
            if low_name and low_name in query
            else None
        )
        high = (
            _parse_time(query[high_name], now=now, v3=v3, name=high_name)
            if high_name and high_name in query
            else None
        )
        sort_field, descending = _sort_of(spec, query, v3=v3, bad=bad)
        native = api == spec.api  # the legacy v2 twins of v3 resources take no id filters
        id_bounds = _id_bounds(spec, query, bad=bad) if native else []
        after, before = _cursor_bounds(spec, query) if native else (None, None)
        if (after is not None or before is not None) and (sort_field != "id" or descending):
            # Cursor pagination follows the default (id) order in this simulation.
            raise ApiError(422, "after: cursor pagination cannot be combined with sort", field="after")
        with self._lock:
            rows = list(self._records[spec.name].values())
        if low is not None:
            rows = [r for r in rows if r["date_modified"] >= low]
        if high is not None:
            rows = [r for r in rows if r["date_modified"] <= high]
        for keep in id_bounds:
            rows = [r for r in rows if keep(r["id"])]
        # Ties keep id order, so equal times across a page boundary page deterministically.
        rows.sort(key=lambda r: r["id"])
        if sort_field != "id":
            rows.sort(key=lambda r: _sort_value(r.get(sort_field)), reverse=descending)
        elif descending:
            rows.reverse()
        if after is not None or before is not None:
            records, cursor_meta = self._cursor_page(
                spec, rows, after=after, before=before, limit=limit, api=api
            )
            return _only_fields(records, query, v3=v3), cursor_meta
        with self._lock:
            verbatim = [dict(r) for r in self._verbatim.get(spec.name, [])] if page == 1 else []
        total = len(rows)
        start = 0 if repeat else (page - 1) * limit
        chunk = rows[start : start + limit]
        total_pages = (total + limit - 1) // limit
        links: dict[str, str] = {"current": f"?page={page}&limit={limit}"}
        if page > 1:
            links["previous"] = f"?page={page - 1}&limit={limit}"
        if page < total_pages or repeat:
            links["next"] = f"?page={page + 1}&limit={limit}"
        meta: dict[str, Any] = {
            "pagination": {
                "total": total,
                "count": len(chunk),
                "per_page": limit,
                "current_page": page,
                "total_pages": (page + 1) if repeat else total_pages,
                "links": links,
            }
        }
        if native and spec.cursor_pages and "page" not in query:
            # BigCommerce answers a request without page, after or before with both kinds
            # of pagination, so the first page can start a cursor read.
            meta["cursor_pagination"] = _cursor_meta(chunk, rows, 0, limit)
        return _only_fields([render(spec, r, api=api) for r in chunk], query, v3=v3) + verbatim, meta

    def _cursor_page(
        self,
        spec: ResourceSpec,
        rows: list[dict[str, Any]],
        *,
        after: int | None,
        before: int | None,
        limit: int,
        api: str,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """A cursor-paginated page: the records after (or before) the one the cursor names;
        only ``meta.cursor_pagination`` comes back, as the spec says."""
        if after is not None:
            start = next((i for i, r in enumerate(rows) if r["id"] > after), len(rows))
        else:
            end = next((i for i, r in enumerate(rows) if r["id"] >= (before or 0)), len(rows))
            start = max(0, end - limit)
            rows = rows[:end]
        chunk = rows[start : start + limit]
        meta = {"cursor_pagination": _cursor_meta(chunk, rows, start, limit)}
        return [render(spec, r, api=api) for r in chunk], meta

    def oauth_token(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        missing = [
            k for k in ("client_id", "client_secret", "code", "redirect_uri", "context") if not body.get(k)
        ]
        if missing:
            return 400, {"error": "invalid_request", "error_description": f"missing: {', '.join(missing)}"}
        if body.get("grant_type") != "authorization_code":
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "grant_type must be authorization_code",
            }
        if not (
            hmac.compare_digest(str(body["client_id"]), self.client_id)
            and hmac.compare_digest(str(body["client_secret"]), self.client_secret)
        ):
            return 401, {
                "error": "invalid_client",
                "error_description": "client_id or client_secret is wrong",
            }
        if body["context"] != f"stores/{self.store_hash}":
            return 400, {"error": "invalid_request", "error_description": "context does not name this store"}
        with self._lock:
            if body["code"] in self._used_codes:
                return 400, {"error": "invalid_grant", "error_description": "the code was already used"}
            self._used_codes.add(str(body["code"]))
        return 200, {
            "access_token": self.token,
            "scope": str(body.get("scope", "")),
            "user": {"id": 24654, "username": "merchant@example.com", "email": "merchant@example.com"},
            "owner": {"id": 24654, "username": "merchant@example.com", "email": "merchant@example.com"},
            "context": f"stores/{self.store_hash}",
            "account_uuid": "0b4e4ab6-7d17-4f3e-9c8b-3c7f2e1d0a11",
        }


def _admin_time(value: Any, name: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ApiError(422, f"{name}: '{value}' is not an ISO 8601 date-time", field=name) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)


def _positive_int(value: str, name: str, bad: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ApiError(bad, f"{name}: must be an integer, got '{value}'", field=name) from None
    if number < 1:
        raise ApiError(bad, f"{name}: must be at least 1, got {number}", field=name)
    return number


def _sort_of(spec: ResourceSpec, query: dict[str, str], *, v3: bool, bad: int) -> tuple[str, bool]:
    raw = query.get("sort")
    if not raw:
        return "id", False
    field, _, direction = raw.partition(":")
    direction = query.get("direction", direction or "asc").lower()
    allowed = spec.sort_fields | {"id", "date_modified"}
    if field not in allowed:
        raise ApiError(
            bad, f"sort: cannot sort by '{field}' (allowed: {', '.join(sorted(allowed))})", field="sort"
        )
    if direction not in ("asc", "desc"):
        raise ApiError(bad, f"direction: must be asc or desc, got '{direction}'", field="direction")
    return field, direction == "desc"


def _only_fields(records: list[dict[str, Any]], query: dict[str, str], *, v3: bool) -> list[dict[str, Any]]:
    """v3 ``include_fields``: "The ID and the specified fields will be returned" (the
    deletion sweep lists ids this way, a few bytes a record instead of a whole product)."""
    wanted = query.get("include_fields") if v3 else None
    if not wanted:
        return records
    keep = {"id", *(f.strip() for f in wanted.split(",") if f.strip())}
    return [{k: v for k, v in record.items() if k in keep} for record in records]


def _whole(value: str, name: str, bad: int) -> int:
    try:
        return int(value)
    except ValueError:
        raise ApiError(bad, f"{name}: must be an integer, got '{value}'", field=name) from None


def _id_bounds(spec: ResourceSpec, query: dict[str, str], *, bad: int) -> list[Callable[[int], bool]]:
    """The id filters the resource's list operation offers, as predicates on an id."""
    low, high, greater, less = spec.id_filters
    checks: list[Callable[[int], bool]] = []
    if low and low in query:
        n = _whole(query[low], low, bad)
        checks.append(lambda i: i >= n)
    if high and high in query:
        m = _whole(query[high], high, bad)
        checks.append(lambda i: i <= m)
    if greater and greater in query:
        g = _whole(query[greater], greater, bad)
        checks.append(lambda i: i > g)
    if less and less in query:
        k = _whole(query[less], less, bad)
        checks.append(lambda i: i < k)
    return checks


def encode_cursor(record_id: int) -> str:
    """A cursor as BigCommerce's examples show one: base64 of ``{"id":N}``, unpadded."""
    raw = json.dumps({"id": record_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value: str, name: str) -> int:
    try:
        padded = value + "=" * (-len(value) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return int(decoded["id"])
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise ApiError(422, f"{name}: '{value}' is not a cursor this store issued", field=name) from None


def _cursor_bounds(spec: ResourceSpec, query: dict[str, str]) -> tuple[int | None, int | None]:
    if not spec.cursor_pages:
        return None, None
    after = query.get("after")
    before = query.get("before")
    if after is not None and before is not None:
        raise ApiError(422, "after: cannot be combined with before", field="after")
    return (
        _decode_cursor(after, "after") if after is not None else None,
        _decode_cursor(before, "before") if before is not None else None,
    )


def _cursor_meta(
    chunk: list[dict[str, Any]], rows: list[dict[str, Any]], start: int, limit: int
) -> dict[str, Any]:
    meta: dict[str, Any] = {"count": len(chunk), "per_page": limit, "links": {}}
    if chunk:
        meta["start_cursor"] = encode_cursor(int(chunk[0]["id"]))
        meta["end_cursor"] = encode_cursor(int(chunk[-1]["id"]))
        meta["links"]["current"] = f"?limit={limit}&after={encode_cursor(int(chunk[0]['id']) - 1)}"
        if start + len(chunk) < len(rows):
            meta["links"]["next"] = f"?limit={limit}&after={meta['end_cursor']}"
        if start > 0:
            meta["links"]["previous"] = f"?limit={limit}&before={meta['start_cursor']}"
    return meta


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, datetime | int | float):
        return (1, value)
    return (2, str(value))


class _Handler(BaseHTTPRequestHandler):
    store: SimulatedStore
    protocol_version = "HTTP/1.1"
    server_version = "SimulatedBigCommerce/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header is the store's clock (skew included), as BigCommerce's is its
        # own: the poller reads the store time from it instead of asking /v2/time.
        if timestamp is not None:
            return super().date_time_string(timestamp)
        return super().date_time_string(self.store.now().timestamp())

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None or status == 204 else json.dumps(body).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            return {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "body: not valid JSON", field="body") from None

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            if parts.path.startswith("/_admin/"):
                self._admin(method, parts.path, query)
            elif parts.path == "/oauth2/token" and method == "POST":
                status, body = self.store.oauth_token(self._body())
                self._send(status, body)
            else:
                self._api(method, parts.path, query)
        except ApiError as exc:
            self._send(exc.status, {"status": exc.status, "title": exc.title, "type": STATUS_DOCS})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except (TypeError, ValueError, KeyError) as exc:
            # A control request with a wrong type: say so instead of dropping the connection.
            self._send(422, {"status": 422, "title": f"bad request: {exc}", "type": STATUS_DOCS})

    def _admin(self, method: str, path: str, query: dict[str, str]) -> None:
        store = self.store
        match = _ADMIN_PATH.match(path)
        if not match:
            raise ApiError(404, f"no admin route {path}")
        resource, tail = match.group("resource"), match.group("tail")
        if resource in control_panel.CONTROL_PANEL_ROUTES and tail is None:
            body = self._body() if method == "POST" else {}
            try:
                status, answer, headers = control_panel.handle(store, method, resource, query, body)
            except control_panel.ControlPanelError as exc:
                raise ApiError(422, str(exc)) from None
            self._send(status, answer, headers)
        elif resource == "webhooks" and tail is None:
            body = self._body() if method == "POST" else {}
            try:
                self._send(200, store.webhooks.control(method, body))
            except HookError as exc:
                raise ApiError(exc.status, exc.title) from None
        elif resource == "reset" and method == "POST":
            store.reset()
            self._send(200, {"reset": True})
        elif resource == "faults" and method == "POST":
            body = self._body()  # read whole first: the connection is kept alive
            if "json" not in (self.headers.get("Content-Type") or "application/json").lower():
                # A form body's values are all strings ("0.5"): refuse it rather than set
                # faults nobody asked for, or none while the caller believes they are set.
                raise ApiError(415, "Content-Type: the faults control takes a JSON object")
            if not isinstance(body, dict):
                raise ApiError(422, "body: the faults control takes a JSON object")
            known = {"quota", "window_ms", "error_rate", "status", "latency_ms", "burst_429", "clock_skew_s",
                     "repeat_pages", "count"}  # fmt: skip
            unknown = set(body) - known
            if unknown:
                raise ApiError(
                    422, f"{sorted(unknown)[0]}: unknown fault (known: {', '.join(sorted(known))})"
                )
            self._send(200, store.set_faults(**body))
        elif resource == "faults" and method == "GET":
            self._send(200, store.fault_state())
        elif resource == "stats" and method == "GET":
            self._send(200, store.stats())
        elif resource == "changes" and method == "GET":
            since = _admin_time(query["since"], "since") if query.get("since") else None
            self._send(200, store.changes(since))
        elif resource == "clock" and method == "GET":
            self._send(200, {"now": store.now().strftime("%Y-%m-%dT%H:%M:%SZ")})
        elif tail == "verbatim" and method == "POST":
            body = self._body()
            if not isinstance(body, dict) or "record" not in body:
                raise ApiError(422, 'record: the body must be {"record": {...}}', field="record")
            self._send(201, {"resource": resource, "verbatim": store.add_verbatim(resource, body["record"])})
        elif tail == "bulk" and method == "POST":
            body = self._body()
            start = _admin_time(body.get("date_modified"), "date_modified")
            ids = store.bulk(
                resource, int(body.get("count", 0)), start=start, per_second=body.get("per_second")
            )
            self._send(200, {"resource": resource, "ids": ids})
        elif tail is None and method == "POST":
            self._send(201, store.create(resource, self._body()))
        elif tail is not None and tail.isdigit() and method == "PUT":
            self._send(200, store.update(resource, int(tail), self._body()))
        elif tail is not None and tail.isdigit() and method == "DELETE":
            store.delete(resource, int(tail))
            self._send(204)
        elif tail is not None and tail.isdigit() and method == "GET":
            record = store.get(resource, int(tail))
            if record is None:
                raise ApiError(404, f"id: {resource} {tail} not found", field="id")
            self._send(200, record)
        else:
            raise ApiError(405, f"{method} {path} is not a control route")

    def _api(self, method: str, path: str, query: dict[str, str]) -> None:
        store = self.store
        legacy = _LEGACY_PATH.match(path)
        scoped = _STORE_PATH.match(path)
        if not (legacy or scoped):
            raise ApiError(404, f"no route {path}")
        rest = (legacy or scoped).group("rest").rstrip("/")  # type: ignore[union-attr]
        if scoped and scoped.group("hash") != store.store_hash:
            raise ApiError(404, "store not found")
        store.stats_requests[f"{method} {rest}"] += 1
        throttled, headers = store._admit()
        if throttled:
            body = {"status": 429, "title": "Too many requests", "type": STATUS_DOCS}
            self._send(429, body if rest.startswith("/v3") else [body], headers)
            return
        latency, error, repeat = store._take_fault()
        if latency:
            time.sleep(latency)
        v3 = rest.startswith("/v3/")
        if not self._authorized(legacy is not None):
            body = {
                "status": 401,
                "title": "Unauthorized: missing or invalid credentials",
                "type": STATUS_DOCS,
            }
            self._send(401, body if v3 else [body], headers)
            return
        if error is not None:
            body = {"status": error, "title": "Injected store failure", "type": STATUS_DOCS}
            self._send(error, body if v3 else [body], headers)
            return
        if rest == "/v3/hooks" or rest.startswith("/v3/hooks/"):
            body = self._body() if method in ("POST", "PUT") else {}
            try:
                status, answer = store.webhooks.handle(method, rest, query, body)
            except HookError as exc:
                status, answer = exc.status, {"status": exc.status, "title": exc.title, "type": STATUS_DOCS}
            self._send(status, answer, headers)
            return
        if method != "GET":
            raise ApiError(405, f"{method} is not simulated: the store is read-only over its API")
        if rest == "/v2/time":
            self._send(200, {"time": int(store.now().timestamp())}, headers)
            return
        spec, api = _resource_for(rest)
        if legacy and api != "v2":
            raise ApiError(404, "legacy basic auth only reaches the v2 API")
        try:
            records, meta = store.list_records(spec, query, api=api, repeat=repeat)
        except ApiError as exc:
            body = {"status": exc.status, "title": exc.title, "type": STATUS_DOCS}
            if exc.field:
                body["errors"] = {exc.field: exc.title}
            self._send(
                exc.status, body if api == "v3" else [{"status": exc.status, "message": exc.title}], headers
            )
            return
        if api == "v2":
            self._send(200 if records else 204, records or None, headers)
        else:
            self._send(200, {"data": records, "meta": meta}, headers)

    def _authorized(self, legacy: bool) -> bool:
        store = self.store
        if legacy:
            header = self.headers.get("Authorization") or ""
            if not header.startswith("Basic "):
                return False
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return hmac.compare_digest(user, store.username) and hmac.compare_digest(password, store.password)
        return hmac.compare_digest(self.headers.get("X-Auth-Token") or "", store.token)


def _resource_for(rest: str) -> tuple[ResourceSpec, str]:
    for spec in RESOURCES.values():
        if rest == spec.path:
            return spec, spec.api
        if spec.legacy_path and rest == spec.legacy_path:
            return spec, "v2"
    raise ApiError(404, f"no resource at {rest}")
