"""Paging, retries and errors of the client against scripted responses (no network)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bcpoller.connector import client as client_module
from bcpoller.connector.client import BigCommerceClient, parse_record_time
from bcpoller.connector.errors import (
    AuthenticationError,
    CredentialsError,
    DeadlineExceeded,
    RateLimited,
    StoreError,
)

from .fakes import BASIC, TOKEN, FakeClock, request

Handler = Callable[[httpx.Request], httpx.Response]


def make(
    handler: Handler, creds: Any = TOKEN, clock: FakeClock | None = None, **kw: Any
) -> BigCommerceClient:
    clock = clock or FakeClock()
    return BigCommerceClient(
        creds, transport=httpx.MockTransport(handler), sleep=clock.sleep, clock=clock, **kw
    )


def v2_order(i: int) -> dict[str, Any]:
    return {"id": i, "date_modified": f"Sun, 01 Mar 2026 12:{i // 60 % 60:02d}:{i % 60:02d} +0000"}


def v3_page(ids: list[int], page: int, total_pages: int, limit: int) -> dict[str, Any]:
    links = {"current": f"?page={page}&limit={limit}"}
    if page < total_pages:
        links["next"] = f"?page={page + 1}&limit={limit}"
    return {
        "data": [{"id": i, "date_modified": f"2026-03-01T12:00:{i % 60:02d}+00:00"} for i in ids],
        "meta": {"pagination": {"total_pages": total_pages, "current_page": page, "links": links}},
    }


def filtered_store(records: list[dict[str, Any]], api: str, bound: str, seen: list[httpx.Request]) -> Handler:
    """A scripted store that honours the lower bound and pages like BigCommerce."""

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        page, limit = int(req.url.params["page"]), int(req.url.params["limit"])
        low = parse_record_time(req.url.params[bound])
        assert low is not None
        rows = [r for r in records if (parse_record_time(r["date_modified"]) or low) >= low]
        chunk = rows[(page - 1) * limit : page * limit]
        if api == "v2":
            return httpx.Response(200, json=chunk) if chunk else httpx.Response(204)
        total_pages = (len(rows) + limit - 1) // limit
        body = v3_page([], page, total_pages, limit)
        body["data"] = chunk
        return httpx.Response(200, json=body)

    return handler


def test_v2_pages_until_a_short_page() -> None:
    records = [v2_order(i) for i in range(1, 8)]  # 7 records, one a second
    seen: list[httpx.Request] = []
    with make(filtered_store(records, "v2", "min_date_modified", seen)) as client:
        pages = list(client.iter_pages(request("orders"), page_size=3))
    assert [r["id"] for p in pages for r in p.records] == list(range(1, 8))
    assert [p.is_last for p in pages] == [False] * (len(pages) - 1) + [True]
    first = seen[0].url.params
    assert first["sort"] == "date_modified"
    assert first["min_date_modified"] == "Sun, 01 Mar 2026 12:00:00 +0000"
    assert seen[0].headers["X-Auth-Token"] == "tok-secret" and seen[0].headers["Accept"] == "application/json"
    # Each next page is asked for from the last record's second, page 1 again.
    assert [(r.url.params["min_date_modified"][-14:-6], r.url.params["page"]) for r in seen] == [
        ("12:00:00", "1"),
        ("12:00:03", "1"),
        ("12:00:05", "1"),
        ("12:00:07", "1"),
    ]
    assert client.requests_made == 4


def test_v2_empty_answer_is_a_204_and_ends_the_read() -> None:
    seen: list[httpx.Request] = []
    with make(filtered_store([], "v2", "min_date_modified", seen)) as client:
        pages = list(client.iter_pages(request("orders"), page_size=3))
    assert [(p.records, p.is_last) for p in pages] == [([], True)]
    assert client.requests_made == 1


def test_v3_pages_by_meta_pagination() -> None:
    records = [{"id": i, "date_modified": f"2026-03-01T12:00:{i:02d}+00:00"} for i in range(1, 6)]
    seen: list[httpx.Request] = []
    with make(filtered_store(records, "v3", "date_modified:min", seen)) as client:
        pages = list(client.iter_pages(request("products"), page_size=2))
    assert [r["id"] for p in pages for r in p.records] == [1, 2, 3, 4, 5]
    assert pages[-1].is_last
    assert seen[0].url.params["direction"] == "asc"
    assert [r.url.params["date_modified:min"] for r in seen] == [
        "2026-03-01T12:00:00Z",
        "2026-03-01T12:00:02Z",
        "2026-03-01T12:00:03Z",
        "2026-03-01T12:00:04Z",
    ]


def test_a_change_during_the_read_does_not_hide_a_record() -> None:
    """Record 2 changes after page 1 is read; with plain page numbers record 4 would slide
    into page 1's place and never be read."""
    records = [v2_order(i) for i in range(1, 7)]
    seen: list[httpx.Request] = []
    store = filtered_store(records, "v2", "min_date_modified", seen)

    def changing(req: httpx.Request) -> httpx.Response:
        if len(seen) == 1:
            moved = records.pop(1)
            records.append({**moved, "date_modified": "Sun, 01 Mar 2026 12:30:00 +0000"})
        return store(req)

    with make(changing) as client:
        pages = list(client.iter_pages(request("orders"), page_size=3))
    read = [r["id"] for p in pages for r in p.records]
    assert set(read) == {1, 2, 3, 4, 5, 6}
    assert read.count(2) == 2  # once as it was, once as changed: two changes, two events


