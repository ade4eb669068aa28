"""Records that cannot become events, as status fields (issue 17): BigCommerce's own
customers example (GET /v3/customers, example-1 of the published spec) has neither ``id``
nor ``date_modified``; the simulated store serves it verbatim beside its real records."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import yaml

from local.store import SimulatedStore
from local.template_resources import StackResources
from tests.conftest import load_handler
from tests.integration import test_api_instances as base
from tests.integration.test_api_instances import call, create_oauth_instance, new_org

# The instances API's fixtures: the handler on moto's server and the simulated store.
api, store, public_dns = base.api, base.store, base.public_dns


def official_customers_example(shared_dir: Path) -> dict[str, Any]:
    """The first record of the documented GET /customers response."""
    doc = yaml.safe_load((shared_dir / "bigcommerce-openapi" / "customers.v3.yml").read_text())
    response = doc["components"]["responses"]["GetCustomerCollectionResponse"]
    example = response["content"]["application/json"]["examples"]["example-1"]["value"]
    record: dict[str, Any] = example["data"][0]
    assert "id" not in record and "date_modified" not in record  # what makes it unreadable
    return record


def _last_poll(stack: StackResources, instance_id: str) -> dict[str, Any]:
    item = (
        boto3.resource("dynamodb")
        .Table(stack.table_name)
        .get_item(Key={"pk": f"INST#{instance_id}", "sk": "META#POLL"}, ConsistentRead=True)["Item"]
    )
    return dict(item["lastPoll"])


def test_the_official_customers_example_shows_one_unreadable_record_with_its_reason(
    api: ModuleType,
    shared_dir: Path,
    store: SimulatedStore,
    stack: StackResources,
) -> None:
    from tests.integration.delivery_support import Context

    store.add_verbatim("customers", official_customers_example(shared_dir))
    org = new_org("unreadable")
    iid = create_oauth_instance(api, org, shared_dir, store)["id"]
    poll = load_handler("poll")
    assert poll.lambda_handler({"instanceId": iid}, Context())["status"] in ("ok", "partial")

    status, st = call(api, "GET", f"/instances/{iid}/status", org["authorization"])
    assert status == 200, st
    rows = {row["resource"]: row for row in st["resources"]}
    customers = rows["customers"]
    assert customers["unreadable"] == 1
    assert (
        customers["unreadableReason"]
        == "a record has no id in 'id' and no readable updated date in 'date_modified'"
    )
    # The other resources read their records and say so with a count of 0.
    assert {name: row["unreadable"] for name, row in rows.items() if name != "customers"} == {
        "orders": 0,
        "products": 0,
    }

    # The same outcome again: the report is not rewritten (a quiet poll writes nothing).
    before = _last_poll(stack, iid)
    poll.lambda_handler({"instanceId": iid}, Context())
    assert _last_poll(stack, iid) == before
    _, again = call(api, "GET", f"/instances/{iid}/status", org["authorization"])
    assert {r["resource"]: r["unreadable"] for r in again["resources"]}["customers"] == 1


@pytest.mark.parametrize("record", [{"id": 7}, {"date_modified": "2026-11-28T10:00:00Z"}])
def test_the_reason_names_the_field_that_is_missing(
    api: ModuleType,
    shared_dir: Path,
    store: SimulatedStore,
    stack: StackResources,
    record: dict[str, Any],
) -> None:
    from tests.integration.delivery_support import Context

    store.add_verbatim("customers", record)
    org = new_org("one-field")
    iid = create_oauth_instance(api, org, shared_dir, store)["id"]
    load_handler("poll").lambda_handler({"instanceId": iid}, Context())
    _, st = call(api, "GET", f"/instances/{iid}/status", org["authorization"])
    customers = {row["resource"]: row for row in st["resources"]}["customers"]
    assert customers["unreadable"] == 1
    expected = "no readable updated date in 'date_modified'" if "id" in record else "no id in 'id'"
    assert customers["unreadableReason"] == f"a record has {expected}"
