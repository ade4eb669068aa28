"""Contract: the connector's requests and the simulated store's bodies against BigCommerce's
published OpenAPI files (``../shared/bigcommerce-openapi``).

Every request the connector sends, for every catalog resource and both auth modes, is
checked against the operation's parameters (token mode: security too); every body the
store returns is checked against the operation's 200 response schema. Endpoints the
published files do not describe (``/v2/time`` and the legacy v2 twins of v3 resources)
are listed explicitly, so a new undocumented call fails the test instead of slipping by.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from bcpoller.config.catalog import CATALOG
from bcpoller.config.hub import NativeRequest, to_native_request
from bcpoller.connector.client import BigCommerceClient
from bcpoller.connector.credentials import StoreCredentials, credentials_from_config
from bcpoller.connector.errors import CredentialsError
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.validators import V30RequestParametersValidator, V30RequestValidator

from local.store import SimulatedStore

SPEC_FILES = {
    "/v2/orders": "orders.v2.oas2.yml",
    "/v3/catalog/products": "products_catalog.v3.yml",
    "/v3/customers": "customers.v3.yml",
    "/v3/customers/subscribers": "subscribers.v3.yml",
    "/v3/pricelists": "price_lists.v3.yml",
    "/v3/catalog/categories": "categories_catalog.v3.yml",
    "/v3/catalog/brands": "brands_catalog.v3.yml",
}
# Real BigCommerce endpoints that the published files leave out.
UNDOCUMENTED = {"/v2/time", "/v2/products", "/v2/customers", "/v2/categories", "/v2/brands"}
GATEWAY = "https://api.bigcommerce.com"
SINCE = datetime(2025, 10, 1, tzinfo=UTC)


def _load(path: Path) -> OpenAPI:
    data = yaml.safe_load(path.read_text())
    if path.name == "subscribers.v3.yml":
        # The published file marks `id` as a required query parameter of the *list*
        # operation, which contradicts its own description and BigCommerce's behaviour
        # (the list works without it). Relax exactly that flag; everything else is checked.
        param = data["components"]["parameters"]["IdParam"]
        assert (param["name"], param["in"], param["required"]) == ("id", "query", True)
        param["required"] = False
    return OpenAPI.from_dict(data, base_uri=path.as_uri())


@pytest.fixture(scope="module")
def specs(shared_dir: Path) -> dict[str, OpenAPI]:
    folder = shared_dir / "bigcommerce-openapi"
    return {path: _load(folder / name) for path, name in SPEC_FILES.items()}


class Recorder(httpx.BaseTransport):
    """Real HTTP, with every exchange kept for validation."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.exchanges.append((request, response))
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def store() -> Iterator[SimulatedStore]:
    with SimulatedStore(seed=7, records_per_resource=30) as sim:
        # Records made through the control API from partial bodies must be just as valid.
        for name in ("orders", "products", "customers", "subscribers", "pricelists", "categories", "brands"):
            sim.create(name, {})
        sim.create("products", {"name": "Partial Mug", "price": 12.5})
        sim.create("customers", {"email": "partial@example.com", "first_name": "Par"})
        yield sim


def _creds(store: SimulatedStore, mode: str) -> StoreCredentials:
    if mode == "token":
        cfg = {"store.hash": store.store_hash, "access.token": store.token, "store.url": store.api_url}
    else:
        cfg = {"username": store.username, "password": store.password, "store.url": store.legacy_url}
    return credentials_from_config(cfg, api_base_url=GATEWAY)


def _native(name: str, legacy: bool) -> NativeRequest:
    entry = CATALOG[name]
    url = entry.default_poller()["url"]
    url = url.replace("${date:EEE, dd MMM yyyy HH:mm:ss Z}", "Wed, 01 Oct 2025 00:00:00 +0000")
    url = url.replace("${date:yyyy-MM-dd'T'HH:mm:ss'Z'}", "2025-10-01T00:00:00Z")
    return to_native_request(url, legacy=legacy)