def test_a_whole_page_in_one_second_steps_on_by_page_number() -> None:
    records = [{"id": i, "date_modified": "Sun, 01 Mar 2026 12:00:00 +0000"} for i in range(1, 8)]
    seen: list[httpx.Request] = []
    with make(filtered_store(records, "v2", "min_date_modified", seen)) as client:
        pages = list(client.iter_pages(request("orders"), page_size=3))
    assert [r["id"] for p in pages for r in p.records] == list(range(1, 8))
    assert [r.url.params["page"] for r in seen] == ["1", "2", "3"]


def test_never_more_pages_than_total_pages_announced() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        page = int(req.url.params["page"])
        # A store whose total keeps growing: each answer claims one more page.
        return httpx.Response(
            200, json=v3_page([page * 10, page * 10 + 1], page, total_pages=page + 1, limit=2)
        )

    with make(handler) as client:
        pages = list(client.iter_pages(request("categories"), page_size=2))
    assert len(pages) == 2 and client.requests_made == 2


def test_a_store_repeating_pages_does_not_hang(caplog: pytest.LogCaptureFixture) -> None:
    same = [{"id": i, "date_modified": "Sun, 01 Mar 2026 12:00:00 +0000"} for i in range(1, 4)]

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=same)  # every page is page 1

    with caplog.at_level(logging.WARNING), make(handler) as client:
        pages = list(client.iter_pages(request("orders"), page_size=3))
    assert client.requests_made == 2
    assert pages[0].records == same and pages[-1].records == [] and pages[-1].is_last
    assert "repeated a page" in caplog.text


def test_a_v2_store_with_endless_new_pages_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "MAX_PAGES", 5)
    served = iter(range(1, 10_000))

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[v2_order(next(served)) for _ in range(3)])

    with make(handler) as client:
        pages = list(client.iter_pages(request("orders"), page_size=3))
    # Five pages and no claim of the end: the poll counts the read as partial.
    assert len(pages) == 5 and not any(p.is_last for p in pages)


def test_5xx_and_timeouts_are_retried_with_growing_backoff() -> None:
    script: list[Any] = [503, httpx.ReadTimeout("slow"), 502, httpx.ConnectError("refused"), 200]

    def handler(req: httpx.Request) -> httpx.Response:
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step, json={"time": 1772366400} if step == 200 else {"title": "Bad gateway"})

    clock = FakeClock()
    with make(handler, clock=clock, backoff_initial=0.5) as client:
        when = client.store_time()
    assert when == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert client.requests_made == 5
    assert len(clock.sleeps) == 4
    # Exponential with jitter: each wait's floor doubles (0.5, 1, 2, 4) and jitter adds < 0.5.
    for attempt, slept in enumerate(clock.sleeps):
        assert 0.5 * 2**attempt <= slept <= 0.5 * 2**attempt + 0.5


def test_5xx_forever_gives_a_store_error_after_the_attempts() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"title": "Internal error"})

    with make(handler, max_attempts=3) as client, pytest.raises(StoreError) as info:
        client.store_time()
    assert info.value.status == 500 and "Internal error" in str(info.value)
    assert client.requests_made == 3


def test_retries_never_wait_past_the_deadline() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"title": "Unavailable"})

    clock = FakeClock()
    client = make(handler, clock=clock, deadline=clock.now + 2.0, backoff_initial=1.0)
    with client, pytest.raises(DeadlineExceeded):
        client.store_time()
    assert clock.now <= 1002.0
    assert client.requests_made == 2  # waited 1 s once; the next wait (2 s+) would pass the deadline


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_surface_at_once_without_the_secret(status: int) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"status": status, "title": "You don't have a valid API token"})

    with make(handler) as client, pytest.raises(AuthenticationError) as info:
        list(client.iter_pages(request("products")))
    assert client.requests_made == 1
    assert info.value.status == status and "valid API token" in str(info.value)
    assert "tok-secret" not in str(info.value) and "tok-secret" not in repr(info.value)


