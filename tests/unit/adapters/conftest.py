"""A poll table in moto's in-process DynamoDB (``mock_aws``), made from template.yaml's
own definition: it enforces ConditionExpressions like DynamoDB does, and a test costs
milliseconds, so mutation testing can run these per mutant (the moto-server tests of
tests/integration stay the check over HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

import boto3
import pytest
from bcpoller.adapters.poll_table import PollTable
from moto import mock_aws

from local.template_resources import load_template


@cache
def _table_definition() -> dict[str, Any]:
    (props,) = [
        res["Properties"]
        for res in load_template()["Resources"].values()
        if res["Type"] == "AWS::DynamoDB::Table"
    ]
    return {
        key: props[key]
        for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
        if key in props
    }


@pytest.fixture(scope="module")
def _dynamodb() -> Iterator[Any]:
    # One mock and one boto3 resource per module (making a resource costs 100 ms or more
    # on a loaded machine); every test gets a table of its own. mock_aws puts fake
    # credentials in the environment while it runs.
    with mock_aws():
        yield boto3.resource("dynamodb", region_name="us-east-1")


@pytest.fixture
def dynamo_table(_dynamodb: Any) -> Any:
    name = f"poll-{uuid.uuid4().hex[:12]}"
    return _dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **_table_definition())


@pytest.fixture
def poll_table(dynamo_table: Any) -> PollTable:
    return PollTable(dynamo_table)


class PagedTable:
    """The table, but every Query returns one item (``limit``) per page: DynamoDB pages at 1 MB,
    and a reader that stops after the first page loses cursors silently."""

    def __init__(self, table: Any, limit: int | None = 1) -> None:
        self._table = table
        self._limit = {"Limit": limit} if limit else {}
        self.pages = 0

    def query(self, **kwargs: Any) -> Any:
        self.pages += 1
        return self._table.query(**self._limit, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)