def _spec_path(request: httpx.Request, store: SimulatedStore) -> str:
    path = request.url.path
    for prefix in (f"/stores/{store.store_hash}", "/api"):
        if path.startswith(prefix + "/v"):
            return path[len(prefix) :]
    raise AssertionError(f"unexpected path {path}")


def _as_openapi(request: httpx.Request, rest: str, store: SimulatedStore) -> MockRequest:
    return MockRequest(
        GATEWAY,
        request.method,
        f"/stores/{store.store_hash}{rest}",
        args=dict(request.url.params.multi_items()),
        headers=dict(request.headers),
    )


def _check(
    specs: dict[str, OpenAPI],
    store: SimulatedStore,
    exchanges: list[tuple[httpx.Request, httpx.Response]],
    mode: str,
) -> tuple[int, set[str]]:
    validated, undocumented = 0, set()
    for request, response in exchanges:
        rest = _spec_path(request, store)
        if rest in UNDOCUMENTED:
            undocumented.add(rest)
            assert response.status_code in (200, 204), response.text
            continue
        api = specs[rest]
        openapi_request = _as_openapi(request, rest, store)
        # Legacy basic auth is not in the gateway's security schemes: check its parameters.
        validator = V30RequestValidator if mode == "token" else V30RequestParametersValidator
        validator(api.spec).validate(openapi_request)
        if response.status_code == 204:
            # v2's documented "no more records" answer has no body to validate.
            assert response.content == b""
        else:
            assert response.status_code == 200, response.text
            api.validate_response(
                openapi_request,
                MockResponse(
                    response.content, response.status_code, dict(response.headers), "application/json"
                ),
            )
        validated += 1
    return validated, undocumented


@pytest.mark.parametrize("mode", ["token", "basic"])
@pytest.mark.parametrize("name", list(CATALOG))
def test_every_request_and_body_matches_the_spec(
    specs: dict[str, OpenAPI], store: SimulatedStore, name: str, mode: str
) -> None:
    entry = CATALOG[name]
    legacy = mode == "basic"
    recorder = Recorder()
    if legacy and entry.api == "v3" and entry.legacy_v2_path is None:
        # v3-only with legacy credentials: a clear error naming the missing credential,
        # and not one request sent.
        client = BigCommerceClient(_creds(store, mode), transport=recorder)
        with client, pytest.raises(CredentialsError, match=r"access\.token"):
            list(client.iter_pages(_native(name, legacy=False)))
        assert recorder.exchanges == []
        return
    with BigCommerceClient(_creds(store, mode), transport=recorder) as client:
        client.store_time()
        pages = list(client.iter_pages(_native(name, legacy), page_size=10))
    assert sum(len(p.records) for p in pages) > 10, "the read should span several pages"
    validated, undocumented = _check(specs, store, recorder.exchanges, mode)
    expected_undocumented = {"/v2/time"} | ({entry.legacy_v2_path} if legacy and entry.api == "v3" else set())
    assert undocumented == expected_undocumented
    if not (legacy and entry.api == "v3"):
        assert validated == len(pages)


def test_the_validator_is_not_vacuous(specs: dict[str, OpenAPI], store: SimulatedStore) -> None:
    """A request past the spec's limit, and a body with a wrong type, are both refused."""
    api = specs["/v3/catalog/products"]
    path = f"/stores/{store.store_hash}/v3/catalog/products"
    too_big = MockRequest(
        GATEWAY, "get", path, args={"limit": "251"}, headers={"X-Auth-Token": "t", "Accept": "a"}
    )
    with pytest.raises(OpenAPIError, match=r"limit"):
        V30RequestValidator(api.spec).validate(too_big)
    fine = MockRequest(
        GATEWAY, "get", path, args={"limit": "250"}, headers={"X-Auth-Token": "t", "Accept": "a"}
    )
    V30RequestValidator(api.spec).validate(fine)
    bad_body: dict[str, Any] = {"data": [{"id": 1, "name": "x", "price": "abc"}], "meta": {}}
    with pytest.raises(OpenAPIError, match=r"abc"):
        api.validate_response(fine, MockResponse(httpx.Response(200, json=bad_body).content))


