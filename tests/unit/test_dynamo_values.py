"""DynamoDB numbers both ways: what the table returns reads back as plain JSON values."""

from decimal import Decimal

from bcpoller.dynamo_values import epoch_decimal, plain


def test_plain_turns_nested_decimals_and_sets_into_json_values() -> None:
    item = {
        "n": Decimal("7"),
        "f": Decimal("1.5"),
        "m": {"l": [Decimal("2"), {"x": Decimal("0.25")}]},
        "s": {"a"},
    }
    assert plain(item) == {"n": 7, "f": 1.5, "m": {"l": [2, {"x": 0.25}]}, "s": ["a"]}
    assert isinstance(plain(Decimal("3")), int)


def test_epoch_decimal_keeps_milliseconds() -> None:
    assert epoch_decimal(1795885681.49812) == Decimal("1795885681.498")
