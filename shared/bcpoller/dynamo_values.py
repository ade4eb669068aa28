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


def item_size(item: dict[str, Any]) -> int:
    """Bytes DynamoDB bills for an item (names + values, AWS's documented sizing rules):
    what a write costs is ceil(size / 1 KB) WRU."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, int | float | Decimal):
        digits = len(str(abs(value)).replace(".", "").lstrip("0")) or 1
        return 1 + (digits + 1) // 2
    if isinstance(value, dict):
        return 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return 3 + sum(1 + _value_size(v) for v in value)
    data = getattr(value, "value", None)  # boto3's Binary
    return len(data) if isinstance(data, bytes | bytearray) else len(str(value).encode())


def write_units(size: int) -> int:
    return max(1, -(-size // 1024))
