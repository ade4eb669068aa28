"""The connector against the simulated store over real HTTP: paging, ties, rate limits,
faults, authentication, OAuth, and the store's control API."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bcpoller.config.catalog import CATALOG
from bcpoller.connector.client import BigCommerceClient, Page, parse_record_time
from bcpoller.connector.credentials import StoreCredentials, credentials_from_config, exchange_oauth_code
from bcpoller.connector.errors import AuthenticationError, DeadlineExceeded

from local.store import SimulatedStore
from tests.unit.connector.fakes import request

GATEWAY = "https://api.bigcommerce.com"
START = datetime(2026, 6, 1, 9, 0, 0, tzinfo=UTC)  # after every seeded record


@pytest.fixture
def store() -> Iterator[SimulatedStore]:
    with SimulatedStore(seed=11, records_per_resource=25) as sim:
        yield sim


def token(store: SimulatedStore, secret: str | None = None) -> StoreCredentials:
    cfg = {"store.hash": store.store_hash, "access.token": secret or store.token, "store.url": store.api_url}
    return credentials_from_config(cfg, api_base_url=GATEWAY)


def basic(store: SimulatedStore, password: str | None = None) -> StoreCredentials:
    cfg = {"username": store.username, "password": password or store.password, "store.url": store.legacy_url}
    return credentials_from_config(cfg, api_base_url=GATEWAY)


def fast_client(creds: StoreCredentials, **kw: Any) -> BigCommerceClient:
    kw.setdefault("backoff_initial", 0.01)
    kw.setdefault("backoff_max", 0.05)
    return BigCommerceClient(creds, **kw)


def ids_of(pages: list[Page]) -> list[Any]:
    return [r["id"] for p in pages for r in p.records]


def times_of(pages: list[Page], field: str) -> list[datetime]:
    return [parse_record_time(r[field]) or datetime.max for p in pages for r in p.records]


@pytest.mark.parametrize("name", list(CATALOG))
def test_pages_through_1100_records_in_order(store: SimulatedStore, name: str) -> None:
    entry = CATALOG[name]
    # Seven changes share each second, so page boundaries (every 250) fall inside ties.
    new_ids = store.bulk(name, 1100, start=START, per_second=7)
    with BigCommerceClient(token(store)) as client:
        pages = list(client.iter_pages(request(name, lower=START if entry.filter_param else None)))
    read = ids_of(pages)
    expected = set(new_ids) if entry.filter_param else set(new_ids) | set(range(min(read), min(read) + 25))
    assert len(read) == len(set(read)) == len(expected)
    assert set(read) == expected
    assert pages[-1].is_last and not any(p.is_last for p in pages[:-1])
    assert client.requests_made == math.ceil(len(expected) / 250)
    if entry.updated_field:
        stamps = times_of(pages, entry.updated_field)
        assert stamps == sorted(stamps)


def test_ties_in_one_second_across_page_boundaries(store: SimulatedStore) -> None:
    new_ids = store.bulk("orders", 620, start=START)  # all in the same second
    with BigCommerceClient(token(store)) as client:
        pages = list(client.iter_pages(request("orders", lower=START)))
    assert [len(p.records) for p in pages] == [250, 250, 120]
    assert sorted(ids_of(pages)) == sorted(new_ids)
    assert client.requests_made == 3


@pytest.mark.parametrize("name", ["orders", "products", "customers"])
def test_changes_during_the_read_hide_no_record(store: SimulatedStore, name: str) -> None:
    """Records already read change while later pages are read: each moves to the end of
    the result, and no record behind it may slide out of reach."""
    new_ids = store.bulk(name, 700, start=START, per_second=1)
    read: list[Any] = []
    with BigCommerceClient(token(store)) as client:
        for page in client.iter_pages(request(name, lower=START)):
            read.extend(r["id"] for r in page.records)
            if page.page_number <= 2:
                for record_id in read[:5]:
                    store.update(name, record_id, {})
    assert set(new_ids) <= set(read)
    # The 5 records changed twice within the store's current second: one more read each.
    assert len(read) == len(new_ids) + 5


def test_the_lower_bound_is_inclusive_at_second_granularity(store: SimulatedStore) -> None:
    before = store.create("products", {"date_modified": START - timedelta(seconds=1)})
    at = store.create("products", {"date_modified": START})
    after = store.create("products", {"date_modified": START + timedelta(seconds=1)})
    with BigCommerceClient(token(store)) as client:
        read = ids_of(list(client.iter_pages(request("products", lower=START + timedelta(microseconds=900)))))
    assert read == [at["id"], after["id"]] and before["id"] not in read


def test_quota_exhaustion_never_exceeds_the_window(store: SimulatedStore) -> None:
    store.set_faults(quota=6, window_ms=250)
    store.bulk("customers", 300, start=START)
    with BigCommerceClient(token(store)) as client:
        pages = list(client.iter_pages(request("customers", lower=START), page_size=10))
        waits = client.governor.waits
    stats = store.stats()
    assert len(ids_of(pages)) == 300
    assert stats["throttled_429"] == 0, "the governor must wait instead of drawing 429s"
    assert stats["max_requests_in_window"] <= 6
    assert waits >= 5  # 30 requests at most 5 per window


def test_a_429_burst_is_waited_out(store: SimulatedStore) -> None:
    store.set_faults(window_ms=100, burst_429=3)
    store.bulk("orders", 260, start=START)
    with BigCommerceClient(token(store)) as client:
        pages = list(client.iter_pages(request("orders", lower=START)))
    assert len(ids_of(pages)) == 260
    assert store.stats()["throttled_429"] == 3
    assert client.requests_made == 2 + 3


def test_5xx_is_retried(store: SimulatedStore) -> None:
    store.set_faults(error_rate=1.0, status=503, count=2)
    store.bulk("products", 300, start=START)
    with fast_client(token(store)) as client:
        pages = list(client.iter_pages(request("products", lower=START)))
    assert len(ids_of(pages)) == 300
    assert store.stats()["errors_injected"] == 2
    assert client.requests_made == 2 + 2


def test_timeouts_are_retried(store: SimulatedStore) -> None:
    store.set_faults(latency_ms=600, count=1)
    with fast_client(token(store), timeout=httpx.Timeout(0.2, connect=1.0)) as client:
        when = client.store_time()
    assert abs((when - datetime.now(UTC)).total_seconds()) < 5
    assert client.requests_made == 2


def test_a_slow_store_past_the_deadline_stops_the_read(store: SimulatedStore) -> None:
    store.set_faults(error_rate=1.0, status=500, count=100)
    client = BigCommerceClient(token(store), deadline=time.monotonic() + 0.5, backoff_initial=0.2)
    started = time.monotonic()
    with client, pytest.raises(DeadlineExceeded):
        list(client.iter_pages(request("orders")))
    # Without the deadline, 100 failures with backoff take tens of seconds.
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize("mode", ["token", "basic"])
def test_401_is_surfaced_without_the_secret(store: SimulatedStore, mode: str) -> None:
    creds = token(store, "wrong-token-xyz") if mode == "token" else basic(store, "wrong-password-xyz")
    with BigCommerceClient(creds) as client, pytest.raises(AuthenticationError) as info:
        client.check_credentials()
    assert info.value.status == 401 and "Unauthorized" in str(info.value)
    assert "wrong-" not in str(info.value)
    assert client.requests_made == 1


@pytest.mark.parametrize("name", ["orders", "products"])
def test_a_store_repeating_pages_does_not_hang(store: SimulatedStore, name: str) -> None:
    store.set_faults(repeat_pages=True, count=1000)
    store.bulk(name, 600, start=START)
    with BigCommerceClient(token(store)) as client:
        pages = list(client.iter_pages(request(name, lower=START)))
    assert client.requests_made == 2
    assert len(ids_of(pages)) == 250 and pages[-1].is_last


def test_check_credentials_in_both_modes(store: SimulatedStore) -> None:
    for creds in (token(store), basic(store)):
        with BigCommerceClient(creds) as client:
            client.check_credentials()
        assert client.requests_made == 2


def test_store_clock_with_skew(store: SimulatedStore) -> None:
    store.set_clock_skew(3600)
    with BigCommerceClient(token(store)) as client:
        skewed = client.store_time()
    assert 3590 < (skewed - datetime.now(UTC)).total_seconds() < 3610


def test_oauth_install_code_exchange(store: SimulatedStore) -> None:
    fields = {
        "login_base_url": store.url,
        "client_id": store.client_id,
        "client_secret": store.client_secret,
        "redirect_uri": "https://app.example/auth",
        "code": "install-code-1",
        "scope": "store_v2_orders_read_only",
        "context": f"stores/{store.store_hash}",
    }
    with httpx.Client() as http:
        grant = exchange_oauth_code(http, **fields)
        assert grant.access_token == store.token and grant.store_hash == store.store_hash
        with pytest.raises(AuthenticationError, match="already used"):
            exchange_oauth_code(http, **fields)
        with pytest.raises(AuthenticationError, match=r"client_secret is wrong"):
            exchange_oauth_code(http, **{**fields, "code": "c2", "client_secret": "nope"})
    creds = credentials_from_config(
        {
            "store.hash": grant.store_hash,
            "oauth.access.token": grant.access_token,
            "store.url": store.api_url,
        },
        api_base_url=GATEWAY,
    )
    with BigCommerceClient(creds) as client:
        client.check_credentials()


def test_v3_date_without_time_gets_the_current_time_of_day() -> None:
    fixed = datetime(2026, 6, 1, 15, 30, 0, tzinfo=UTC)
    with SimulatedStore(seed=1, clock=lambda: fixed) as sim:
        morning = sim.create("products", {"date_modified": "2026-06-01T09:00:00Z"})
        now = sim.create("products", {})
        with httpx.Client(base_url=sim.api_url, headers={"X-Auth-Token": sim.token}) as http:
            body = http.get("/v3/catalog/products", params={"date_modified:min": "2026-06-01"}).json()
            full = http.get(
                "/v3/catalog/products", params={"date_modified:min": "2026-06-01T00:00:00Z"}
            ).json()
    assert [r["id"] for r in body["data"]] == [now["id"]]
    assert {morning["id"], now["id"]} <= {r["id"] for r in full["data"]}


def test_limit_above_250_is_refused(store: SimulatedStore) -> None:
    with httpx.Client(base_url=store.api_url, headers={"X-Auth-Token": store.token}) as http:
        v3 = http.get("/v3/catalog/products", params={"limit": "251"})
        v2 = http.get("/v2/orders", params={"limit": "251"})
        bad_date = http.get("/v3/customers", params={"date_modified:min": "yesterday"})
    assert v3.status_code == 422 and "limit" in v3.json()["title"]
    assert v2.status_code == 422
    assert bad_date.status_code == 422 and "date_modified:min" in bad_date.json()["title"]


def test_rate_limit_headers_on_every_answer(store: SimulatedStore) -> None:
    with httpx.Client(base_url=store.api_url, headers={"X-Auth-Token": store.token}) as http:
        first = http.get("/v2/time")
        second = http.get("/v2/time")
    assert first.headers["X-Rate-Limit-Requests-Quota"] == "150"
    assert first.headers["X-Rate-Limit-Time-Window-Ms"] == "30000"
    assert (
        int(first.headers["X-Rate-Limit-Requests-Left"])
        == int(second.headers["X-Rate-Limit-Requests-Left"]) + 1
    )
    assert 0 < int(second.headers["X-Rate-Limit-Time-Reset-Ms"]) <= 30000


def test_control_api_over_http(store: SimulatedStore) -> None:
    with httpx.Client(base_url=store.url) as http:
        made = http.post("/_admin/orders", json={"customer_id": 7}).json()
        assert made["customer_id"] == 7 and made["billing_address"]["email"] and made["date_modified"]
        updated = http.put(f"/_admin/orders/{made['id']}", json={"status_id": 2}).json()
        assert updated["status_id"] == 2
        assert http.delete(f"/_admin/orders/{made['id']}").status_code == 204
        assert http.delete(f"/_admin/orders/{made['id']}").status_code == 404
        bulk = http.post("/_admin/products/bulk", json={"count": 3}).json()
        assert len(bulk["ids"]) == 3
        changes = http.get("/_admin/changes").json()
        assert [(c["resource"], c["operation"]) for c in changes] == [
            ("orders", "CREATED"),
            ("orders", "UPDATED"),
            ("orders", "DELETED"),
            ("products", "CREATED"),
            ("products", "CREATED"),
            ("products", "CREATED"),
        ]
        assert all(c["date_modified"].endswith("Z") for c in changes)
        future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert http.get("/_admin/changes", params={"since": future}).json() == []
        refused = http.post("/_admin/faults", json={"bogus": 1})
        assert refused.status_code == 422 and "bogus" in refused.json()["title"]
        # A form body is refused, not read as strings (it once set nothing, silently).
        form = http.post("/_admin/faults", data={"quota": "3"})
        assert form.status_code == 415 and "JSON" in form.json()["title"]
        assert http.post("/_admin/faults", json=[1]).status_code == 422
        assert http.post("/_admin/faults", json={"quota": 3}).json()["quota"] == 3
        assert http.post("/_admin/widgets", json={}).status_code == 404
        stats = http.get("/_admin/stats").json()
        assert stats["quota"] == 3 and "throttled_429" in stats
        assert http.post("/_admin/reset").status_code == 200
        assert http.get("/_admin/changes").json() == []
        assert http.get("/_admin/stats").json()["quota"] == 150


def test_same_seed_same_store() -> None:
    with SimulatedStore(seed=5) as one, SimulatedStore(seed=5) as two, SimulatedStore(seed=6) as other:

        def orders(sim: SimulatedStore) -> list[Any]:
            with httpx.Client(base_url=sim.api_url, headers={"X-Auth-Token": sim.token}) as http:
                return list(http.get("/v2/orders", params={"limit": "250"}).json())

        assert orders(one) == orders(two) != orders(other)