ID_PARAMS = {"min_id", "max_id", "id:min", "id:max", "id:greater", "id:less", "after", "before"}
# What each id filter keeps, given the value it names.
ID_SEMANTICS = {
    "min_id": lambda i, n: i >= n,
    "id:min": lambda i, n: i >= n,
    "max_id": lambda i, n: i <= n,
    "id:max": lambda i, n: i <= n,
    "id:greater": lambda i, n: i > n,
    "id:less": lambda i, n: i < n,
}


def _declared_id_params(shared_dir: Path, rest: str) -> set[str]:
    doc = yaml.safe_load((shared_dir / "bigcommerce-openapi" / SPEC_FILES[rest]).read_text())
    item = doc["paths"][rest.removeprefix(rest[:3])]

    def resolve(node: Any) -> Any:
        while "$ref" in node:
            target: Any = doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    params = [resolve(p) for p in [*item.get("parameters", []), *item["get"].get("parameters", [])]]
    return {p["name"] for p in params if p["in"] == "query"} & ID_PARAMS


def _ids(store: SimulatedStore, spec: Any, params: dict[str, str]) -> tuple[int, list[int], dict[str, Any]]:
    response = httpx.get(
        f"{store.api_url}{spec.path}", params=params, headers={"X-Auth-Token": store.token}, timeout=10
    )
    if response.status_code == 204:
        return 204, [], {}
    body = response.json()
    records = body if isinstance(body, list) else body.get("data", [])
    return response.status_code, [int(r["id"]) for r in records], body if isinstance(body, dict) else {}


