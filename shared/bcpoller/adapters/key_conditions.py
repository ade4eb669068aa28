"""Query conditions as plain expression strings with their own names and values.

boto3's condition builder (``Key``/``Attr``) is one object per resource, reset and counted
by every call made through it: two threads querying through one ``Table`` (the delivery's
worker threads, the local stack's API environments) can interleave and send placeholders
that name the wrong attribute -- seen in a 30-minute soak as "Query condition missed key
schema element: pk". A plain expression built per call shares nothing.
"""

from __future__ import annotations

from typing import Any

_SORT_KEY_FORMS = {
    "begins_with": "begins_with(#ks, :ks0)",
    "between": "#ks BETWEEN :ks0 AND :ks1",
    ">=": "#ks >= :ks0",
    "<=": "#ks <= :ks0",
}


def key_condition(
    partition_key: str, value: str, sort_key: str | None = None, op: str | None = None, *bounds: str
) -> dict[str, Any]:
    """``KeyConditionExpression`` with its ``ExpressionAttributeNames`` and ``...Values``:
    ``partition_key = value`` and, given a sort key, one of begins_with / between / >= / <=."""
    names = {"#kp": partition_key}
    values: dict[str, Any] = {":kp": value}
    expression = "#kp = :kp"
    if sort_key is not None:
        form = _SORT_KEY_FORMS.get(op or "")
        wanted = 2 if op == "between" else 1
        if form is None or len(bounds) != wanted:
            raise ValueError(f"sort key condition {op!r} with {len(bounds)} bound(s)")
        names["#ks"] = sort_key
        values.update({f":ks{i}": bound for i, bound in enumerate(bounds)})
        expression += " AND " + form
    return {
        "KeyConditionExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def equals_filter(fields: dict[str, str]) -> dict[str, Any]:
    """``FilterExpression`` of ``field = value`` for every field, ANDed (placeholders #f/:f)."""
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":f{i}": value for i, value in enumerate(fields.values())}
    return {
        "FilterExpression": " AND ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """Query arguments from parts, their attribute names and values joined (not replaced)."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
                out.setdefault(key, {}).update(value)
            else:
                out[key] = value
    return out