def test_other_4xx_carry_the_store_message() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"status": 422, "title": "limit: must be at most 250"})

    with make(handler) as client, pytest.raises(StoreError) as info:
        list(client.iter_pages(request("customers")))
    assert info.value.status == 422 and "at most 250" in str(info.value) and client.requests_made == 1


def test_429_waits_the_reset_then_retries() -> None:
    answers = [429, 429, 200]

    def handler(req: httpx.Request) -> httpx.Response:
        status = answers.pop(0)
        headers = {"X-Rate-Limit-Time-Reset-Ms": "1200", "X-Rate-Limit-Requests-Left": "0"}
        return httpx.Response(status, json={"time": 1772366400}, headers=headers)

    clock = FakeClock()
    with make(handler, clock=clock) as client:
        client.store_time()
    assert client.requests_made == 3
    assert client.throttled == 2  # the StoreThrottled metric
    assert all(1.2 <= s < 1.3 for s in clock.sleeps[:2])


def test_429_forever_is_rate_limited() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"X-Rate-Limit-Time-Reset-Ms": "10"})

    with make(handler, max_429_attempts=4) as client, pytest.raises(RateLimited):
        client.store_time()
    assert client.requests_made == 4


def test_resources_the_store_cannot_sort_are_sorted_here() -> None:
    rows = [
        {"id": 1, "date_modified": "2026-03-01T12:00:09Z"},
        {"id": 2, "date_modified": "2026-03-01T12:00:01Z"},
        {"id": 3, "date_modified": "2026-03-01T12:00:05Z"},
        {"id": 4, "date_modified": "2026-03-01T12:00:01Z"},
        {"id": 5, "date_modified": "2026-03-01T12:00:02Z"},
    ]

    def handler(req: httpx.Request) -> httpx.Response:
        assert "sort" not in req.url.params  # the spec has no sort for price lists
        page = int(req.url.params["page"])
        return httpx.Response(200, json={**v3_page([], page, 3, 2), "data": rows[(page - 1) * 2 : page * 2]})

    with make(handler) as client:
        pages = list(client.iter_pages(request("pricelists"), page_size=2))
    assert [[r["id"] for r in p.records] for p in pages] == [[2, 4], [5, 3], [1]]
    assert [p.is_last for p in pages] == [False, False, True]


def test_legacy_credentials_read_the_v2_twin_in_rfc2822() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(204)

    with make(handler, creds=BASIC) as client:
        list(client.iter_pages(request("products")))
    assert seen[0].url.path == "/api/v2/products"
    assert seen[0].url.params["min_date_modified"] == "Sun, 01 Mar 2026 12:00:00 +0000"
    assert seen[0].headers["Authorization"].startswith("Basic ")


def test_legacy_credentials_cannot_reach_v3_only_resources() -> None:
    with (
        make(lambda r: pytest.fail("no request"), creds=BASIC) as client,
        pytest.raises(CredentialsError) as info,
    ):
        list(client.iter_pages(request("subscribers")))
    assert info.value.problems[0][0] == "access.token" and "subscribers" in info.value.problems[0][1]


def test_check_credentials_reads_the_clock_and_one_order() -> None:
    paths: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        paths.append(f"{req.url.path}?{req.url.query.decode()}")
        return httpx.Response(200, json={"time": 1} if req.url.path.endswith("time") else [])

    with make(handler) as client:
        client.check_credentials()
    assert paths == ["/stores/h1/v2/time?", "/stores/h1/v2/orders?limit=1"]


def test_page_size_is_bounded() -> None:
    with make(lambda r: pytest.fail("no request")) as client, pytest.raises(ValueError, match="page_size"):
        list(client.iter_pages(request("orders"), page_size=251))


def test_store_time_comes_from_the_last_page_date_without_asking_v2_time() -> None:
    paths: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        paths.append(req.url.path)
        if req.url.path.endswith("/v2/time"):
            return httpx.Response(200, json={"time": 1772366400})
        return httpx.Response(
            200, json=v3_page([1], 1, 1, 250), headers={"Date": "Sun, 01 Mar 2026 12:05:07 GMT"}
        )

    with make(handler) as client:
        list(client.iter_pages(request("products")))
        when = client.store_time()
    assert when == datetime(2026, 3, 1, 12, 5, 7, tzinfo=UTC)
    assert not any(p.endswith("/v2/time") for p in paths) and client.requests_made == 1


def test_store_time_asks_v2_time_when_no_response_carried_a_date() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/v2/time"):
            return httpx.Response(200, json={"time": 1772366400})
        return httpx.Response(200, json=v3_page([1], 1, 1, 250))  # no Date header

    with make(handler) as client:
        list(client.iter_pages(request("products")))
        when = client.store_time()
    assert when == datetime(2026, 3, 1, 12, 0, tzinfo=UTC) and client.requests_made == 2


