"""DynamoDB's number type both ways: it stores Decimals and refuses floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def epoch_decimal(seconds: float) -> Decimal:
    """Epoch seconds (millisecond precision) as the Decimal DynamoDB accepts."""
    return Decimal(str(round(seconds, 3)))


def plain(value: Any) -> Any:
    """An item's values back to JSON-friendly ones: Decimals to int or float, sets to lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return value
