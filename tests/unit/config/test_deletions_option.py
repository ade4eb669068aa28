"""``deletions`` (our extension): strict, bounded, field-named errors; absent = as today."""

from __future__ import annotations

from typing import Any

import pytest
from bcpoller.config.body import parse_configuration
from bcpoller.config.errors import ConfigError
from bcpoller.poll.plan import plan_resources

TOKEN = {"store.hash": "abc", "access.token": "tok"}
LEGACY = {"store.url": "https://store-abc.mybigcommerce.com", "username": "u", "password": "p"}
FIELD = "configuration.event.poller.configuration.{}.deletions"


def config(
    resource: str = "products", deletions: Any = None, creds: dict[str, str] = TOKEN
) -> dict[str, Any]:
    poller: dict[str, Any] = {"url": f"/hubs/ecommerce/{resource}"}
    if deletions is not None:
        poller["deletions"] = deletions
    return {**creds, "event.poller.configuration": {resource: poller}}


@pytest.mark.parametrize("value", [{"everyMinutes": 60}, '{"everyMinutes": 5}', {"everyMinutes": 10_080}])
def test_accepted_forms(value: Any) -> None:
    parsed = parse_configuration(config(deletions=value))
    assert parsed.pollers["products"].deletions is not None


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        ({"everyMinutes": 4}, ".everyMinutes", "between 5 and 10080"),
        ({"everyMinutes": 10_081}, ".everyMinutes", "between 5 and 10080"),
        ({"everyMinutes": True}, ".everyMinutes", "whole number"),
        ({"everyMinutes": "60"}, ".everyMinutes", "whole number"),
        ({"everyMinutes": 7.5}, ".everyMinutes", "whole number"),
        ({}, ".everyMinutes", "Field required"),
        ({"everyMinutes": 60, "every": 1}, ".every", "Extra inputs"),
        ([60], "", "must be an object"),
        ("{not json", "", "not valid JSON"),
    ],
)
def test_bad_values_name_the_field(value: Any, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_configuration(config(deletions=value))
    problems = {p.field: p.problem for p in caught.value.problems}
    assert FIELD.format("products") + field in problems, problems
    assert words in problems[FIELD.format("products") + field]


@pytest.mark.parametrize(
    ("resource", "creds", "words"),
    [
        ("categories", TOKEN, "already reported"),
        ("brands", TOKEN, "already reported"),
        ("subscribers", TOKEN, "needs id paging"),
        ("products", LEGACY, "store.hash and access.token"),
    ],
)
def test_resources_a_sweep_cannot_serve_are_refused(resource: str, creds: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_configuration(config(resource, {"everyMinutes": 60}, creds))
    problems = {p.field: p.problem for p in caught.value.problems}
    assert words in problems[FIELD.format(resource)]


def test_legacy_orders_can_be_swept() -> None:
    plan = plan_resources(config("orders", {"everyMinutes": 60}, LEGACY)).resources[0]
    assert plan.sweep_every_minutes == 60 and plan.read_deleted is not None


def test_without_deletions_the_plan_has_no_sweep() -> None:
    plan = plan_resources(config()).resources[0]
    assert plan.sweep_every_minutes is None
    assert plan.build_sweep_request is None and plan.read_deleted is None


def test_the_sweep_lists_the_whole_resource_whatever_the_filters() -> None:
    body = config("orders", {"everyMinutes": 60})
    body["event.poller.configuration"]["orders"]["url"] = "/hubs/ecommerce/orders?where=status_id='11'"
    plan = plan_resources(body).resources[0]
    assert plan.build_sweep_request is not None
    assert plan.build_sweep_request().params == {}
    products = plan_resources(config(deletions={"everyMinutes": 60})).resources[0]
    assert products.build_sweep_request is not None
    assert products.build_sweep_request().params == {"include_fields": "date_modified"}


def test_a_sweep_needs_the_resources_own_id_field() -> None:
    body = config(deletions={"everyMinutes": 60})
    body["event.poller.configuration"]["products"]["idField"] = "sku"
    with pytest.raises(ConfigError) as caught:
        parse_configuration(body)
    problems = {p.field: p.problem for p in caught.value.problems}
    assert "idField must be 'id'" in problems[FIELD.format("products")]
