"""Query conditions as plain strings: what DynamoDB is asked, exactly."""

from __future__ import annotations

import pytest
from bcpoller.adapters.key_conditions import equals_filter, key_condition, merged


def test_partition_key_alone() -> None:
    assert key_condition("pk", "INST#1") == {
        "KeyConditionExpression": "#kp = :kp",
        "ExpressionAttributeNames": {"#kp": "pk"},
        "ExpressionAttributeValues": {":kp": "INST#1"},
    }


@pytest.mark.parametrize(
    ("op", "bounds", "expression"),
    [
        ("begins_with", ("LOG#",), "#kp = :kp AND begins_with(#ks, :ks0)"),
        ("between", ("a", "b"), "#kp = :kp AND #ks BETWEEN :ks0 AND :ks1"),
        (">=", ("a",), "#kp = :kp AND #ks >= :ks0"),
        ("<=", ("b",), "#kp = :kp AND #ks <= :ks0"),
    ],
)
def test_sort_key_forms(op: str, bounds: tuple[str, ...], expression: str) -> None:
    built = key_condition("gsi1pk", "FAILED#1", "gsi1sk", op, *bounds)
    assert built["KeyConditionExpression"] == expression
    assert built["ExpressionAttributeNames"] == {"#kp": "gsi1pk", "#ks": "gsi1sk"}
    assert built["ExpressionAttributeValues"] == {
        ":kp": "FAILED#1",
        **{f":ks{i}": b for i, b in enumerate(bounds)},
    }


@pytest.mark.parametrize(
    ("op", "bounds"), [("between", ("a",)), ("begins_with", ()), ("=", ("a",)), (None, ("a",))]
)
def test_a_sort_key_condition_needs_a_known_form_and_its_bounds(
    op: str | None, bounds: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match="sort key condition"):
        key_condition("pk", "x", "sk", op, *bounds)


def test_filter_and_merge_keep_every_name_and_value() -> None:
    query = merged(
        key_condition("pk", "EVT#1", "sk", "begins_with", "EVENT#"),
        equals_filter({"objectId": "42", "objectType": "orders"}),
        {"ProjectionExpression": "#p0", "ExpressionAttributeNames": {"#p0": "status"}, "Limit": 5},
    )
    assert query["FilterExpression"] == "#f0 = :f0 AND #f1 = :f1"
    assert query["ExpressionAttributeNames"] == {
        "#kp": "pk",
        "#ks": "sk",
        "#f0": "objectId",
        "#f1": "objectType",
        "#p0": "status",
    }
    assert query["ExpressionAttributeValues"] == {
        ":kp": "EVT#1",
        ":ks0": "EVENT#",
        ":f0": "42",
        ":f1": "orders",
    }
    assert query["Limit"] == 5 and query["ProjectionExpression"] == "#p0"
