"""Contract: every catalog resource's request validates against BigCommerce's published spec.

The native request (path, filter, sort, page, limit=250) of each resource is validated by
openapi-core against the operation in ``../shared/bigcommerce-openapi`` (types, enums,
formats, maximums); names are checked here too, because OpenAPI lets unknown query
parameters through. The record date formats the catalog assumes are checked against the
response schemas.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from bcpoller.config.catalog import CATALOG, CatalogEntry
from bcpoller.config.hub import NativeRequest, to_native_request
from bcpoller.config.macros import render_url
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest

SPEC_FILES = {
    "orders": "orders.v2.oas2.yml",
    "products": "products_catalog.v3.yml",
    "customers": "customers.v3.yml",
    "subscribers": "subscribers.v3.yml",
    "pricelists": "price_lists.v3.yml",
    "categories": "categories_catalog.v3.yml",
    "brands": "brands_catalog.v3.yml",
}
BOUND = datetime(2024, 11, 23, 14, 5, 9, 500000, tzinfo=UTC)
HOST = "https://api.bigcommerce.com"
# Known errors in the published files, undone before validating (each one named, not hidden):
# GET /customers/subscribers lists its `id` *filter* as required, which would make listing
# subscribers impossible; BigCommerce serves the list without it.
SPEC_ERRATA: dict[str, set[str]] = {"subscribers": {"id"}}
SEED_WHERE = "min_date_modified='${date:EE, dd MMM yyyy HH:mm:ss Z}'"


@pytest.fixture(scope="module")
def specs(shared_dir: Path) -> Path:
    folder = shared_dir / "bigcommerce-openapi"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: the published BigCommerce specs live outside the product")
    return folder


@cache
def _openapi(path: Path, name: str) -> OpenAPI:
    doc = yaml.safe_load(path.read_text())
    for param in doc["components"]["parameters"].values():
        if param.get("in") == "query" and param.get("name") in SPEC_ERRATA.get(name, set()):
            assert param.pop("required") is True  # the erratum is still there; drop it when fixed
    return OpenAPI.from_dict(doc)


@cache
def _document(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


Operation = tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]


def _operation(specs: Path, entry: CatalogEntry) -> Operation:
    """(document, GET operation, its query parameters by name) for the entry's list path."""
    doc = _document(specs / SPEC_FILES[entry.name])
    item = doc["paths"][entry.path.removeprefix(f"/{entry.api}")]
    params = [_resolve(doc, p) for p in [*item.get("parameters", []), *item["get"].get("parameters", [])]]
    return doc, item["get"], {p["name"]: p for p in params if p["in"] == "query"}


def _validate(specs: Path, request: NativeRequest, args: dict[str, str]) -> None:
    entry = request.entry
    mock = MockRequest(
        HOST,
        "get",
        f"/stores/abc123/{entry.api}{request.path.removeprefix(f'/{entry.api}')}",
        args=args,
        headers={"X-Auth-Token": "contract-test", "Accept": "application/json"},
    )
    _openapi(specs / SPEC_FILES[entry.name], entry.name).validate_request(mock)


def _check_names_enums_formats(specs: Path, entry: CatalogEntry, args: dict[str, str]) -> None:
    doc, _, declared = _operation(specs, entry)
    unknown = set(args) - set(declared)
    assert not unknown, f"{entry.name}: {sorted(unknown)} are not parameters of GET {entry.path}"
    for name, value in args.items():
        schema = _resolve(doc, declared[name].get("schema", {}))
        if "enum" in schema:
            assert value in schema["enum"], f"{entry.name}: {name}={value!r} is not one of {schema['enum']}"
        if schema.get("format") == "date-time":
            assert datetime.fromisoformat(value).tzinfo is not None, f"{name}={value!r} lacks an offset"
        if "maximum" in schema:
            assert float(value) <= schema["maximum"]


def _requests(entry: CatalogEntry) -> list[NativeRequest]:
    requests = [to_native_request(render_url(entry.default_poller()["url"], BOUND))]
    if entry.has_date_filter:
        url = f"{entry.hub_path}?where={SEED_WHERE}"
        requests.append(to_native_request(render_url(url, BOUND)))
    return requests


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_native_requests_validate_against_the_operation(specs: Path, name: str) -> None:
    entry = CATALOG[name]
    for request in _requests(entry):
        for page in (1, 2):
            args = request.page_params(page)
            assert args["limit"] == "250"
            _check_names_enums_formats(specs, entry, args)
            _validate(specs, request, args)


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_catalog_facts_match_the_spec(specs: Path, name: str) -> None:
    entry = CATALOG[name]
    _, _, declared = _operation(specs, entry)
    for param in entry.passthrough_params:
        assert param in declared, f"{name}: passthrough {param} is not a parameter of GET {entry.path}"
    if entry.filter_param:
        assert entry.filter_param in declared
    else:
        # "none for the resource itself": the list operation has no modified-date filter.
        assert not {"date_modified:min", "min_date_modified"} & set(declared)
    for key, value in entry.sort_params.items():
        assert key in declared
        schema = _resolve(_document(specs / SPEC_FILES[name]), declared[key]["schema"])
        assert value in schema.get("enum", [value])
    if entry.sort_params:
        assert any(entry.updated_field and entry.updated_field in v for v in entry.sort_params.values())
    if "direction" in entry.sort_params:
        assert entry.sort_params["direction"] == "asc"


