"""BigCommerce webhook scopes of the polled resources.

Only resources BigCommerce announces get a hook; the others (brands, price lists) are
still polled on schedule, their changes just wait for the next tick.
"""

from __future__ import annotations

from collections.abc import Iterable

SCOPES: dict[str, str] = {
    "orders": "store/order/*",
    "products": "store/product/*",
    "customers": "store/customer/*",
    "subscribers": "store/subscriber/*",
    "categories": "store/category/*",
}


def scopes_for(resources: Iterable[str]) -> list[str]:
    """The scopes to register for an instance polling ``resources`` (sorted, unique)."""
    return sorted({SCOPES[r] for r in resources if r in SCOPES})
