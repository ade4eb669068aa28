"""The resources this connector polls, kept as data: one entry per hub resource.

Every fact here comes from BigCommerce's published OpenAPI files
(``../shared/bigcommerce-openapi``); the contract test checks each entry's native request
against them, so a change to an entry that the store would reject fails a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bcpoller.config.errors import ConfigError

DateFormat = Literal["rfc2822", "iso8601"]
# How an endpoint pages by id (stable while records change, unlike page numbers):
# "min_id" (v2 orders, inclusive), "id:greater" (v3 catalog), "after" (v3 cursor
# pagination: ``meta.cursor_pagination.end_cursor`` of the page before).
Keyset = Literal["min_id", "id:greater", "after"]

# Java patterns that write (and read) each native date format; the web page pre-fills them.
JAVA_PATTERNS: dict[str, str] = {
    "rfc2822": "EEE, dd MMM yyyy HH:mm:ss Z",
    "iso8601": "yyyy-MM-dd'T'HH:mm:ssXXX",
}
# The macro that renders a lower bound in each native format (always UTC).
_URL_MACROS: dict[str, str] = {
    "rfc2822": "${date:EEE, dd MMM yyyy HH:mm:ss Z}",
    "iso8601": "${date:yyyy-MM-dd'T'HH:mm:ss'Z'}",
}

# Where-clause names users write for "changed since": the seed's v2 style, the v3 style,
# the plain field, and Open Connectors' canonical hub field.
_DATE_ALIASES = ("min_date_modified", "date_modified:min", "date_modified", "lastUpdated")


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    hub: str
    api: Literal["v2", "v3"]
    path: str
    filter_param: str | None
    filter_format: DateFormat | None
    # Ascending by updated time, spelled as the spec's enum allows; {} = the spec offers
    # no such sort, so the poller must read every page before it moves the cursor.
    sort_params: dict[str, str]
    id_field: str
    updated_field: str | None
    created_field: str | None
    record_date_format: DateFormat | None
    max_page_size: int = 250
    hub_aliases: tuple[str, ...] = ()
    # The legacy API (basic auth against store-HASH.mybigcommerce.com/api/v2) only
    # speaks v2: None = the resource cannot be polled with legacy credentials.
    legacy_v2_path: str | None = None
    legacy_v2_filter_param: str | None = None
    # Native query parameters a where-clause may set verbatim (`status_id='11'`).
    passthrough_params: tuple[str, ...] = ()
    description: str = ""
    # Paging by id on the token-auth endpoint (None: the spec offers nothing stable), and
    # the sort that puts its records in id order (as the spec's enum spells it; {} = the
    # endpoint's default order, which is by id).
    keyset: Keyset | None = None
    keyset_sort: dict[str, str] = field(default_factory=dict)
    # The deletion sweep: ``include_fields`` that keeps its listing small (the spec's enum
    # has no ``id``, but "the ID and the specified fields will be returned"; None = the
    # endpoint has no such parameter and whole records are listed), and a record field
    # that marks a deleted-but-listed record (v2 orders are archived, ``is_deleted``).
    sweep_fields: str | None = None
    deleted_flag: str | None = None

    @property
    def has_date_filter(self) -> bool:
        return self.filter_param is not None

    def keyset_for(self, *, legacy: bool = False) -> Keyset | None:
        """The id paging on the endpoint the credentials reach (legacy twins of v3
        resources are undocumented v2 endpoints: no id paging is assumed there)."""
        return self.keyset if not legacy or self.api == "v2" else None

    @property
    def sorts_by_updated(self) -> bool:
        return bool(self.sort_params)

    @property
    def hub_path(self) -> str:
        return f"/hubs/{self.hub}/{self.name}"

    def native_path(self, *, legacy: bool = False) -> str | None:
        return self.legacy_v2_path if legacy else self.path

    def native_filter(self, *, legacy: bool = False) -> tuple[str | None, DateFormat | None]:
        """(lower-bound parameter, its date format) on the endpoint the credentials reach."""
        if not legacy or self.api == "v2":
            return self.filter_param, self.filter_format
        # Every v2 endpoint takes (and returns) RFC 2822 dates.
        return self.legacy_v2_filter_param, "rfc2822" if self.legacy_v2_filter_param else None

    def record_format(self, *, legacy: bool = False) -> DateFormat | None:
        if legacy and self.api == "v3":
            return "rfc2822" if self.updated_field else None
        return self.record_date_format

    def default_poller(self) -> dict[str, Any]:
        """A seed-style poller configuration for this resource (the web page pre-fills it)."""
        poller: dict[str, Any] = {"url": self.hub_path, "idField": self.id_field}
        if self.filter_param and self.filter_format:
            lower = self.hub_aliases[0] if self.hub_aliases else self.filter_param
            poller["url"] = f"{self.hub_path}?where={lower}='{_URL_MACROS[self.filter_format]}'"
        dates: dict[str, str] = {}
        fmt = JAVA_PATTERNS[self.record_date_format] if self.record_date_format else None
        if self.updated_field and fmt:
            dates.update(updatedAtField=self.updated_field, updatedAtFormat=fmt, updatedAtTimezone="UTC")
        if self.created_field and fmt:
            dates.update(createdAtField=self.created_field, createdAtFormat=fmt, createdAtTimezone="UTC")
        if dates:
            poller["datesConfiguration"] = dates
        return poller


def _dated_v3(
    name: str,
    path: str,
    *,
    sort: dict[str, str],
    legacy: str | None,
    passthrough: tuple[str, ...],
    description: str,
    keyset: Keyset | None = None,
    keyset_sort: dict[str, str] | None = None,
    sweep_fields: str | None = None,
) -> CatalogEntry:
    return CatalogEntry(
        name=name,
        hub="ecommerce",
        api="v3",
        path=path,
        filter_param="date_modified:min",
        filter_format="iso8601",
        sort_params=sort,
        id_field="id",
        updated_field="date_modified",
        created_field="date_created",
        record_date_format="iso8601",
        hub_aliases=("date_modified:min", *(a for a in _DATE_ALIASES if a != "date_modified:min")),
        legacy_v2_path=legacy,
        legacy_v2_filter_param="min_date_modified" if legacy else None,
        passthrough_params=passthrough,
        description=description,
        keyset=keyset,
        keyset_sort=keyset_sort or {},
        sweep_fields=sweep_fields,
    )


_ENTRIES: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        name="orders",
        hub="ecommerce",
        api="v2",
        path="/v2/orders",
        filter_param="min_date_modified",
        filter_format="rfc2822",
        # The spec's enum lists bare field names; a bare name sorts ascending.
        sort_params={"sort": "date_modified"},
        id_field="id",
        updated_field="date_modified",
        created_field="date_created",
        record_date_format="rfc2822",
        hub_aliases=_DATE_ALIASES,
        legacy_v2_path="/v2/orders",
        legacy_v2_filter_param="min_date_modified",
        passthrough_params=(
            "status_id",
            "customer_id",
            "channel_id",
            "email",
            "min_id",
            "cart_id",
            "payment_method",
            "external_order_id",
            "include",
        ),
        description="Orders (v2 API, RFC 2822 dates)",
        # min_id is inclusive; the spec's default order is by id, asked for explicitly.
        keyset="min_id",
        keyset_sort={"sort": "id"},
        deleted_flag="is_deleted",
    ),
    _dated_v3(
        "products",
        "/v3/catalog/products",
        sort={"sort": "date_modified", "direction": "asc"},
        legacy="/v2/products",
        passthrough=(
            "is_visible",
            "brand_id",
            "type",
            "is_featured",
            "categories",
            "keyword",
            "sku",
            "availability",
            "condition",
            "name",
            "include",
        ),
        description="Catalog products (v3)",
        keyset="id:greater",
        keyset_sort={"sort": "id", "direction": "asc"},
        sweep_fields="date_modified",
    ),
    _dated_v3(
        "customers",
        "/v3/customers",
        sort={"sort": "date_modified:asc"},
        legacy="/v2/customers",
        passthrough=("email:in", "company:in", "customer_group_id:in", "name:in", "include"),
        description="Customers (v3)",
        # The spec's sort enum has no id: cursor pagination follows the default (id) order.
        keyset="after",
    ),
    _dated_v3(
        "subscribers",
        "/v3/customers/subscribers",
        sort={},
        legacy=None,
        passthrough=("email", "first_name", "last_name", "source", "order_id"),
        description="Newsletter subscribers (v3; the spec offers no sort)",
    ),
    _dated_v3(
        "pricelists",
        "/v3/pricelists",
        sort={},
        legacy=None,
        passthrough=("name", "name:like"),
        description="Price lists (v3; the spec offers no sort)",
        keyset="after",
    ),
    CatalogEntry(
        name="categories",
        hub="ecommerce",
        api="v3",
        path="/v3/catalog/categories",
        filter_param=None,
        filter_format=None,
        sort_params={},
        id_field="id",
        updated_field=None,
        created_field=None,
        record_date_format=None,
        legacy_v2_path="/v2/categories",
        passthrough_params=("parent_id", "is_visible", "name", "keyword"),
        description="Catalog categories (v3; records carry no dates, so no date filter)",
        keyset="id:greater",
        keyset_sort={"sort": "id"},
    ),
    CatalogEntry(
        name="brands",
        hub="ecommerce",
        api="v3",
        path="/v3/catalog/brands",
        filter_param=None,
        filter_format=None,
        sort_params={},
        id_field="id",
        updated_field=None,
        created_field=None,
        record_date_format=None,
        legacy_v2_path="/v2/brands",
        passthrough_params=("name", "page_title"),
        description="Catalog brands (v3; records carry no dates, so no date filter)",
        keyset="id:greater",
        # The spec sorts brands by name only: the default order (by id) is used.
    ),
)

CATALOG: dict[str, CatalogEntry] = {entry.name: entry for entry in _ENTRIES}


def available() -> str:
    """The hub paths of every catalog resource, for error messages."""
    return ", ".join(entry.hub_path for entry in _ENTRIES)


def get_entry(name: str, hub: str | None = None) -> CatalogEntry:
    entry = CATALOG.get(name)
    if entry is None or (hub is not None and entry.hub != hub):
        shown = f"/hubs/{hub}/{name}" if hub else name
        raise ConfigError(f"unknown resource {shown}; available resources: {available()}")
    return entry
