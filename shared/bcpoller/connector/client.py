"""Paged reads from one BigCommerce store, one client per poll.

Every request goes through the shared ``RateGovernor`` (so a poll never draws 429s by
itself) and through one tenacity retry policy: 5xx, timeouts and connection errors back
off exponentially with jitter, 429s wait what the store says, and no wait is started that
would end past the poll's deadline. 401/403 are never retried.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import cache
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from bcpoller.connector.credentials import StoreCredentials, store_message
from bcpoller.connector.errors import (
    AuthenticationError,
    CredentialsError,
    DeadlineExceeded,
    RateLimited,
    StoreError,
)
from bcpoller.connector.governor import RESET_MS, RateGovernor

if TYPE_CHECKING:
    from bcpoller.config.catalog import CatalogEntry
    from bcpoller.config.hub import NativeRequest

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 250
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
# A read of more pages than this is a store gone wrong, not a busy store: 250 * 2,000
# records is far beyond one poll's time anyway, and the next poll continues.
MAX_PAGES = 2000
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


@cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one loads the CA bundle (about
    25 ms), which a client per poll would otherwise pay on every warm invocation."""
    return httpx.create_ssl_context()  # httpx's own defaults (certifi's bundle)


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    page_number: int
    is_last: bool
    # Id paging only: the token that continues the read after this page (see iter_keyset_pages).
    resume: str | None = None


