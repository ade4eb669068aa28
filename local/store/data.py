"""The simulated store's resources and seeded, realistic records.

Records are kept with ``datetime`` dates and rendered per API: v2 writes RFC 2822
(``Tue, 05 Mar 2019 21:20:09 +0000``), v3 ISO 8601, as BigCommerce does. A record's
content depends only on (seed, resource, id), so the same seed always gives the same store.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

# Seeded records are dated before this instant, so a seed gives byte-identical data.
SEED_ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
SEED_SPAN = timedelta(days=90)


@dataclass(frozen=True)
class ResourceSpec:
    name: str  # the catalog's resource name, used by /_admin and the change log
    api: str  # "v2" | "v3"
    path: str  # as served under /stores/{hash}: /v2/orders, /v3/catalog/products
    filter_min: str | None  # the native "changed since" parameter
    filter_max: str | None
    legacy_path: str | None  # a v2 twin that legacy basic auth reaches (/v2/products)
    sort_fields: frozenset[str]
    has_dates: bool = True  # categories and brands carry no dates in their schema
    iso_suffix: str = "+00:00"
    # Id filters of the list operation, as its OpenAPI file names them: (lower inclusive,
    # upper inclusive, lower exclusive, upper exclusive); None = not offered.
    id_filters: tuple[str | None, str | None, str | None, str | None] = (None, None, None, None)
    # Cursor pagination (``after`` / ``before``, ``meta.cursor_pagination``).
    cursor_pages: bool = False


V2_ID_FILTERS = ("min_id", "max_id", None, None)
V3_ID_FILTERS = ("id:min", "id:max", "id:greater", "id:less")


RESOURCES: dict[str, ResourceSpec] = {
    spec.name: spec
    for spec in (
        ResourceSpec(
            "orders",
            "v2",
            "/v2/orders",
            "min_date_modified",
            "max_date_modified",
            None,
            frozenset(
                {
                    "id",
                    "customer_id",
                    "date_created",
                    "date_modified",
                    "status_id",
                    "channel_id",
                    "external_id",
                }
            ),
            id_filters=V2_ID_FILTERS,
        ),
        ResourceSpec(
            "products",
            "v3",
            "/v3/catalog/products",
            "date_modified:min",
            "date_modified:max",
            "/v2/products",
            frozenset({"id", "name", "sku", "price", "date_modified", "inventory_level", "total_sold"}),
            id_filters=V3_ID_FILTERS,
        ),
        ResourceSpec(
            "customers",
            "v3",
            "/v3/customers",
            "date_modified:min",
            "date_modified:max",
            "/v2/customers",
            frozenset({"date_created", "last_name", "date_modified"}),
            iso_suffix="Z",
            cursor_pages=True,
        ),
        ResourceSpec(
            "subscribers",
            "v3",
            "/v3/customers/subscribers",
            "date_modified:min",
            "date_modified:max",
            None,
            frozenset(),
            iso_suffix="Z",
        ),
        ResourceSpec(
            "pricelists",
            "v3",
            "/v3/pricelists",
            "date_modified:min",
            "date_modified:max",
            None,
            frozenset(),
            iso_suffix="Z",
            cursor_pages=True,
        ),
        ResourceSpec(
            "categories",
            "v3",
            "/v3/catalog/categories",
            None,
            None,
            "/v2/categories",
            frozenset({"name", "id", "parent_id", "sort_order"}),
            has_dates=False,
            id_filters=V3_ID_FILTERS,
        ),
        ResourceSpec(
            "brands",
            "v3",
            "/v3/catalog/brands",
            None,
            None,
            "/v2/brands",
            frozenset({"name"}),
            has_dates=False,
            id_filters=V3_ID_FILTERS,
        ),
    )
}

FIRST_NAMES = [
    "Jane",
    "John",
    "Aiko",
    "Mateo",
    "Priya",
    "Liam",
    "Fatima",
    "Noah",
    "Chen",
    "Olga",
    "Kwame",
    "Sofia",
]
LAST_NAMES = [
    "Doe",
    "Smith",
    "Tanaka",
    "Garcia",
    "Patel",
    "Murphy",
    "Haddad",
    "Kim",
    "Ivanova",
    "Mensah",
    "Rossi",
]
CITIES = [
    ("Austin", "Texas", "78751", "US", "United States"),
    ("Sydney", "New South Wales", "2000", "AU", "Australia"),
    ("London", "England", "EC1A 1BB", "GB", "United Kingdom"),
    ("Toronto", "Ontario", "M5H 2N2", "CA", "Canada"),
    ("Berlin", "Berlin", "10115", "DE", "Germany"),
]
ADJECTIVES = ["Classic", "Organic", "Vintage", "Smart", "Rugged", "Minimal", "Deluxe", "Compact", "Bright"]
NOUNS = [
    "Coffee Mug",
    "Poster",
    "Backpack",
    "Desk Lamp",
    "Water Bottle",
    "Notebook",
    "Hoodie",
    "Sneakers",
    "Tea Set",
]
BRANDS = [
    "Acme",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
]
ORDER_STATUSES = [
    (1, "Pending", "pending"),
    (11, "Awaiting Fulfillment", "paid"),
    (2, "Shipped", "captured"),
    (10, "Completed", "paid"),
    (5, "Cancelled", "void"),
]


def rfc2822(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC))


def iso(when: datetime, suffix: str = "+00:00") -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + suffix


def _money(rng: random.Random, low: float, high: float) -> str:
    return f"{rng.uniform(low, high):.4f}"


def _person(rng: random.Random) -> tuple[str, str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return first, last, f"{first.lower()}.{last.lower()}{rng.randint(1, 999)}@example.com"


def generate(resource: str, record_id: int, rng: random.Random) -> dict[str, Any]:
    """Every field of one record except its dates (the store sets those)."""
    return _GENERATORS[resource](record_id, rng)


def _order(record_id: int, rng: random.Random) -> dict[str, Any]:
    first, last, email = _person(rng)
    city, state, zipcode, iso2, country = rng.choice(CITIES)
    status_id, status, payment_status = rng.choice(ORDER_STATUSES)
    subtotal = rng.uniform(5, 500)
    shipping = rng.choice([0.0, 4.99, 9.99, 14.5])
    tax = round(subtotal * 0.08, 4)
    items = rng.randint(1, 6)
    return {
        "id": record_id,
        "customer_id": rng.randint(0, 500),
        "status_id": status_id,
        "status": status,
        "payment_status": payment_status,
        "cart_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "subtotal_ex_tax": f"{subtotal:.4f}",
        "subtotal_inc_tax": f"{subtotal + tax:.4f}",
        "subtotal_tax": f"{tax:.4f}",
        "base_shipping_cost": f"{shipping:.4f}",
        "shipping_cost_ex_tax": f"{shipping:.4f}",
        "shipping_cost_inc_tax": f"{shipping:.4f}",
        "shipping_cost_tax": "0.0000",
        "shipping_cost_tax_class_id": 2,
        "base_handling_cost": "0.0000",
        "handling_cost_ex_tax": "0.0000",
        "handling_cost_inc_tax": "0.0000",
        "handling_cost_tax": "0.0000",
        "handling_cost_tax_class_id": 2,
        "base_wrapping_cost": "0.0000",
        "wrapping_cost_ex_tax": "0.0000",
        "wrapping_cost_inc_tax": "0.0000",
        "wrapping_cost_tax": "0.0000",
        "wrapping_cost_tax_class_id": 3,
        "total_ex_tax": f"{subtotal + shipping:.4f}",
        "total_inc_tax": f"{subtotal + shipping + tax:.4f}",
        "total_tax": f"{tax:.4f}",
        "items_total": items,
        "items_shipped": items if status_id in (2, 10) else 0,
        "payment_method": rng.choice(["Credit Card", "PayPal", "Cash on Delivery", "Test Payment Gateway"]),
        "payment_provider_id": "",
        "refunded_amount": "0.0000",
        "order_is_digital": False,
        "store_credit_amount": "0.0000",
        "gift_certificate_amount": "0.0000",
        "ip_address": f"203.0.113.{rng.randint(1, 254)}",
        "ip_address_v6": "",
        "geoip_country": country,
        "geoip_country_iso2": iso2,
        "currency_id": 1,
        "currency_code": "USD",
        "currency_exchange_rate": "1.0000000000",
        "default_currency_id": 1,
        "default_currency_code": "USD",
        "store_default_currency_code": "USD",
        "store_default_to_transactional_exchange_rate": "1.0000000000",
        "staff_notes": "",
        "customer_message": "",
        "discount_amount": "0.0000",
        "coupon_discount": "0.0000",
        "shipping_address_count": 1,
        "is_deleted": False,
        "ebay_order_id": "0",
        "is_tax_inclusive_pricing": False,
        "is_email_opt_in": rng.random() < 0.3,
        "order_source": "www",
        "channel_id": 1,
        "external_source": None,
        "external_id": None,
        "external_merchant_id": None,
        "tax_provider_id": "BasicTaxProvider",
        "customer_locale": "en",
        "external_order_id": "",
        "billing_address": {
            "first_name": first,
            "last_name": last,
            "company": "",
            "street_1": f"{rng.randint(1, 999)} Main Street",
            "street_2": "",
            "city": city,
            "state": state,
            "zip": zipcode,
            "country": country,
            "country_iso2": iso2,
            "phone": f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
            "email": email,
            "form_fields": [],
        },
        "products": {"url": f"/v2/orders/{record_id}/products", "resource": f"/orders/{record_id}/products"},
        "shipping_addresses": {
            "url": f"/v2/orders/{record_id}/shipping_addresses",
            "resource": f"/orders/{record_id}/shipping_addresses",
        },
        "coupons": {"url": f"/v2/orders/{record_id}/coupons", "resource": f"/orders/{record_id}/coupons"},
    }


def _product(record_id: int, rng: random.Random) -> dict[str, Any]:
    name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {record_id}"
    price = round(rng.uniform(3, 300), 2)
    return {
        "id": record_id,
        "name": name,
        "type": rng.choice(["physical", "physical", "digital"]),
        "sku": f"SKU-{record_id:06d}",
        "description": f"<p>{name}, made to last.</p>",
        "weight": round(rng.uniform(0.1, 10), 2),
        "width": float(rng.randint(1, 50)),
        "depth": float(rng.randint(1, 50)),
        "height": float(rng.randint(1, 50)),
        "price": price,
        "cost_price": round(price * 0.6, 2),
        "retail_price": round(price * 1.2, 2),
        "sale_price": 0.0,
        "map_price": 0,
        "tax_class_id": 0,
        "product_tax_code": "",
        "calculated_price": price,
        "categories": [rng.randint(18, 30)],
        "brand_id": rng.randint(1, len(BRANDS)),
        "option_set_id": 0,
        "option_set_display": "right",
        "inventory_level": rng.randint(0, 500),
        "inventory_warning_level": 5,
        "inventory_tracking": rng.choice(["none", "product"]),
        "reviews_rating_sum": 0,
        "reviews_count": 0,
        "total_sold": rng.randint(0, 1000),
        "fixed_cost_shipping_price": 0.0,
        "is_free_shipping": rng.random() < 0.2,
        "is_visible": True,
        "is_featured": rng.random() < 0.1,
        "related_products": [-1],
        "warranty": "",
        "bin_picking_number": "",
        "layout_file": "product.html",
        "upc": "",
        "mpn": "",
        "gtin": "",
        "search_keywords": "",
        "availability": "available",
        "availability_description": "",
        "gift_wrapping_options_type": "any",
        "gift_wrapping_options_list": [],
        "sort_order": 0,
        "condition": "New",
        "is_condition_shown": False,
        "order_quantity_minimum": 0,
        "order_quantity_maximum": 0,
        "page_title": "",
        "meta_keywords": [],
        "meta_description": "",
        "view_count": rng.randint(0, 5000),
        "preorder_message": "",
        "is_preorder_only": False,
        "is_price_hidden": False,
        "price_hidden_label": "",
        "custom_url": {"url": f"/product-{record_id}/", "is_customized": False},
        "base_variant_id": record_id + 100000,
        "open_graph_type": "product",
        "open_graph_title": "",
        "open_graph_description": "",
        "open_graph_use_meta_description": True,
        "open_graph_use_product_name": True,
        "open_graph_use_image": True,
    }


def _customer(record_id: int, rng: random.Random) -> dict[str, Any]:
    first, last, email = _person(rng)
    return {
        "id": record_id,
        "email": email,
        "first_name": first,
        "last_name": last,
        "company": rng.choice(["", "", "Acme Pty Ltd", "Globex"]),
        "phone": f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        "registration_ip_address": f"198.51.100.{rng.randint(1, 254)}",
        "notes": "",
        "tax_exempt_category": "",
        "customer_group_id": rng.choice([0, 0, 1, 2]),
        "address_count": 0,
        "attribute_count": 0,
        "authentication": {"force_password_reset": False},
        "accepts_product_review_abandoned_cart_emails": rng.random() < 0.5,
        "store_credit_amounts": [{"amount": 0}],
        "origin_channel_id": 1,
        "channel_ids": [1],
    }


def _subscriber(record_id: int, rng: random.Random) -> dict[str, Any]:
    first, last, email = _person(rng)
    return {
        "id": record_id,
        "email": email,
        "first_name": first,
        "last_name": last,
        "source": rng.choice(["storefront", "order", "custom"]),
        "order_id": None,
        "channel_id": 1,
        "consents": ["marketing_newsletter"],
    }


def _pricelist(record_id: int, rng: random.Random) -> dict[str, Any]:
    return {
        "id": record_id,
        "name": f"{rng.choice(['Wholesale', 'VIP', 'Staff', 'Trade'])} {record_id}",
        "active": True,
    }


def _category(record_id: int, rng: random.Random) -> dict[str, Any]:
    name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS).split()[-1]}s {record_id}"
    return {
        "id": record_id,
        "parent_id": 0,
        "name": name[:50],
        "description": "",
        "views": rng.randint(0, 900),
        "sort_order": rng.randint(0, 10),
        "page_title": "",
        "meta_keywords": [],
        "meta_description": "",
        "layout_file": "category.html",
        "image_url": "",
        "is_visible": True,
        "search_keywords": "",
        "default_product_sort": "use_store_settings",
        "custom_url": {"url": f"/category-{record_id}/", "is_customized": False},
    }


def _brand(record_id: int, rng: random.Random) -> dict[str, Any]:
    name = f"{rng.choice(BRANDS)} {record_id}"
    return {
        "id": record_id,
        "name": name,
        "page_title": name,
        "meta_keywords": [],
        "meta_description": "",
        "search_keywords": "",
        "image_url": "",
        "custom_url": {"url": f"/brands/{name.replace(' ', '-')}.html", "is_customized": False},
    }


_GENERATORS = {
    "orders": _order,
    "products": _product,
    "customers": _customer,
    "subscribers": _subscriber,
    "pricelists": _pricelist,
    "categories": _category,
    "brands": _brand,
}

FIRST_ID = {
    "orders": 100,
    "products": 77,
    "customers": 1,
    "subscribers": 1,
    "pricelists": 1,
    "categories": 18,
    "brands": 1,
}


def render(spec: ResourceSpec, record: dict[str, Any], *, api: str) -> dict[str, Any]:
    """A stored record as the given API shows it (dates as strings in that API's format)."""
    out = dict(record)
    created: datetime = out.pop("date_created")
    modified: datetime = out.pop("date_modified")
    if not spec.has_dates:
        return out
    if api == "v2":
        out["date_created"] = rfc2822(created)
        out["date_modified"] = rfc2822(modified)
    else:
        out["date_created"] = iso(created, spec.iso_suffix)
        out["date_modified"] = iso(modified, spec.iso_suffix)
    return out


def seeded_dates(rng: random.Random) -> tuple[datetime, datetime]:
    created = SEED_ANCHOR - timedelta(seconds=rng.randint(0, int(SEED_SPAN.total_seconds())))
    modified = min(created + timedelta(seconds=rng.randint(0, 86400 * 10)), SEED_ANCHOR)
    return created, modified
