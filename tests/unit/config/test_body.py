"""The instance body: both seeds, every key form, and errors that name their field."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bcpoller.config.body import DatesConfiguration, parse_configuration, parse_instance_body
from bcpoller.config.catalog import CATALOG
from bcpoller.config.errors import ConfigError

ORDERS = {
    "url": "/hubs/ecommerce/orders?where=min_date_modified='${date:EEE, dd MMM yyyy HH:mm:ss Z}'",
    "idField": "id",
    "datesConfiguration": {
        "updatedAtField": "date_modified",
        "updatedAtFormat": "EEE, dd MMM yyyy HH:mm:ss Z",
        "createdAtField": "date_created",
        "createdAtFormat": "EEE, dd MMM yyyy HH:mm:ss Z",
    },
}


def body(**configuration: Any) -> dict[str, Any]:
    base = {"store.hash": "abc123", "access.token": "tok-secret-value", "event.notification.enabled": True}
    base.update(configuration)
    return {"element": {"key": "bigcommerce"}, "name": "shop", "tags": ["t"], "configuration": base}


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_instance_body(data)
    return {p.field: p.problem for p in info.value.problems}


# ---------------------------------------------------------------- the seeds


def test_oauth_seed_parses_unchanged(shared_dir: Path) -> None:
    raw = json.loads((shared_dir / "seed-instance-oauth.json").read_text())
    before = copy.deepcopy(raw)
    parsed = parse_instance_body(raw)
    assert raw == before
    cfg = parsed.configuration
    assert parsed.name == "API_Polling" and parsed.tags == ["Test"]
    assert cfg.oauth_api_key == "xxxxxxxxxxxxxxxxxxxx"
    assert (
        cfg.oauth_api_secret is not None and cfg.oauth_api_secret.get_secret_value() == "xxxxxxxxxxxxxxxxxxxx"
    )
    assert cfg.oauth_callback_url == "https://mycoolapp.com"
    assert cfg.events_enabled is True and cfg.callback_url == "http://mycoolapp.com"
    assert cfg.refresh_interval == 15
    assert set(cfg.pollers) == {"orders", "products", "customers"}
    assert cfg.pollers["products"].entry is CATALOG["products"]
    assert cfg.pollers["orders"].dates.updated_field == "date_modified"
    request = cfg.pollers["products"].native(datetime(2024, 5, 1, 8, 0, 1, tzinfo=UTC))
    assert request.params["date_modified:min"] == "2024-05-01T08:00:01Z"


def test_basic_auth_seed_is_refused_for_its_crm_resource_listing_the_available_ones(shared_dir: Path) -> None:
    raw = json.loads((shared_dir / "seed-instance-basic-auth.json").read_text())
    found = problems(raw)
    assert list(found) == ["configuration.event.poller.configuration.contacts.url"]
    message = found["configuration.event.poller.configuration.contacts.url"]
    assert "/hubs/crm/contacts" in message
    assert all(entry.hub_path in message for entry in CATALOG.values())


def test_basic_auth_seed_with_a_served_resource_parses(shared_dir: Path) -> None:
    raw = json.loads((shared_dir / "seed-instance-basic-auth.json").read_text())
    raw["configuration"]["event.poller.configuration"] = {"orders": ORDERS}
    cfg = parse_instance_body(raw).configuration
    assert cfg.store_url == "https://store-wuxeae6.mybigcommerce.com/api/v2"
    assert cfg.username == "xxxxxxxxxxxxxxxxxxxx" and cfg.password is not None
    assert cfg.uses_legacy_api and cfg.refresh_interval is None
    assert cfg.pollers["orders"].native(datetime(2024, 1, 1, tzinfo=UTC), legacy=True).path == "/v2/orders"


# ---------------------------------------------------------------- key forms


@pytest.mark.parametrize("spelling", ["At", "Date"])
def test_both_dates_spellings_mean_the_same(spelling: str) -> None:
    dates = {
        f"updated{spelling}Field": "_info.lastUpdated",
        f"updated{spelling}Format": "yyyy-MM-dd'T'HH:mm:ss'Z'",
        f"updated{spelling}Timezone": "America/Denver",
        f"created{spelling}Field": "date_created",
        f"created{spelling}Format": "epoch",
        f"created{spelling}Timezone": "-08:00",
    }
    poller = {**ORDERS, "datesConfiguration": dates}
    cfg = parse_instance_body(body(**{"event.poller.configuration": {"orders": poller}})).configuration
    parsed = cfg.pollers["orders"]
    assert parsed.dates.updated_field == "_info.lastUpdated"
    assert parsed.dates.created_format == "epoch" and parsed.dates.created_timezone == "-08:00"
    record = {"id": 7, "_info": {"lastUpdated": "2024-01-15T10:00:00Z"}, "date_created": 1705300000}
    assert parsed.updated_at(record) == datetime(2024, 1, 15, 17, 0, tzinfo=UTC)  # read in Denver time
    assert parsed.created_at(record) == datetime.fromtimestamp(1705300000, UTC)
    assert parsed.object_id(record) == "7"


def test_conflicting_dates_spellings_are_refused() -> None:
    dates = {"updatedAtField": "date_modified", "updatedDateField": "date_created"}
    found = problems(
        body(**{"event.poller.configuration": {"orders": {**ORDERS, "datesConfiguration": dates}}})
    )
    assert (
        "disagree"
        in found["configuration.event.poller.configuration.orders.datesConfiguration.updatedDateField"]
    )


@pytest.mark.parametrize("key", ["event.poller.configuration", "resourcePoller.configuration"])
@pytest.mark.parametrize("as_string", [False, True])
def test_poller_configuration_as_object_or_json_string_under_either_key(key: str, as_string: bool) -> None:
    pollers: Any = {"orders": ORDERS, "brands": CATALOG["brands"].default_poller()}
    if as_string:
        pollers = json.dumps(pollers)
    cfg = parse_instance_body(body(**{key: pollers})).configuration
    assert set(cfg.pollers) == {"orders", "brands"}
    assert cfg.pollers_key == key
    assert cfg.pollers["orders"].effective_page_size == 250


def test_pollers_given_twice_differently_are_refused() -> None:
    found = problems(
        body(
            **{
                "event.poller.configuration": {"orders": ORDERS},
                "resourcePoller.configuration": {"x": ORDERS},
            }
        )
    )
    assert "give the pollers once" in found["configuration.resourcePoller.configuration"]


def test_a_broken_json_string_names_the_key() -> None:
    found = problems(body(**{"event.poller.configuration": '{"orders": {'}))
    assert "not valid JSON" in found["configuration.event.poller.configuration"]
    found = problems(body(**{"event.poller.configuration": "[1, 2]"}))
    assert "must be an object" in found["configuration.event.poller.configuration"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(15, 15), ("15", 15), (" 30 ", 30), (15.0, 15), ("", None), (None, None)],
)
def test_refresh_interval_forms(value: Any, expected: int | None) -> None:
    cfg = parse_instance_body(body(**{"event.poller.refresh_interval": value})).configuration
    assert cfg.refresh_interval == expected


@pytest.mark.parametrize("value", ["abc", "1.5", 1.5, 0, -3, 1441, True, [5]])
def test_bad_refresh_intervals_name_the_field(value: Any) -> None:
    found = problems(body(**{"event.poller.refresh_interval": value}))
    assert "minutes" in found["configuration.event.poller.refresh_interval"]


@pytest.mark.parametrize(("value", "expected"), [(1, 1), ("25", 25), (20.0, 20), ("", None), (None, None)])
def test_delivery_timeout_forms(value: Any, expected: int | None) -> None:
    cfg = parse_instance_body(body(**{"event.notification.timeout_seconds": value})).configuration
    assert cfg.delivery_timeout == expected


@pytest.mark.parametrize("value", [0, 26, -1, 2.5, "\uff11", True, "NaN", float("inf"), [5]])
def test_bad_delivery_timeouts_name_the_field(value: Any) -> None:
    found = problems(body(**{"event.notification.timeout_seconds": value}))
    assert "seconds" in found["configuration.event.notification.timeout_seconds"]


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("true", True), ("false", False), ("", False)])
def test_events_enabled_forms(value: Any, expected: bool) -> None:
    cfg = parse_instance_body(body(**{"event.notification.enabled": value})).configuration
    assert cfg.events_enabled is expected


def test_events_are_off_by_default() -> None:
    raw = body()
    del raw["configuration"]["event.notification.enabled"]
    assert parse_instance_body(raw).configuration.events_enabled is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-31T00:00:00Z", datetime(2024, 1, 31, tzinfo=UTC)),
        ("2024-01-31T02:00:00+02:00", datetime(2024, 1, 31, tzinfo=UTC)),
        ("2024-01-31", datetime(2024, 1, 31, tzinfo=UTC)),
        ("", None),
    ],
)
def test_backfill_since(value: str, expected: datetime | None) -> None:
    cfg = parse_instance_body(body(**{"event.poller.backfill_since": value})).configuration
    assert cfg.backfill_since == expected


def test_unknown_keys_are_kept() -> None:
    raw = body(**{"event.vendor.custom": "x", "filter.response.nulls": True})
    raw["extraTop"] = 1
    parsed = parse_instance_body(raw)
    assert parsed.configuration.extra == {"event.vendor.custom": "x", "filter.response.nulls": True}
    assert parsed.model_extra == {"extraTop": 1}


def test_every_secret_key_is_a_secret_field() -> None:
    from bcpoller.instances import SECRET_CONFIG_KEYS

    values = {key: f"value-of-{key}" for key in SECRET_CONFIG_KEYS}
    cfg = parse_instance_body(body(**values)).configuration
    assert cfg.extra == {}
    shown = repr(cfg) + cfg.model_dump_json()
    assert not any(value in shown for value in values.values())


def test_credentials_are_exposed_but_never_shown() -> None:
    cfg = parse_instance_body(body(**{"event.notification.signature.key": "sig-secret-value"})).configuration
    assert cfg.store_hash == "abc123"
    assert cfg.access_token is not None and cfg.access_token.get_secret_value() == "tok-secret-value"
    shown = repr(cfg) + str(cfg) + cfg.model_dump_json()
    assert "tok-secret-value" not in shown and "sig-secret-value" not in shown


def test_credentials_are_not_required_here() -> None:
    raw = {"element": {"key": "bigcommerce"}, "configuration": {}}
    cfg = parse_instance_body(raw).configuration
    assert cfg.pollers == {} and cfg.access_token is None and not cfg.uses_legacy_api


# ---------------------------------------------------------------- bad bodies


def test_a_bad_body_reports_every_problem_with_its_path() -> None:
    raw = {
        "element": {"key": "salesforce"},
        "tags": "not-a-list",
        "configuration": {
            "password": 12345678,
            "event.poller.backfill_since": "yesterday",
            "event.poller.configuration": {
                "orders": {
                    "url": "/hubs/ecommerce/orders?where=min_date_modified='${dat:yyyy-MM-dd}'",
                    "datesConfiguration": {"updatedAtFormat": "yyyy-QQ", "createdDateTimezone": "Mars/Base"},
                    "pageSize": 900,
                    "pollDelay": 0,
                },
                "products": {"idField": "a..b"},
                "contacts": {"url": "/hubs/crm/contacts"},
            },
        },
    }
    found = problems(raw)
    prefix = "configuration.event.poller.configuration"
    assert found == {
        "element.key": found["element.key"],
        "tags": found["tags"],
        "configuration.password": found["configuration.password"],
        "configuration.event.poller.backfill_since": found["configuration.event.poller.backfill_since"],
        f"{prefix}.orders.url": found[f"{prefix}.orders.url"],
        f"{prefix}.orders.datesConfiguration.updatedAtFormat": found[
            f"{prefix}.orders.datesConfiguration.updatedAtFormat"
        ],
        f"{prefix}.orders.datesConfiguration.createdDateTimezone": found[
            f"{prefix}.orders.datesConfiguration.createdDateTimezone"
        ],
        f"{prefix}.orders.pageSize": found[f"{prefix}.orders.pageSize"],
        f"{prefix}.orders.pollDelay": found[f"{prefix}.orders.pollDelay"],
        f"{prefix}.products.url": "Field required",
        f"{prefix}.products.idField": found[f"{prefix}.products.idField"],
        f"{prefix}.contacts.url": found[f"{prefix}.contacts.url"],
    }
    assert found[f"{prefix}.orders.url"].startswith("unknown macro ${dat:yyyy-MM-dd}")
    assert "unsupported letter 'Q'" in found[f"{prefix}.orders.datesConfiguration.updatedAtFormat"]
    assert "Mars/Base" in found[f"{prefix}.orders.datesConfiguration.createdDateTimezone"]
    assert "available resources" in found[f"{prefix}.contacts.url"]
    assert "bigcommerce" in found["element.key"]
    assert "12345678" not in json.dumps(found)  # a secret's value is never echoed


def test_str_of_the_error_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        parse_instance_body(
            body(**{"event.poller.refresh_interval": "x", "event.poller.backfill_since": "y"})
        )
    text = str(info.value)
    assert "configuration.event.poller.refresh_interval:" in text
    assert "configuration.event.poller.backfill_since:" in text


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], ""),
        ({"configuration": {}}, "element"),
        ({"element": {"key": "bigcommerce"}}, "configuration"),
        ({"element": {"key": "bigcommerce"}, "configuration": "x"}, "configuration"),
    ],
)
def test_structural_problems(data: Any, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_instance_body(data)
    assert info.value.problems[0].field == field


def test_legacy_credentials_refuse_v3_only_resources() -> None:
    poller = CATALOG["subscribers"].default_poller()
    raw = body(**{"store.url": "https://store-x.mybigcommerce.com/api/v2", "username": "u", "password": "p",
                  "event.poller.configuration": {"subscribers": poller}})  # fmt: skip
    del raw["configuration"]["store.hash"], raw["configuration"]["access.token"]
    found = problems(raw)
    assert "legacy" in found["configuration.event.poller.configuration.subscribers.url"]


def test_parse_configuration_reads_a_stored_configuration() -> None:
    stored = {"store.hash": "h", "event.poller.configuration": json.dumps({"orders": ORDERS})}
    assert set(parse_configuration(stored).pollers) == {"orders"}
    with pytest.raises(ConfigError) as info:
        parse_configuration({"event.poller.refresh_interval": "never"})
    assert info.value.problems[0].field == "configuration.event.poller.refresh_interval"


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_default_poller_is_a_valid_configuration(name: str) -> None:
    cfg = parse_instance_body(body(**{"event.poller.configuration": {name: CATALOG[name].default_poller()}}))
    poller = cfg.configuration.pollers[name]
    assert poller.entry is CATALOG[name]
    dates = DatesConfiguration.model_validate(CATALOG[name].default_poller().get("datesConfiguration", {}))
    assert dates.updated_field == CATALOG[name].updated_field


def test_record_dates_follow_the_catalog_when_the_poller_names_none() -> None:
    cfg = parse_instance_body(
        body(**{"event.poller.configuration": {"products": {"url": "/hubs/ecommerce/products"}}})
    )
    poller = cfg.configuration.pollers["products"]
    record = {
        "id": 1,
        "date_modified": "2018-09-05T20:42:07+00:00",
        "date_created": "2018-08-15T14:48:46+00:00",
    }
    assert poller.updated_at(record) == datetime(2018, 9, 5, 20, 42, 7, tzinfo=UTC)
    assert poller.updated_at(
        {"id": 1, "date_modified": "Wed, 05 Sep 2018 20:42:07 +0000"}, legacy=True
    ) == datetime(2018, 9, 5, 20, 42, 7, tzinfo=UTC)
    with pytest.raises(ValueError, match="date_modified"):
        poller.updated_at({"id": 1})


@pytest.mark.parametrize(
    "macro",
    [
        "${dateTimeZone:America/Denver:yyyy-MM-dd'T'HH:mm:ss}",  # no zone in the text
        "${date:yyyy-MM-dd}",  # coarser than the bound
        "${epoch:ms}",
    ],
)
def test_a_macro_bound_is_the_exact_instant_whatever_the_pattern_keeps(macro: str) -> None:
    url = f"/hubs/ecommerce/products?where=date_modified>='{macro}'"
    pollers = {"products": {"url": url}}
    cfg = parse_instance_body(body(**{"event.poller.configuration": pollers})).configuration
    bound = datetime(2024, 7, 1, 18, 30, 15, tzinfo=UTC)
    request = cfg.pollers["products"].native(bound)
    assert request.lower_bound == bound
    assert request.params["date_modified:min"] == "2024-07-01T18:30:15Z"


def test_a_fixed_bound_in_the_url_is_kept() -> None:
    url = "/hubs/ecommerce/orders?where=min_date_modified='2020-01-01T00:00:00Z'"
    cfg = parse_instance_body(body(**{"event.poller.configuration": {"orders": {"url": url}}})).configuration
    request = cfg.pollers["orders"].native(datetime(2024, 7, 1, tzinfo=UTC))
    assert request.params["min_date_modified"] == "Wed, 01 Jan 2020 00:00:00 +0000"


@pytest.mark.parametrize("record", [{"id": None}, {"id": ""}, {"id": {"a": 1}}, {}])
def test_a_record_without_a_usable_id_is_an_error(record: dict[str, Any]) -> None:
    cfg = parse_instance_body(body(**{"event.poller.configuration": {"orders": ORDERS}})).configuration
    with pytest.raises(ValueError, match="id"):
        cfg.pollers["orders"].object_id(record)


# ---------------------------------------------------------------- strict types and bounds


def poller(**extra: Any) -> dict[str, Any]:
    return body(**{"event.poller.configuration": {"orders": {**ORDERS, **extra}}})


PREFIX = "configuration.event.poller.configuration.orders"
REFRESH = "configuration.event.poller.refresh_interval"
ENABLED = "configuration.event.notification.enabled"


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        (body(**{"event.poller.refresh_interval": "\uff11"}), REFRESH, "whole"),
        (body(**{"event.poller.refresh_interval": "NaN"}), REFRESH, "whole"),
        (body(**{"event.poller.refresh_interval": "1e400"}), REFRESH, "whole"),
        (body(**{"event.notification.enabled": "yes"}), ENABLED, "true or false"),
        (body(**{"event.notification.enabled": 1}), ENABLED, "true or false"),
        (poller(pageSize=True), f"{PREFIX}.pageSize", "boolean"),
        (poller(pageSize="\uff12"), f"{PREFIX}.pageSize", "whole number"),
        (poller(pollDelay=1e9), f"{PREFIX}.pollDelay", "3600"),
        (poller(pollDelay=False), f"{PREFIX}.pollDelay", "boolean"),
        (poller(createdCheckTolerance=True), f"{PREFIX}.createdCheckTolerance", "boolean"),
        (poller(createdCheckTolerance=float("inf")), f"{PREFIX}.createdCheckTolerance", "finite"),
        (poller(filterByUpdatedDate="yes"), f"{PREFIX}.filterByUpdatedDate", "bool"),
        (
            body(**{"event.poller.backfill_since": "9999-01-01T00:00:00Z"}),
            "configuration.event.poller.backfill_since",
            "future",
        ),
    ],
)
def test_numbers_and_booleans_are_strict_and_bounded(data: dict[str, Any], field: str, fragment: str) -> None:
    found = problems(data)
    assert field in found, found
    assert fragment in found[field]


def test_string_booleans_of_open_connectors_still_parse() -> None:
    assert parse_instance_body(body(**{"event.notification.enabled": "true"})).configuration.events_enabled
    off = parse_instance_body(body(**{"event.notification.enabled": "FALSE"}))
    assert not off.configuration.events_enabled


def test_the_number_of_pollers_is_capped() -> None:
    many = {f"orders{i}": dict(ORDERS) for i in range(51)}
    found = problems(body(**{"event.poller.configuration": many}))
    assert found == {"configuration.event.poller.configuration": "names 51 resources; at most 50 are allowed"}