class _Retryable(Exception):
    """A response worth retrying (5xx or 429); carries it for the wait and the last error."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class _Throttled(_Retryable):
    pass


@dataclass(frozen=True)
class _Native:
    """What is actually sent for a request: the path under the credentials' base, the
    query, and whether the store sorts it by updated time itself."""

    path: str
    params: dict[str, str]
    api: str
    server_sorted: bool
    anchor_param: str | None = None  # the lower-bound filter, re-anchored page by page


class BigCommerceClient:
    """Reads one store. Use as a context manager so the connection pool is closed."""

    def __init__(
        self,
        creds: StoreCredentials,
        *,
        governor: RateGovernor | None = None,
        deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_attempts: int = 6,
        max_429_attempts: int = 10,
        backoff_initial: float = 0.5,
        backoff_max: float = 20.0,
    ) -> None:
        self.creds = creds
        self.governor = governor or RateGovernor(sleep=sleep, clock=clock)
        self.deadline = deadline
        self.requests_made = 0
        # 429 answers (the governor waited, the request was sent again): the StoreThrottled metric.
        self.throttled = 0
        self._sleep = sleep
        self._clock = clock
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._max_429_attempts = max_429_attempts
        self._backoff = wait_exponential_jitter(
            initial=backoff_initial, max=backoff_max, jitter=backoff_initial
        )
        headers = {"Accept": "application/json", **creds.auth_headers()}
        self._date: datetime | None = None
        self._http = httpx.Client(
            base_url=creds.base_url,
            headers=headers,
            auth=creds.basic_auth(),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            verify=tls_context(),
        )

    def __enter__(self) -> BigCommerceClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- reads ---------------------------------------------------------------------------

    def store_time(self) -> datetime:
        """The store's clock: the poll's "now" and upper bound, never the Lambda's.

        The ``Date`` header of the latest successful response is that clock to the second
        (records are stamped to the second too), so a poll that has read a page asks for
        nothing more; ``/v2/time`` is asked only before any response carried a date."""
        if self._date is not None:
            return self._date
        response = self._get(self.creds.api_path("/v2/time"), {})
        try:
            return datetime.fromtimestamp(int(response.json()["time"]), UTC)
        except (ValueError, KeyError, TypeError):
            raise StoreError("the store's /v2/time answered an unexpected body", path="/v2/time") from None

    def check_credentials(self) -> None:
        """The cheapest proof that the credentials work: the clock plus one authenticated
        read of one order (orders exist on every plan and in both auth modes)."""
        self.store_time()
        self._get(self.creds.api_path("/v2/orders"), {"limit": "1"})

    def iter_pages(self, request: NativeRequest, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[Page]:
        """Every record of the request's resource with updated time >= its lower bound,
        ascending by updated time, one page at a time; the last page has ``is_last``."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size: must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        native = self._native(request)
        pages = self._read_pages(native, request.entry, page_size)
        if native.server_sorted:
            yield from pages
            return
        # The store cannot sort this resource by updated time (no sort parameter, or the
        # legacy v2 twin): sort the whole (already filtered) result here, because the
        # poller checkpoints page by page and must never see a later time before an
        # earlier one.
        records = [record for page in pages for record in page.records]
        updated = request.entry.updated_field
        if updated:
            records.sort(key=lambda r: (_record_time(r, updated), _sortable_id(r, request.entry.id_field)))
        chunks = [records[i : i + page_size] for i in range(0, len(records), page_size)] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            yield Page(records=chunk, page_number=number, is_last=number == len(chunks))

    def iter_keyset_pages(
        self, request: NativeRequest, *, page_size: int = MAX_PAGE_SIZE, after: str | None = None
    ) -> Iterator[Page]:
        """Every record of the request's resource with updated time >= its lower bound, in
        id order, starting after ``after`` (None = from the lowest id), one page at a time.

        Each page's ``resume`` is the token that continues after it: the last id read for
        ``min_id`` / ``id:greater`` endpoints, ``meta.cursor_pagination.end_cursor`` for
        cursor-paginated ones. A record changed during the read keeps its id, so it never
        shifts another record out of an unread page (page numbers would), and a new record
        takes a higher id; a checkpoint holding the token resumes exactly where it stopped.
        The read is whole only when a page says ``is_last``: at the page cap the pages just
        stop, and the caller resumes from the last token.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size: must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        entry = request.entry
        legacy = bool(getattr(request, "legacy", False)) or (self.creds.mode == "basic" and entry.api != "v2")
        keyset = entry.keyset_for(legacy=legacy)
        if keyset is None:
            raise ValueError(f"{entry.name}: the endpoint offers no id paging; use iter_pages")
        native = self._native(request)
        params = {k: v for k, v in native.params.items() if k not in entry.sort_params}
        params.update(entry.keyset_sort)
        token, number = after, 0
        while True:
            query = {**params, "limit": str(page_size)}
            if token is not None:
                query.update(_keyset_param(keyset, token, native.path))
            response = self._get(native.path, query)
            records, total_pages, has_next = _parse_page(response, native.api, native.path)
            number += 1
            if keyset == "after":
                cursor = _cursor_pagination(response)
                following = cursor.get("end_cursor")
                next_token = str(following) if records and following else token
                announced = bool((cursor.get("links") or {}).get("next")) if cursor else has_next
                is_last = not records or len(records) < page_size or not announced
            else:
                last_id = _dig(records[-1], entry.id_field) if records else None
                next_token = str(last_id) if last_id is not None else token
                if native.api == "v2":
                    is_last = len(records) < page_size
                else:
                    is_last = len(records) < page_size or (total_pages is not None and total_pages <= 1)
            if not is_last and next_token == token:
                # A token that does not move would read the same page forever; ending the
                # read instead would pass for having read everything.
                raise StoreError(
                    "the store's id paging did not move past the page it answered", path=native.path
                )
            yield Page(records=records, page_number=number, is_last=is_last, resume=next_token)
            if is_last:
                return
            if number >= MAX_PAGES:
                # Not the end: the caller keeps the last token and continues next time.
                logger.warning("read reached the page cap: stopping it", extra={"path": native.path})
                return
            token = next_token

    def _native(self, request: NativeRequest) -> _Native:
        entry = request.entry
        sort_keys = {"sort", "direction"}
        legacy = bool(getattr(request, "legacy", False))
        if self.creds.mode == "basic" and entry.api != "v2" and not legacy:
            # A v3 request with legacy credentials: only the entry's v2 twin is reachable.
            legacy_path = entry.legacy_v2_path
            if not legacy_path:
                raise CredentialsError(
                    [
                        (
                            "access.token",
                            f"resource {entry.name} is only in BigCommerce's v3 API, which legacy "
                            "basic auth cannot reach: give store.hash + access.token",
                        )
                    ]
                )
            params: dict[str, str] = {}
            if entry.legacy_v2_filter_param and request.lower_bound is not None:
                params[entry.legacy_v2_filter_param] = format_datetime(
                    request.lower_bound.astimezone(UTC).replace(microsecond=0)
                )
            return _Native(
                self.creds.api_path(legacy_path), params, "v2", server_sorted=entry.filter_param is None
            )
        params = {k: str(v) for k, v in request.params.items()}
        api = "v2" if legacy or request.path.startswith("/v2/") else entry.api
        sorted_by_store = entry.filter_param is None or any(k in params for k in sort_keys)
        anchor = next(
            (k for k in (entry.filter_param, entry.legacy_v2_filter_param) if k and k in params), None
        )
        return _Native(
            self.creds.api_path(request.path),
            params,
            api,
            server_sorted=sorted_by_store,
            anchor_param=anchor if sorted_by_store and entry.filter_param else None,
        )

    def _read_pages(self, native: _Native, entry: CatalogEntry, page_size: int) -> Iterator[Page]:
        """Pages of the store's answer, each record yielded once.

        For reads sorted by updated time with a lower-bound filter, each next page is asked
        for from the last record's second (page 1 again) rather than by page number: a
        record changed during the read moves to the end of the result, and with plain
        page numbers every later record would shift back one place and one would never be
        read. Re-anchoring re-reads the records of that one second (dropped here by
        (id, updated time)); only when a whole page shares the anchor's second does the
        read step on by page number within it.
        """
        anchor = native.anchor_param if entry.updated_field else None
        params = dict(native.params)
        seen: set[tuple[str, str]] = set()
        anchor_time = _parse_bound(params.get(anchor)) if anchor else None
        first_total_pages: int | None = None
        page, yielded = 1, 0
        while True:
            response = self._get(native.path, {**params, "page": str(page), "limit": str(page_size)})
            records, total_pages, has_next = _parse_page(response, native.api, native.path)
            if native.api == "v2":
                is_last = len(records) < page_size
            else:
                if first_total_pages is None and total_pages is not None:
                    first_total_pages = total_pages
                # Never more pages than the store announced for this query: records added
                # during the read are newer than the cursor anyway, and the next poll reads them.
                bounds = [t for t in (first_total_pages, total_pages) if t is not None]
                if bounds:
                    is_last = page >= min(bounds) or not records
                else:
                    is_last = not has_next or len(records) < page_size
            keys = [_record_key(r, entry) for r in records]
            fresh = [r for r, k in zip(records, keys, strict=True) if k not in seen]
            if records and not fresh and not is_last:
                logger.warning(
                    "store repeated a page: ending the read",
                    extra={"path": native.path, "page": page, "records": len(records)},
                )
                yield Page(records=[], page_number=yielded + 1, is_last=True)
                return
            yielded += 1
            seen.update(keys)
            yield Page(records=fresh, page_number=yielded, is_last=is_last)
            if is_last:
                return
            if yielded >= MAX_PAGES:
                # Not the end: the read stops without a last page, so the poll counts it as
                # partial and the next one goes on from the cursor (claiming the end here
                # would move the cursor to the store clock past records never read).
                logger.warning(
                    "read reached the page cap: stopping it", extra={"path": native.path, "page": page}
                )
                return
            last_time = (
                _record_time(records[-1], entry.updated_field) if anchor and entry.updated_field else None
            )
            if anchor and last_time is not None and last_time != _FAR_FUTURE and anchor_time is not None:
                last_second = last_time.replace(microsecond=0)
                if last_second > anchor_time:
                    anchor_time = last_second
                    params[anchor] = _format_bound(last_second, native.api)
                    page, first_total_pages = 1, None
                    continue
            page += 1

    # -- one request, governed and retried ------------------------------------------------

    def _get(self, path: str, params: dict[str, str]) -> httpx.Response:
        retrying = Retrying(
            retry=retry_if_exception_type((_Retryable, httpx.TimeoutException, httpx.TransportError)),
            wait=self._wait,
            stop=self._stop,
            sleep=self._sleep,
            retry_error_callback=lambda state: self._give_up(state, path),
        )
        result: httpx.Response = retrying(self._send_once, path, params)
        return result

    def _send_once(self, path: str, params: dict[str, str]) -> httpx.Response:
        self.governor.before_request(self.deadline)
        self.requests_made += 1
        response = self._http.get(path, params=params, timeout=self._request_timeout())
        self.governor.after_response(response.headers)
        status = response.status_code
        if status == 429:
            self.throttled += 1
            raise _Throttled(response)
        if status >= 500:
            raise _Retryable(response)
        if status in (401, 403):
            raise AuthenticationError(store_message(response), status=status, path=path)
        if status >= 400:
            raise StoreError(store_message(response), status=status, path=path)
        self._date = _response_date(response) or self._date
        return response

    def _request_timeout(self) -> httpx.Timeout:
        if self.deadline is None:
            return self._timeout
        # A request never hangs much past the poll's end: its read timeout shrinks with it.
        left = max(self.deadline - self._clock(), 1.0)
        read = self._timeout.read if self._timeout.read is not None else left
        return httpx.Timeout(self._timeout.connect, read=min(read, left), write=self._timeout.write, pool=5.0)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Throttled):
            reset_ms = exc.response.headers.get(RESET_MS)
            try:
                return max(float(reset_ms) / 1000.0, 0.0) + 0.02 if reset_ms is not None else 1.0
            except ValueError:
                return 1.0
        return float(self._backoff(state))

    def _stop(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        limit = self._max_429_attempts if isinstance(exc, _Throttled) else self._max_attempts
        if state.attempt_number >= limit:
            return True
        return self.deadline is not None and self._clock() + (state.upcoming_sleep or 0.0) > self.deadline

    def _give_up(self, state: RetryCallState, path: str) -> httpx.Response:
        exc = state.outcome.exception() if state.outcome else None
        deadline_hit = (
            self.deadline is not None and self._clock() + (state.upcoming_sleep or 0.0) > self.deadline
        )
        if isinstance(exc, _Retryable):
            status = exc.response.status_code
            message = store_message(exc.response)
            if deadline_hit:
                raise DeadlineExceeded(
                    f"retrying would pass the poll's deadline: {message}", status=status, path=path
                )
            if isinstance(exc, _Throttled):
                raise RateLimited(
                    f"still rate-limited after {state.attempt_number} attempts", status=429, path=path
                )
            raise StoreError(f"{message} after {state.attempt_number} attempts", status=status, path=path)
        reason = type(exc).__name__ if exc else "unknown error"
        if deadline_hit:
            raise DeadlineExceeded(f"retrying would pass the poll's deadline: {reason}", path=path)
        raise StoreError(f"store unreachable: {reason} after {state.attempt_number} attempts", path=path)


def _response_date(response: httpx.Response) -> datetime | None:
    value = response.headers.get("date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def _parse_page(
    response: httpx.Response, api: str, path: str
) -> tuple[list[dict[str, Any]], int | None, bool]:
    """(records, total_pages or None, whether a next page is announced)."""
    if response.status_code == 204 or not response.content.strip():
        return [], None, False
    try:
        body = response.json()
    except ValueError:
        raise StoreError(
            "the store answered a page that is not JSON", status=response.status_code, path=path
        ) from None
    if api == "v2":
        if not isinstance(body, list):
            raise StoreError("the store answered a v2 page that is not a list", path=path)
        return [r for r in body if isinstance(r, dict)], None, False
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise StoreError("the store answered a v3 page without a data list", path=path)
    pagination = (body.get("meta") or {}).get("pagination") or {}
    total = pagination.get("total_pages")
    links = pagination.get("links") or {}
    return (
        [r for r in body["data"] if isinstance(r, dict)],
        int(total) if isinstance(total, int | float) else None,
        bool(links.get("next")),
    )


def _keyset_param(keyset: str, token: str, path: str) -> dict[str, str]:
    if keyset == "after":
        return {"after": token}
    try:
        last = int(token)
    except ValueError:
        raise StoreError(f"id paging needs whole-number ids, got {token!r}", path=path) from None
    # min_id is inclusive: the next page starts one past the last id read.
    return {"min_id": str(last + 1)} if keyset == "min_id" else {"id:greater": str(last)}


def _cursor_pagination(response: httpx.Response) -> dict[str, Any]:
    try:
        meta = response.json().get("meta") or {}
    except (ValueError, AttributeError):
        return {}
    cursor = meta.get("cursor_pagination") if isinstance(meta, dict) else None
    return cursor if isinstance(cursor, dict) else {}


def _dig(record: dict[str, Any], dotted: str | None) -> Any:
    value: Any = record
    for part in (dotted or "").split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _record_key(record: dict[str, Any], entry: CatalogEntry) -> tuple[str, str]:
    return str(_dig(record, entry.id_field)), str(
        _dig(record, entry.updated_field) if entry.updated_field else ""
    )


def _sortable_id(record: dict[str, Any], id_field: str | None) -> tuple[int, str]:
    value = _dig(record, id_field)
    return (value, "") if isinstance(value, int) else (0, str(value))


def parse_record_time(value: Any) -> datetime | None:
    """A record's date as BigCommerce writes it: ISO 8601 (v3) or RFC 2822 (v2)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_bound(value: str | None) -> datetime | None:
    parsed = parse_record_time(value)
    return parsed.replace(microsecond=0) if parsed else None


def _format_bound(moment: datetime, api: str) -> str:
    """A re-anchored lower bound in the endpoint's own format (always a full timestamp:
    a v3 date without a time would get the request's time of day)."""
    if api == "v2":
        return format_datetime(moment.astimezone(UTC))
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _record_time(record: dict[str, Any], field: str) -> datetime:
    # A record whose date cannot be read sorts last, so it never holds back the ones after it.
    return parse_record_time(_dig(record, field)) or _FAR_FUTURE