def _find_property(doc: dict[str, Any], node: Any, name: str, seen: set[int]) -> dict[str, Any] | None:
    node = _resolve(doc, node)
    if not isinstance(node, dict) or id(node) in seen:
        return None
    seen.add(id(node))
    props = node.get("properties", {})
    if name in props:
        return _resolve(doc, props[name])
    combined = [*node.get("allOf", []), *node.get("oneOf", []), *node.get("anyOf", [])]
    children = [*props.values(), node.get("items"), *combined]
    for child in children:
        found = _find_property(doc, child, name, seen) if child is not None else None
        if found is not None:
            return found
    return None


@pytest.mark.parametrize("name", [n for n, e in CATALOG.items() if e.updated_field])
def test_record_date_formats_match_the_response_schema(specs: Path, name: str) -> None:
    entry = CATALOG[name]
    doc, operation, _ = _operation(specs, entry)
    response = _resolve(doc, operation["responses"]["200"])
    schema = response["content"]["application/json"]["schema"]
    for field in (entry.updated_field, entry.created_field):
        assert field is not None
        prop = _find_property(doc, schema, field, set())
        assert prop is not None, f"{name}: the 200 response has no {field}"
        if entry.record_date_format == "iso8601":
            assert prop.get("format") == "date-time", f"{name}.{field}: {prop}"
        else:
            assert "RFC-2822" in prop.get("description", ""), f"{name}.{field}: {prop}"


def test_orders_lower_bound_is_rfc2822_as_the_spec_describes(specs: Path) -> None:
    request = to_native_request(render_url(CATALOG["orders"].default_poller()["url"], BOUND))
    value = request.params["min_date_modified"]
    assert parsedate_to_datetime(value) == BOUND.replace(microsecond=0)
    _, _, declared = _operation(specs, CATALOG["orders"])
    assert "RFC-2822" in declared["min_date_modified"]["description"]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("customers", {"sort": "date_modified"}),  # customers' enum wants date_modified:asc
        ("orders", {"sort": "date_modified:asc"}),  # orders' enum lists bare names only
        ("products", {"limit": "251"}),
        ("subscribers", {"date_modified:min": "Sat, 23 Nov 2024 14:05:09 +0000"}),  # not date-time
        ("products", {"direction": "ascending"}),
    ],
)
def test_the_validator_refuses_what_the_spec_refuses(specs: Path, name: str, args: dict[str, str]) -> None:
    """The contract check is not vacuous: requests the spec forbids do fail it."""
    request = to_native_request(CATALOG[name].hub_path)
    with pytest.raises(OpenAPIError, match=r"(?i)parameter"):
        _validate(specs, request, args)


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_id_paging_matches_the_spec(specs: Path, name: str) -> None:
    """The catalog pages a resource by id only with a parameter its list operation
    declares; the id order it asks for is one the sort enum offers; a cursor-paginated
    endpoint documents ``meta.cursor_pagination.end_cursor``. A resource without id
    paging really has none of it (so keeping it on the fallback is not an oversight)."""
    entry = CATALOG[name]
    doc, operation, declared = _operation(specs, entry)
    id_paging = {"min_id", "id:greater", "after"} & set(declared)
    if entry.keyset is None:
        assert not id_paging, f"{name}: the spec offers {sorted(id_paging)}; page it by id"
        return
    assert entry.keyset in declared, f"{name}: {entry.keyset} is not a parameter of GET {entry.path}"
    assert declared[entry.keyset]["in"] == "query"
    for key, value in entry.keyset_sort.items():
        schema = _resolve(doc, declared[key]["schema"])
        assert value in schema.get("enum", [value]), f"{name}: {key}={value} is not in the spec's enum"
    if entry.keyset == "after":
        ok = _resolve(doc, operation["responses"]["200"])
        schema = ok["content"]["application/json"]["schema"]
        cursor = _find_property(doc, schema, "cursor_pagination", set())
        assert cursor is not None and _find_property(doc, cursor, "end_cursor", set()) is not None
    else:
        schema = _resolve(doc, declared[entry.keyset]["schema"])
        # brands spell it as a one-or-more list (form style): one id is a list of one.
        assert "integer" in (schema.get("type"), (schema.get("items") or {}).get("type"))


@pytest.mark.parametrize("name", [n for n, e in CATALOG.items() if e.keyset])
def test_id_paged_requests_validate_against_the_operation(specs: Path, name: str) -> None:
    """The requests an id-paged read sends (first page, then each next page) carry only
    declared parameters and validate against the operation."""
    from bcpoller.connector.client import _keyset_param

    entry = CATALOG[name]
    for request in _requests(entry):
        base = {k: v for k, v in request.params.items() if k not in entry.sort_params}
        base.update(entry.keyset_sort)
        token = "eyJpZCI6MjA0fQ" if entry.keyset == "after" else "204"
        for args in (
            {**base, "limit": "250"},
            {**base, "limit": "250", **_keyset_param(entry.keyset, token, "")},
        ):
            _check_names_enums_formats(specs, entry, args)
            _validate(specs, request, args)