def test_one_tls_context_per_process() -> None:
    # Building a verifying context loads the CA bundle (~25 ms): never once per poll.
    first, second = BigCommerceClient(TOKEN), BigCommerceClient(TOKEN)
    try:
        contexts = [c._http._transport._pool._ssl_context for c in (first, second)]  # type: ignore[attr-defined]
        assert contexts[0] is contexts[1] is client_module.tls_context()
    finally:
        first.close()
        second.close()


def id_store(records: list[dict[str, Any]], seen: list[httpx.Request], *, api: str) -> Handler:
    """A scripted store paging by id the three ways BigCommerce does (min_id, id:greater, after)."""

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        params = req.url.params
        limit = int(params["limit"])
        rows = sorted(records, key=lambda r: r["id"])
        if "min_id" in params:
            rows = [r for r in rows if r["id"] >= int(params["min_id"])]
        if "id:greater" in params:
            rows = [r for r in rows if r["id"] > int(params["id:greater"])]
        if "after" in params:
            rows = [r for r in rows if r["id"] > int(params["after"].removeprefix("c"))]
        chunk = rows[:limit]
        if api == "v2":
            return httpx.Response(200, json=chunk) if chunk else httpx.Response(204)
        meta: dict[str, Any] = {"pagination": {"total_pages": (len(rows) + limit - 1) // limit}}
        if "after" in params or "page" not in params:
            links = {"next": "?after=x"} if len(rows) > limit else {}
            end = {"end_cursor": f"c{chunk[-1]['id']}"} if chunk else {}
            meta["cursor_pagination"] = {"count": len(chunk), "per_page": limit, "links": links, **end}
        return httpx.Response(200, json={"data": chunk, "meta": meta})

    return handler


@pytest.mark.parametrize(("name", "param", "first_next"), [
    ("orders", "min_id", "4"), ("products", "id:greater", "3"), ("customers", "after", "c3"),
])  # fmt: skip
def test_id_paging_sends_the_endpoints_own_parameter_and_resumes_after_a_token(
    name: str, param: str, first_next: str
) -> None:
    api = "v2" if name == "orders" else "v3"
    records = [
        {
            "id": i,
            "date_modified": "Sun, 01 Mar 2026 12:00:00 +0000" if api == "v2" else "2026-03-01T12:00:00Z",
        }
        for i in range(1, 8)
    ]
    seen: list[httpx.Request] = []
    with make(id_store(records, seen, api=api)) as client:
        pages = list(client.iter_keyset_pages(request(name), page_size=3))
        assert [r["id"] for p in pages for r in p.records] == list(range(1, 8))
        assert [p.is_last for p in pages] == [False, False, True]
        assert param not in seen[0].url.params and seen[1].url.params[param] == first_next
        # The date sort is replaced by id order; the lower bound stays.
        assert "date_modified" not in seen[0].url.params.get("sort", "")
        assert any(k.startswith(("min_date_modified", "date_modified:min")) for k in seen[0].url.params)
        seen.clear()
        resumed = list(client.iter_keyset_pages(request(name), page_size=3, after=pages[0].resume))
    assert [r["id"] for p in resumed for r in p.records] == [4, 5, 6, 7]
    assert seen[0].url.params[param] == first_next


def test_id_paging_that_does_not_move_is_an_error_not_an_end() -> None:
    """A store that answers the same full page again must not pass for one that was read
    to the end: the poll would record everything as read and lose the rest."""

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"id": 5, "date_modified": "Sun, 01 Mar 2026 12:00:00 +0000"}] * 3)

    with make(handler) as client, pytest.raises(StoreError, match="did not move"):
        list(client.iter_keyset_pages(request("orders"), page_size=3, after="5"))


def test_id_paging_stops_at_the_page_cap_without_claiming_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "MAX_PAGES", 3)
    records = [{"id": i, "date_modified": "Sun, 01 Mar 2026 12:00:00 +0000"} for i in range(1, 30)]
    with make(id_store(records, [], api="v2")) as client:
        pages = list(client.iter_keyset_pages(request("orders"), page_size=2))
    assert len(pages) == 3 and not any(p.is_last for p in pages) and pages[-1].resume == "6"


def test_id_paging_refuses_ids_that_are_not_numbers() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"id": "A-1"}, {"id": "A-2"}])

    with make(handler) as client, pytest.raises(StoreError, match="whole-number ids"):
        list(client.iter_keyset_pages(request("orders"), page_size=2))


def test_resources_without_id_paging_say_so() -> None:
    with (
        make(lambda req: httpx.Response(200, json={})) as client,
        pytest.raises(ValueError, match="subscribers"),
    ):
        list(client.iter_keyset_pages(request("subscribers")))
