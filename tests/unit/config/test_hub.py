"""Hub URLs to BigCommerce requests, for every catalog resource."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bcpoller.config.catalog import CATALOG, get_entry
from bcpoller.config.errors import ConfigError
from bcpoller.config.hub import WhereClause, parse_hub_url, to_native_request
from bcpoller.config.macros import render_url

BOUND = datetime(2017, 4, 20, 11, 32, 0, 750000, tzinfo=UTC)
RFC = "Thu, 20 Apr 2017 11:32:00 +0000"
ISO = "2017-04-20T11:32:00Z"

# What BigCommerce documents for each resource (../shared/bigcommerce-openapi/README.md),
# written out independently of the catalog: path, filter parameter, filter value, sort.
EXPECTED: dict[str, tuple[str, str | None, str | None, dict[str, str]]] = {
    "orders": ("/v2/orders", "min_date_modified", RFC, {"sort": "date_modified"}),
    "products": (
        "/v3/catalog/products",
        "date_modified:min",
        ISO,
        {"sort": "date_modified", "direction": "asc"},
    ),
    "customers": ("/v3/customers", "date_modified:min", ISO, {"sort": "date_modified:asc"}),
    "subscribers": ("/v3/customers/subscribers", "date_modified:min", ISO, {}),
    "pricelists": ("/v3/pricelists", "date_modified:min", ISO, {}),
    "categories": ("/v3/catalog/categories", None, None, {}),
    "brands": ("/v3/catalog/brands", None, None, {}),
}


def test_the_catalog_covers_the_documented_resources() -> None:
    assert set(CATALOG) == set(EXPECTED)
    assert all(entry.hub == "ecommerce" and entry.max_page_size == 250 for entry in CATALOG.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_default_poller_maps_to_the_native_request(name: str) -> None:
    path, param, value, sort = EXPECTED[name]
    entry = CATALOG[name]
    request = to_native_request(render_url(entry.default_poller()["url"], BOUND))
    assert request.entry is entry
    assert request.path == path
    expected_params = dict(sort)
    if param and value:
        expected_params[param] = value
    assert request.params == expected_params
    assert request.lower_bound == (BOUND.replace(microsecond=0) if param else None)
    assert request.page_params(3) == {**expected_params, "page": "3", "limit": "250"}
    assert request.page_params(1, 999)["limit"] == "250"


@pytest.mark.parametrize("name", [n for n, e in EXPECTED.items() if e[1]])
@pytest.mark.parametrize(
    "where",
    [
        "min_date_modified='${date:EEE, dd MMM yyyy HH:mm:ss Z}'",  # the seed's spelling
        "min_date_modified='${date:EE, dd MMM yyyy HH:mm:ss Z}'",
        "date_modified>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
        "date_modified>'${dateTimeZone:America/Denver:yyyy-MM-dd'T'HH:mm:ssXXX}'",
        "date_modified:min='${epoch}'",
        "lastUpdated>'${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
    ],
)
def test_any_lower_bound_spelling_becomes_the_native_filter_and_format(name: str, where: str) -> None:
    _, param, value, _ = EXPECTED[name]
    assert param is not None
    request = to_native_request(render_url(f"/hubs/ecommerce/{name}?where={where}", BOUND))
    assert request.params[param] == value
    assert request.lower_bound == BOUND.replace(microsecond=0)


def test_seed_products_url_becomes_date_modified_min_with_iso_time() -> None:
    seed = "/hubs/ecommerce/products?where=min_date_modified='${date:EE, dd MMM yyyy HH:mm:ss Z}'"
    request = to_native_request(render_url(seed, BOUND))
    assert "min_date_modified" not in request.params
    assert request.params["date_modified:min"] == "2017-04-20T11:32:00Z"


def test_an_offset_in_the_value_is_honoured_and_plus_is_not_a_space() -> None:
    request = to_native_request(
        "/hubs/ecommerce/customers?where=min_date_modified='Thu, 20 Apr 2017 13:32:00 +0200'"
    )
    assert request.params["date_modified:min"] == ISO
    encoded = to_native_request(
        "/hubs/ecommerce/orders?where=min_date_modified%3D%27Thu%2C%2020%20Apr%202017%2011%3A32%3A00%20%2B0000%27"
    )
    assert encoded.params["min_date_modified"] == RFC


@pytest.mark.parametrize(
    ("name", "legacy_path", "value"),
    [("orders", "/v2/orders", RFC), ("products", "/v2/products", RFC), ("customers", "/v2/customers", RFC)],
)
def test_legacy_credentials_reach_the_v2_endpoints_with_rfc2822(
    name: str, legacy_path: str, value: str
) -> None:
    request = to_native_request(f"/hubs/ecommerce/{name}?where=date_modified>='{ISO}'", legacy=True)
    assert request.path == legacy_path
    assert request.params["min_date_modified"] == value
    assert request.record_date_format == "rfc2822"


@pytest.mark.parametrize("name", ["subscribers", "pricelists"])
def test_v3_only_resources_refuse_legacy_credentials(name: str) -> None:
    with pytest.raises(ConfigError, match="legacy"):
        to_native_request(f"/hubs/ecommerce/{name}", legacy=True)


def test_passthrough_filters_are_kept_verbatim() -> None:
    request = to_native_request(f"/hubs/ecommerce/orders?where=min_date_modified='{RFC}' AND status_id='11'")
    assert request.params == {"min_date_modified": RFC, "status_id": "11", "sort": "date_modified"}


def test_parse_hub_url_reads_quoted_values_with_quotes_and_ampersands() -> None:
    query = parse_hub_url("/hubs/ecommerce/products?where=name='Tom''s & Jerry' and date_modified>=1")
    assert (query.hub, query.resource) == ("ecommerce", "products")
    assert query.clauses == (
        WhereClause("name", "=", "Tom's & Jerry"),
        WhereClause("date_modified", ">=", "1"),
    )


def test_unknown_resource_lists_every_available_one() -> None:
    with pytest.raises(ConfigError) as info:
        to_native_request("/hubs/crm/contacts?where=lastUpdated>'2024-01-01T00:00:00Z'")
    problem = info.value.problems[0].problem
    assert "/hubs/crm/contacts" in problem
    for entry in CATALOG.values():
        assert entry.hub_path in problem
    with pytest.raises(ConfigError, match="available resources"):
        get_entry("contacts")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("orders", "is not a hub path"),
        ("", "empty"),
        ("/hubs/ecommerce/orders?where=date_modified='2024-01-01'", "asks for an exact time"),
        ("/hubs/ecommerce/orders?where=date_modified<'2024-01-01'", "operator '<'"),
        ("/hubs/ecommerce/orders?where=colour='red'", "colour is not a filter of orders"),
        ("/hubs/ecommerce/orders?where=status_id>'3'", "status_id takes = only"),
        ("/hubs/ecommerce/orders?where=date_modified>'yesterday'", "not a date"),
        (
            "/hubs/ecommerce/orders?where=date_modified>'2024-01-01' and min_date_modified='2024-01-01'",
            "more than one",
        ),
        ("/hubs/ecommerce/orders?where=date_modified>'2024-01-01' or id='1'", "expected 'and'"),
        ("/hubs/ecommerce/orders?where=", "empty"),
        ("/hubs/ecommerce/orders?pageSize=5", "unsupported query parameter 'pageSize'"),
        ("/hubs/ecommerce/orders?where=id='1'&where=id='2'", "more than one where"),
        ("/hubs/ecommerce/categories?where=date_modified>'2024-01-01'", "categories has no date filter"),
    ],
)
def test_bad_urls_are_refused_with_the_problem(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        to_native_request(url)


def test_every_problem_of_a_where_clause_is_listed() -> None:
    with pytest.raises(ConfigError) as info:
        to_native_request("/hubs/ecommerce/orders?where=colour='red' and size='xl'")
    assert "colour" in str(info.value) and "size" in str(info.value)