@pytest.mark.parametrize("rest", sorted(SPEC_FILES))
def test_the_store_takes_exactly_the_id_filters_each_spec_declares(
    shared_dir: Path, store: SimulatedStore, rest: str
) -> None:
    """Each list endpoint of the simulated store honours the id filters and cursor
    pagination its operation in the published spec declares, no more and no less, with
    the meaning the spec gives them (min/max inclusive, greater/less exclusive, after =
    the records following the cursor's, in id order)."""
    from local.store.data import RESOURCES
    from local.store.server import encode_cursor

    spec = next(s for s in RESOURCES.values() if s.path == rest)
    offered = {p for p in spec.id_filters if p} | ({"after", "before"} if spec.cursor_pages else set())
    assert offered == _declared_id_params(shared_dir, rest)
    status, every, _ = _ids(store, spec, {"limit": "250"})
    assert status == 200 and len(every) > 20
    pivot = sorted(every)[len(every) // 2]
    for name in offered - {"after", "before"}:
        status, kept, _ = _ids(store, spec, {"limit": "250", name: str(pivot)})
        assert status == 200, name
        assert sorted(kept) == sorted(i for i in every if ID_SEMANTICS[name](i, pivot)), name
    for name in ID_PARAMS - offered - {"after", "before"}:
        # An undeclared filter is ignored, as BigCommerce ignores unknown parameters.
        assert sorted(_ids(store, spec, {"limit": "250", name: str(pivot)})[1]) == sorted(every), name
    if spec.cursor_pages:
        status, first, body = _ids(store, spec, {"limit": "7"})
        assert "pagination" in body["meta"] and "cursor_pagination" in body["meta"]
        end = body["meta"]["cursor_pagination"]["end_cursor"]
        status, after, body = _ids(store, spec, {"limit": "7", "after": end})
        assert set(body["meta"]) == {"cursor_pagination"}  # only cursor_pagination with after
        assert after == sorted(i for i in every if i > first[-1])[:7]
        status, before, _ = _ids(store, spec, {"limit": "250", "before": encode_cursor(pivot)})
        assert before == sorted(i for i in every if i < pivot)
        bad = httpx.get(
            f"{store.api_url}{spec.path}",
            params={"after": "not-a-cursor"},
            headers={"X-Auth-Token": store.token},
        )
        assert bad.status_code == 422 and "after" in bad.json()["title"]
    else:
        # No cursor pagination: an after parameter changes nothing.
        assert sorted(_ids(store, spec, {"limit": "250", "after": encode_cursor(pivot)})[1]) == sorted(every)
    for name in offered - {"after", "before"}:
        bad = httpx.get(
            f"{store.api_url}{spec.path}",
            params={name: "x1"},
            headers={"X-Auth-Token": store.token},
            timeout=10,
        )
        assert bad.status_code in (400, 422) and name in bad.text


@pytest.mark.parametrize("name", [n for n, e in CATALOG.items() if e.keyset])
def test_id_paged_reads_match_the_spec(specs: dict[str, OpenAPI], store: SimulatedStore, name: str) -> None:
    """Every request of an id-paged read (first page, min_id / id:greater / after for the
    next ones) and every body the store answers validate against the spec; the read
    returns each record once, in id order, the same records an offset read returns."""
    entry = CATALOG[name]
    recorder = Recorder()
    with BigCommerceClient(_creds(store, "token"), transport=recorder) as client:
        request = _native(name, legacy=False)
        pages = list(client.iter_keyset_pages(request, page_size=10))
        offset = [r for p in client.iter_pages(request, page_size=10) for r in p.records]
    ids = [int(r["id"]) for p in pages for r in p.records]
    assert len(pages) >= 3 and pages[-1].is_last and not any(p.is_last for p in pages[:-1])
    assert ids == sorted(set(ids)), "id order, each record once"
    assert set(ids) == {int(r["id"]) for r in offset}
    keyset_exchanges = recorder.exchanges[: len(pages)]
    assert all(entry.keyset not in r.url.params for r, _ in keyset_exchanges[:1])
    assert all(entry.keyset in r.url.params for r, _ in keyset_exchanges[1:])
    validated, undocumented = _check(specs, store, keyset_exchanges, "token")
    assert validated == len(pages) and not undocumented


SWEEPABLE = [n for n, e in CATALOG.items() if e.keyset and e.has_date_filter]


@pytest.mark.parametrize("name", SWEEPABLE)
def test_deletion_sweep_listings_match_the_spec(
    specs: dict[str, OpenAPI], store: SimulatedStore, name: str
) -> None:
    """The deletion sweep's listing (the whole resource in id order, ``include_fields``
    where the operation has it) is a request the spec accepts, answered with bodies it
    accepts, and it lists every record once."""
    from bcpoller.poll.plan import plan_resources

    entry = CATALOG[name]
    configuration = {
        "store.hash": store.store_hash,
        "access.token": store.token,
        "event.poller.configuration": {name: {**entry.default_poller(), "deletions": {"everyMinutes": 60}}},
    }
    plan = plan_resources(configuration).resources[0]
    assert plan.build_sweep_request is not None
    request = plan.build_sweep_request()
    recorder = Recorder()
    with BigCommerceClient(_creds(store, "token"), transport=recorder) as client:
        pages = list(client.iter_keyset_pages(request, page_size=10))
    ids = [int(r["id"]) for p in pages for r in p.records]
    assert len(pages) >= 3 and ids == sorted(set(ids)) and len(ids) == store.count(name)
    if entry.sweep_fields:
        first = recorder.exchanges[0][0]
        assert first.url.params["include_fields"] == entry.sweep_fields
        assert all(set(r) == {"id", entry.sweep_fields} for p in pages for r in p.records)
    validated, undocumented = _check(specs, store, recorder.exchanges, "token")
    assert validated == len(pages) and not undocumented
