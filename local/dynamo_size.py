"""DynamoDB item sizes and capacity units, computed the way AWS documents them.

moto does not bill, so the cost test and ``make bench ARGS=cost`` count capacity units
from the items themselves: an item's size is the UTF-8 length of every attribute name
plus its value's size; a read costs one RRU per 4 KB of the items it returns (strongly
consistent; half when eventually consistent), a write one WRU per 1 KB of the whole
item, again in every index the item is projected into.

Works on the low-level (typed) form botocore hands to its event hooks, e.g.
``{"pk": {"S": "INST#1"}, "version": {"N": "3"}}``.
"""

from __future__ import annotations

import math
from typing import Any

RRU_BYTES = 4096
WRU_BYTES = 1024


def _number_size(text: str) -> int:
    # Up to 38 significant digits, stored two digits a byte, plus one byte.
    digits = text.lstrip("-").replace(".", "").lstrip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: dict[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode()) for v in inner)
    if kind == "NS":
        return sum(_number_size(str(v)) for v in inner)
    if kind == "BS":
        return sum(len(v) for v in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + value_size(v) for k, v in inner.items())
    raise ValueError(f"value: unknown DynamoDB type {kind!r}")


def item_size(item: dict[str, dict[str, Any]]) -> int:
    """Bytes of one item in the typed form."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def read_units(total_bytes: int, *, consistent: bool) -> float:
    """RRU of one read request that returned ``total_bytes`` of items (a Query sums its
    items before rounding up; an empty result still costs one unit)."""
    units = max(math.ceil(total_bytes / RRU_BYTES), 1)
    return float(units) if consistent else units / 2


def write_units(item_bytes: int) -> int:
    return max(math.ceil(item_bytes / WRU_BYTES), 1)
