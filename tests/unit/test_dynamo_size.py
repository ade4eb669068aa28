"""Item sizes and capacity units as AWS documents them (the cost benchmark counts with these)."""

from __future__ import annotations

import pytest

from local.dynamo_size import item_size, read_units, write_units


def test_item_size_counts_names_and_values() -> None:
    item = {
        "pk": {"S": "INST#1"},  # 2 + 6
        "n": {"N": "12345"},  # 1 + (5 digits -> 3 bytes) + 1
        "ok": {"BOOL": True},  # 2 + 1
        "b": {"B": b"\x00\x01\x02"},  # 1 + 3
        "l": {"L": [{"S": "ab"}, {"N": "7"}]},  # 1 + 3 + (1 + 2) + (1 + 2)
        "m": {"M": {"k": {"S": "v"}}},  # 1 + 3 + (1 + 1 + 1)
    }
    assert item_size(item) == 8 + 5 + 3 + 4 + 10 + 7


def test_capacity_units_round_up_per_request() -> None:
    assert read_units(0, consistent=True) == 1.0  # an empty answer still costs a unit
    assert read_units(4096, consistent=True) == 1.0
    assert read_units(4097, consistent=True) == 2.0
    assert read_units(4097, consistent=False) == 1.0
    assert write_units(1024) == 1 and write_units(1025) == 2


def test_unknown_type_is_named() -> None:
    with pytest.raises(ValueError, match="'X'"):
        item_size({"a": {"X": 1}})
